"""The largest-deviation check on counts as a packing, decided by a depth-first search of our own.

Under the one-receiver rule, "can every participant stay within D units of its target?" asks for counts
n[t, r] of interchangeable givers of each type t at each receiver r such that
- every type places between its `must` and all of its givers (a giver whose target is at most D may stay
  unplaced; one with a binding agreement may not);
- each receiver's group can give an amount within D of its target: the sum of its givers' least amounts
  is at most its most, and the sum of their largest amounts at least its least.
This is `problem.type_count_problem` without the solver: both are built from `windows`, so they ask the same.

The search takes the receivers one by one (the smallest rooms first: their groups are the fewest) and tries
every group that fits the receiver with what is left, the largest counts first. What is left after a receiver
that led nowhere is remembered, as is the group before it where two receivers are alike (their groups are
then taken in non-increasing order, which loses no packing). Two bounds cut a branch: the givers that must
still be placed need at least their least amounts in the rooms left, and the receivers left need at least
their least from the givers left. It is exact: a packing is found or none exists, unless it stops at its
limit of nodes (then CP-SAT decides). On the national sample it refutes D = 1 in a few hundred nodes where
CP-SAT needs 0.1 s, most of it presolve.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from solver.redistribute.construct import member
from solver.redistribute.targets import Market, Setup


@dataclass(frozen=True)
class Packing:
    receivers: tuple[str, ...]  # in the search's order
    counts: tuple[int, ...]  # givers of each type (types in the order of `types`)
    must: tuple[int, ...]  # givers of each type that must be placed
    windows: tuple[tuple[tuple[int, int] | None, ...], ...]  # [type][receiver]: a giver's least and most there
    # (None: not an allowed pair; least > most: it cannot come within the limit of its target there)
    rooms: tuple[tuple[int, int], ...]  # [receiver]: the least and most its group may give


class Exhausted(Exception):
    """The search reached its limit of nodes."""

    def __init__(self, nodes: int):
        super().__init__(f"the packing search stopped after {nodes} nodes")
        self.nodes = nodes


def windows(setup: Setup, market: Market, types: dict[tuple, list[str]], limit: int) -> Packing:
    """The check of `limit` for the giver types `types` (construct.giver_types), receivers in code order."""
    policy = setup.policy
    rooms = {r.code: r for r in market.receivers}
    codes = tuple(r.code for r in market.receivers)
    column = {code: i for i, code in enumerate(codes)}
    counts, must, table = [], [], []
    for key, members in types.items():
        target, effective, allowed, bound = key[:4]
        row: list[tuple[int, int] | None] = [None] * len(codes)
        for r in allowed:
            row[column[r]] = member(members[0], target, effective, rooms[r].effective, policy, bound).window(limit)
        counts.append(len(members))
        must.append(len(members) if target > limit or bound else 0)
        table.append(tuple(row))
    spans = tuple((rooms[c].target - limit, min(rooms[c].effective, rooms[c].target + limit)) for c in codes)
    return Packing(codes, tuple(counts), tuple(must), tuple(table), spans)


DEEPEST = 800  # receivers and types together: the search recurses once per receiver, and its groups once per
# type, so a larger market could pass Python's recursion limit (1,000); CP-SAT decides it


def search(packing: Packing, nodes: int) -> tuple[dict[tuple[int, str], int] | None, int]:
    """A packing as counts {(type index, receiver): n}, or None where none exists; and the nodes it took.
    Raises Exhausted after `nodes` nodes, or at once where the market has more than DEEPEST receivers and
    types together."""
    if len(packing.receivers) + len(packing.counts) > DEEPEST:
        raise Exhausted(0)
    order = sorted(range(len(packing.receivers)), key=lambda i: (packing.rooms[i][1], packing.receivers[i]))
    found, used = _Search(packing, order, nodes).run()
    if found is None:
        return None, used
    return {(t, packing.receivers[order[i]]): n for i, group in enumerate(found) for t, n in enumerate(group)
            if n}, used


def _open(window: tuple[int, int] | None) -> tuple[int, int] | None:
    """The window of a pair a giver may go to (None: it may not)."""
    return window if window is not None and window[0] <= window[1] else None


class _Search:
    def __init__(self, packing: Packing, order: list[int], nodes: int):
        self.limit = nodes
        self.nodes = 0
        types = range(len(packing.counts))
        self.types = types
        self.counts = packing.counts
        self.free = [c - m for c, m in zip(packing.counts, packing.must)]
        self.windows = [[_open(packing.windows[t][r]) for t in types] for r in order]
        self.rooms = [packing.rooms[r] for r in order]
        size = len(order)
        # alike: the same room and the same windows as the receiver before it
        self.alike = [i > 0 and self.rooms[i] == self.rooms[i - 1] and self.windows[i] == self.windows[i - 1]
                      for i in range(size)]
        # for the bounds: over the receivers from i on, each type's least low and largest high, and the rooms
        self.least: list[list[int | None]] = [[None] * len(types) for _ in range(size + 1)]
        self.most = [[0] * len(types) for _ in range(size + 1)]
        self.tops = [0] * (size + 1)
        self.bottoms = [0] * (size + 1)
        for i in range(size - 1, -1, -1):
            self.tops[i] = self.tops[i + 1] + self.rooms[i][1]
            self.bottoms[i] = self.bottoms[i + 1] + max(0, self.rooms[i][0])
            for t in types:
                w, later = self.windows[i][t], self.least[i + 1][t]
                self.least[i][t] = later if w is None else w[0] if later is None else min(later, w[0])
                self.most[i][t] = max(self.most[i + 1][t], 0 if w is None else w[1])
        self.failed: set[tuple] = set()

    def run(self) -> tuple[list[tuple[int, ...]] | None, int]:
        return self.place(0, tuple(self.counts), None), self.nodes

    def step(self) -> None:
        self.nodes += 1
        if self.nodes > self.limit:
            raise Exhausted(self.nodes)

    def hopeless(self, i: int, left: tuple[int, ...]) -> bool:
        need_room = reach = 0
        for t in self.types:
            need = left[t] - self.free[t]
            if need > 0:
                least = self.least[i][t]
                if least is None:
                    return True
                need_room += need * least
            reach += left[t] * self.most[i][t]
        return need_room > self.tops[i] or reach < self.bottoms[i]

    def place(self, i: int, left: tuple[int, ...], before: tuple[int, ...] | None) -> list[tuple[int, ...]] | None:
        if i == len(self.rooms):
            return [] if all(n <= f for n, f in zip(left, self.free)) else None
        key = (i, left, before) if self.alike[i] else (i, left)
        if key in self.failed or self.hopeless(i, left):
            return None
        self.step()
        for group in self.groups(i, left, before if self.alike[i] else None):
            self.step()
            rest = self.place(i + 1, tuple(n - g for n, g in zip(left, group)), group)
            if rest is not None:
                return [group, *rest]
        self.failed.add(key)
        return None

    def groups(self, i: int, left: tuple[int, ...], cap: tuple[int, ...] | None) -> Iterator[tuple[int, ...]]:
        """Every group that fits receiver i with the givers `left`, the largest counts first (in type order),
        none greater than `cap`."""
        bottom, top = self.rooms[i]
        windows = self.windows[i]
        size = len(left)
        # the most the types from t on can add to the group's largest amount: a group short of the bottom
        # even with all of them is cut early
        reach = [0] * (size + 1)
        for t in range(size - 1, -1, -1):
            w = windows[t]
            reach[t] = reach[t + 1] + (left[t] * w[1] if w is not None else 0)
        group = [0] * size

        def extend(t: int, low: int, high: int, tight: bool) -> Iterator[tuple[int, ...]]:
            if high + reach[t] < bottom:
                return
            if t == size:
                yield tuple(group)
                return
            w = windows[t]
            if w is None or left[t] == 0:
                group[t] = 0
                yield from extend(t + 1, low, high, tight and cap is not None and cap[t] == 0)
                return
            most = left[t] if w[0] == 0 else min(left[t], (top - low) // w[0])
            if tight and cap is not None:
                most = min(most, cap[t])
            for n in range(most, -1, -1):
                group[t] = n
                yield from extend(t + 1, low + n * w[0], high + n * w[1], tight and cap is not None and n == cap[t])
            group[t] = 0

        yield from extend(0, 0, 0, cap is not None)
