"""A CP-SAT model written on its proto, with expressions as index -> coefficient maps (the exact core's models:
leximin.py, later.py)."""

from __future__ import annotations

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
