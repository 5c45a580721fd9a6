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
limit of nodes (then CP-SAT decides). A node is a state the search enters or a group it tries (each a pass over
the types, so charged one node per type) or a partial group it builds, so that a node costs about the same on any
market. On the national sample it refutes D = 1 in a few thousand nodes where CP-SAT needs 0.1 s, most of it
presolve.
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


@dataclass(frozen=True)
class Reach:
    """A second question of a packing: besides every window, at least `need` participants reach an amount of their
    own. A giver of type t placed with a group reaches it with `extra[t]` units beyond its least (None: never); a
    receiver's group reaches it with a total of at least `totals[r]`."""

    extra: tuple[int | None, ...]  # [type]
    totals: tuple[int, ...]  # [receiver], in the packing's order of receivers
    need: int


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


def search(packing: Packing, nodes: int, reach: Reach | None = None) -> tuple[dict[tuple[int, str], int] | None, int]:
    """A packing as counts {(type index, receiver): n}, or None where none exists; and the nodes it took.
    With `reach`, a packing where at least `reach.need` participants can reach their amounts (see `gain`).
    Raises Exhausted after `nodes` nodes, or at once where the market has more than DEEPEST receivers and
    types together."""
    if len(packing.receivers) + len(packing.counts) > DEEPEST:
        raise Exhausted(0)
    if reach is not None and reach.need > 0:
        can = sum(n for n, e in zip(packing.counts, reach.extra) if e is not None)
        can += sum(1 for total, (_, top) in zip(reach.totals, packing.rooms) if total <= top)
        if reach.need > can:
            return None, 0
        if reach.need == can:  # every participant that can reach its amount must: a packing of those amounts
            packing, reach = raised(packing, reach), None
    order = sorted(range(len(packing.receivers)), key=lambda i: (packing.rooms[i][1], packing.receivers[i]))
    found, used = _Search(packing, order, nodes, reach).run()
    if found is None:
        return None, used
    return {(t, packing.receivers[order[i]]): n for i, group in enumerate(found) for t, n in enumerate(group)
            if n}, used


def raised(packing: Packing, reach: Reach) -> Packing:
    """The packing where every participant that can reach its amount of `reach` does: those givers placed with
    their least raised by their extra units, those receivers' groups giving at least their amounts."""
    windows = tuple(tuple(None if w is None else (w[0] + extra, w[1]) if extra is not None else w for w in row)
                    for row, extra in zip(packing.windows, reach.extra))
    must = tuple(n if extra is not None else m for n, m, extra in zip(packing.counts, packing.must, reach.extra))
    rooms = tuple((max(bottom, total) if total <= top else bottom, top)
                  for (bottom, top), total in zip(packing.rooms, reach.totals))
    return Packing(packing.receivers, packing.counts, must, windows, rooms)


def _open(window: tuple[int, int] | None) -> tuple[int, int] | None:
    """The window of a pair a giver may go to (None: it may not)."""
    return window if window is not None and window[0] <= window[1] else None


