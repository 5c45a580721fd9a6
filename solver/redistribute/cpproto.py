"""A CP-SAT model written on its proto, with expressions as index -> coefficient maps (the exact core's models:
coremodel.py, later.py), and the depth-first strategy that the core and the driver's tie-break (cpsat.py) write."""

from __future__ import annotations

from typing import Any

from ortools.sat.python import cp_model

Expr = dict[int, int]  # proto variable index -> coefficient

class Proto:
    """A CP-SAT model written on its proto, with expressions as index -> coefficient maps."""

    def __init__(self) -> None:
        self.model = cp_model.CpModel()

    @property
    def proto(self):  # noqa: ANN201 - the CpModelProto
        return self.model.proto

    def var(self, lb: int, ub: int) -> int:
        v = self.proto.variables.add()
        v.domain.extend([lb, ub])
        return len(self.proto.variables) - 1

    def linear(self, expr: Expr, lo: int, hi: int, enforce: tuple[int, ...] = ()) -> None:
        c = self.proto.constraints.add()
        c.enforcement_literal.extend(enforce)
        items = [(k, v) for k, v in expr.items() if v]
        c.linear.vars.extend(k for k, _ in items)
        c.linear.coeffs.extend(v for _, v in items)
        c.linear.domain.extend([lo, hi])

    def among(self, expr: Expr, values: list[int]) -> None:
        """`expr` takes one of `values` (ascending)."""
        c = self.proto.constraints.add()
        items = [(k, v) for k, v in expr.items() if v]
        c.linear.vars.extend(k for k, _ in items)
        c.linear.coeffs.extend(v for _, v in items)
        spans: list[list[int]] = []
        for v in values:  # runs of consecutive values as one interval: CP-SAT wants them disjoint and apart
            if spans and spans[-1][1] + 1 == v:
                spans[-1][1] = v
            else:
                spans.append([v, v])
        for lo, hi in spans:
            c.linear.domain.extend([lo, hi])

    def copy(self) -> Proto:
        out = Proto()
        out.proto.copy_from(self.proto)
        return out


INF = cp_model.INT_MAX
NINF = cp_model.INT_MIN


def depth_first(proto: Any, order: list[int]) -> None:  # a model's proto (OR-Tools' own wrapper type)
    """Write into a model's `proto` the decision strategy that fixes the variables in `order`, each at its largest
    value first (what CpModel.add_decision_strategy writes, variable by variable)."""
    strategy = proto.search_strategy.add()
    for var in order:
        expr = strategy.exprs.add()
        expr.vars.append(var)
        expr.coeffs.append(1)
    strategy.variable_selection_strategy = cp_model.CHOOSE_FIRST
    strategy.domain_reduction_strategy = cp_model.SELECT_MAX_VALUE