class _Search:
    def __init__(self, packing: Packing, order: list[int], nodes: int, reach: Reach | None = None):
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
        # the fewest givers each receiver's group needs to reach its least (the largest amounts first), summed
        # over the receivers from i on: a giver joins one group, so fewer givers left than that is hopeless
        self.fewest = [0] * (size + 1)
        for i in range(size - 1, -1, -1):
            self.fewest[i] = self.fewest[i + 1] + self._fewest(i)
        # the second question: each type's extra units (the cheapest first), each receiver's total, and over the
        # receivers from i on, how many of them can reach theirs at all (with every giver that can, a bound)
        self.need = 0 if reach is None else reach.need
        extra = [None] * len(types) if reach is None else list(reach.extra)
        self.cheapest = sorted(((e, t) for t, e in enumerate(extra) if e is not None))  # (extra units, type)
        self.totals = [top + 1 for _, top in self.rooms] if reach is None else [reach.totals[r] for r in order]
        self.reachable = [0] * (size + 1)
        for i in range(size - 1, -1, -1):
            self.reachable[i] = self.reachable[i + 1] + (self.totals[i] <= self.rooms[i][1])
        self.failed: dict[tuple, int] = {}  # a state that failed: the least need it failed with (0: none asked)

    def gain(self, i: int, group: tuple[int, ...]) -> int:
        """How many of the group's participants (its givers and receiver i) can reach their amounts of the second
        question together. The group can give any total from its givers' least amounts to the least of their
        offers and the room, and every participant is better off with more, so it gives that largest total T:
        the receiver reaches its amount if T does, and the units beyond the givers' least go to the givers that
        need the fewest to reach theirs."""
        windows = self.windows[i]
        low = high = 0
        for t, n in enumerate(group):
            w = windows[t]
            if n and w is not None:
                low, high = low + n * w[0], high + n * w[1]
        total = min(high, self.rooms[i][1])
        return int(total >= self.totals[i]) + self.cheapest_first(group, total - low)

    def cheapest_first(self, counts: tuple[int, ...], spare: int) -> int:
        """How many of the givers `counts` (by type) reach their amounts with `spare` units beyond their least,
        the givers that need the fewest first."""
        out = 0
        for cost, t in self.cheapest:
            n = counts[t]
            took = n if cost == 0 else min(n, max(0, spare) // cost)
            out += took
            spare -= took * cost
            if took < n:
                break  # the rest need more than is left
        return out

    def givers_reaching(self, i: int, left: tuple[int, ...]) -> int:
        """At most how many of the givers left can reach their amounts in the rooms from i on: the units the rooms
        hold beyond every giver's least (least over those rooms) go to the givers that need the fewest."""
        needed = self.least_total(i, left)
        return 0 if needed is None else self.cheapest_first(left, self.tops[i] - needed)

    def _fewest(self, i: int) -> int:
        bottom = self.rooms[i][0]
        if bottom <= 0:
            return 0
        highs = sorted((w[1] for t, w in zip(self.types, self.windows[i]) if w is not None
                        for _ in range(self.counts[t])), reverse=True)
        total = 0
        for k, high in enumerate(highs, 1):
            total += high
            if total >= bottom:
                return k
        return len(highs) + 1  # not even every giver reaches it: hopeless

    def run(self) -> tuple[list[tuple[int, ...]] | None, int]:
        return self.place(0, tuple(self.counts), None, self.need), self.nodes

    def step(self, nodes: int = 1) -> None:
        self.nodes += nodes
        if self.nodes > self.limit:
            raise Exhausted(self.nodes)

    def least_total(self, i: int, left: tuple[int, ...]) -> int | None:
        """What the givers left that must be placed need of the rooms from i on, each at its least amount there
        (the least over those rooms); None where one of them has no room from i on."""
        total = 0
        for t in self.types:
            need = left[t] - self.free[t]
            if need > 0:
                least = self.least[i][t]
                if least is None:
                    return None
                total += need * least
        return total

    def hopeless(self, i: int, left: tuple[int, ...]) -> bool:
        if sum(left) < self.fewest[i]:
            return True
        needed = self.least_total(i, left)
        reach = sum(n * most for n, most in zip(left, self.most[i]))
        return needed is None or needed > self.tops[i] or reach < self.bottoms[i]

    def deficit(self, i: int, left: tuple[int, ...]) -> tuple[int, list[int]]:
        """What the group before receiver i must take of the givers that must be placed, for the rooms from i on to
        hold the rest at their least amounts: (the least-amount total it must take, the givers of each type that
        must be placed that it may count towards it). A type with no room from i on is taken whole (the count)."""
        total, counts = -self.tops[i], [0] * len(left)
        for t in self.types:
            need = left[t] - self.free[t]
            if need > 0:
                counts[t] = need
                least = self.least[i][t]
                total += need * (least if least is not None else self.tops[i] + 1)
        return total, counts

    def place(self, i: int, left: tuple[int, ...], before: tuple[int, ...] | None,
              need: int) -> list[tuple[int, ...]] | None:
        """The groups of receivers i, … that place the givers `left` with at least `need` participants reaching the
        second question's amounts (0: no such question), or None."""
        if i == len(self.rooms):
            return [] if need <= 0 and all(n <= f for n, f in zip(left, self.free)) else None
        key = (i, left, before) if self.alike[i] else (i, left)
        failed = self.failed.get(key)
        if (failed is not None and need >= failed) or self.hopeless(i, left):
            return None
        if need > 0 and need > self.reachable[i] + self.givers_reaching(i, left):
            return None
        passes = len(self.counts)  # a state's bounds, and each group tried, take a pass over the types
        self.step(passes)
        for group in self.groups(i, left, before if self.alike[i] else None, self.deficit(i + 1, left)):
            self.step(passes)
            rest = self.place(i + 1, tuple(n - g for n, g in zip(left, group)), group,
                              need - self.gain(i, group) if need > 0 else 0)
            if rest is not None:
                return [group, *rest]
        self.failed[key] = need if failed is None else min(need, failed)
        return None

    def groups(self, i: int, left: tuple[int, ...], cap: tuple[int, ...] | None,
               deficit: tuple[int, list[int]]) -> Iterator[tuple[int, ...]]:
        """Every group that fits receiver i with the givers `left`, the largest counts first (in type order),
        none greater than `cap`, that takes at least the `deficit` (`deficit`) of the givers that must be placed."""
        bottom, top = self.rooms[i]
        windows = self.windows[i]
        size = len(left)
        due, musts = deficit
        later = self.least[i + 1]
        # the most the types from t on can add to the group's largest amount, and to what it takes of the deficit:
        # a group short of the bottom or of the deficit even with all of them is cut early (the deficit is the
        # rooms' waste bound: where every giver must be placed, the rooms left can waste no more than they hold
        # beyond the givers' least amounts)
        reach = [0] * (size + 1)
        takes = [0] * (size + 1)
        worth = [0] * size
        for t in range(size - 1, -1, -1):
            w = windows[t]
            reach[t] = reach[t + 1] + (left[t] * w[1] if w is not None else 0)
            least = later[t]
            worth[t] = least if least is not None else self.tops[i + 1] + 1
            takes[t] = takes[t + 1] + (musts[t] * worth[t] if w is not None else 0)
        group = [0] * size
        spare = sum(left) - self.fewest[i + 1]  # the most givers the group may take

        def extend(t: int, low: int, high: int, took: int, count: int, tight: bool) -> Iterator[tuple[int, ...]]:
            self.nodes += 1  # step() written out: this is the search's innermost call
            if self.nodes > self.limit:
                raise Exhausted(self.nodes)
            if high + reach[t] < bottom or took + takes[t] < due:
                return
            if t == size:
                yield tuple(group)
                return
            w = windows[t]
            if w is None or left[t] == 0:
                group[t] = 0
                yield from extend(t + 1, low, high, took, count, tight and cap is not None and cap[t] == 0)
                return
            most = min(left[t], spare - count) if w[0] == 0 else min(left[t], (top - low) // w[0], spare - count)
            if tight and cap is not None:
                most = min(most, cap[t])
            for n in range(most, -1, -1):
                gain = min(n, musts[t]) * worth[t]
                if took + gain + takes[t + 1] < due:
                    break  # fewer of this type take even less of the deficit
                group[t] = n
                yield from extend(t + 1, low + n * w[0], high + n * w[1], took + gain, count + n,
                                  tight and cap is not None and n == cap[t])
            group[t] = 0

        yield from extend(0, 0, 0, 0, 0, cap is not None)
