"""A local search for the weighted mode under the one-receiver rule: a good table to start the solver from.

The weighted objective is a sum of one term per giver (its amount's unmet, unequal and population parts,
plus its transfer and cross-county counts) and one per receiver (the same parts of its total). Once it is
fixed which givers go to a receiver, the best amounts follow exactly: every term is convex and piecewise
linear in whole units, so the givers' least cost of a total is their unit steps merged in order of cost,
and the best total is where that cost plus the receiver's next step stops falling (`Search.group`). The search
moves one giver at a time to the receiver (or to none) that lowers the objective most and swaps two
givers of different receivers; when neither helps, it ejects (a giver joins a receiver and one of that
receiver's givers leaves for another or none). All in code order, until nothing improves or
MAX_GROUP_EVALUATIONS is spent (a count, so the result reproduces). Every cost is the full model's weighted
objective in integers, and the driver checks the table and its value against the model before using it.

The search runs compiled (kernel.py, numba, imported at the first search so that the default mode never loads
numba) on the same steps in int64, when every sum it can form fits and the givers fit the bits of a mask
(`Search._search_arrays`), else in Python's integers. `Search.run_python` and `Search.group_cost_python` are
the references the tests compare the kernels with: the same changes, the same evaluations counted.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from solver.redistribute.construct import bound, member
from solver.redistribute.problem import weighted_coefficients
from solver.redistribute.targets import Market, Setup

MAX_PASSES = 20
MAX_GROUP_EVALUATIONS = 20_000
UNPLACED = ""


@dataclass(frozen=True)
class Costs:
    """Integer coefficients of the weighted objective (problem.weighted_coefficients), and P."""

    unmet: int
    unequal: int
    population: int
    cross: int
    transfer: int
    scale_p: int

    @classmethod
    def of(cls, setup: Setup) -> Costs:
        scale_p = setup.pop_scale[0]
        c = weighted_coefficients(setup.policy, scale_p)
        return cls(c["unmet"], c["unequal"], c["population"], c["cross_county"], c["transfers"], scale_p)


def _term(c: Costs, moved: int, target: int, offset: int, sign: int) -> int:
    """A participant's unmet, unequal and population parts when it moves `moved` units; its population term
    is |offset + sign·P·moved| (sign −1 for a giver, +1 for a receiver)."""
    return -c.unmet * moved + c.unequal * abs(moved - target) + c.population * abs(offset + sign * c.scale_p * moved)


def _steps(cost, low: int, high: int, kinks: list[int]) -> list[tuple[int, int]]:
    """(cost of one more unit, how many units) from `low` to `high` for a convex piecewise-linear `cost`
    whose unit steps change only at `kinks`; the steps rise, because the cost is convex."""
    points = sorted({low, high, *(k for k in kinks if low < k < high)})
    return [(cost(a + 1) - cost(a), b - a) for a, b in zip(points, points[1:])]


class Search:
    """One market's local search: the costs of the weighted objective, and the groups evaluated so far."""

    def __init__(self, setup: Setup, market: Market):
        self.c = Costs.of(setup)
        policy = setup.policy
        self.givers = {g.code: g for g in market.givers}
        self.receivers = {r.code: r for r in market.receivers}
        self.allowed = market.receivers_of()
        self.bound = {g.code for g in market.givers if bound(g, policy)}  # givers held by a binding agreement
        self.offset = {p.code: setup.population_offset(p.code) for p in market.givers + market.receivers}
        self.window: dict[tuple[str, str], tuple[int, int]] = {}
        for g, r in market.pairs:
            giver = self.givers[g]
            m = member(g, giver.target, giver.effective, self.receivers[r].effective, policy, g in self.bound)
            if m.low <= m.high:
                self.window[g, r] = (m.low, m.high)
        self.cross = {(g, r): self.givers[g].county != self.receivers[r].county for g, r in market.pairs}
        self.evaluations = 0
        self._codes = sorted(self.givers)  # a giver's index is its place in code order
        self._pairs: dict[tuple[str, str], tuple[int, list[tuple[int, str, int]]]] = {}
        self._rooms: dict[str, tuple[list[int], list[int]]] = {}
        self._arrays: tuple | None | bool = False  # the compiled kernel's data, None when it cannot be used
        self._largest = 0  # a bound on every sum the kernels form (set with the arrays)

    def giver_cost(self, g: str, amount: int) -> int:
        giver = self.givers[g]
        return _term(self.c, amount, giver.target, self.offset[g], -1)

    def receiver_cost(self, r: str, total: int) -> int:
        room = self.receivers[r]
        return _term(self.c, total, room.target, self.offset[r], 1)

    def unplaced(self, g: str) -> int:
        return self.giver_cost(g, 0)

    def _kinks(self, target: int, offset: int, sign: int) -> list[int]:
        point = -sign * offset // self.c.scale_p  # where the population term turns
        return [target, point, point + 1]

    def room(self, r: str) -> tuple[list[int], list[int]]:
        """A receiver's unit steps from 0 to its room: where each run of equal steps ends, and their cost."""
        if r not in self._rooms:
            room = self.receivers[r]
            ends, units, at = [], [], 0
            for unit, length in _steps(lambda v: self.receiver_cost(r, v), 0, room.effective,
                                       self._kinks(room.target, self.offset[r], 1)):
                at += length
                ends.append(at)
                units.append(unit)
            self._rooms[r] = (ends, units)
        return self._rooms[r]

    def pair(self, g: str, r: str) -> tuple[int, list[tuple[int, str, int]]]:
        """A giver's cost at a receiver when it gives its least, and its unit steps from there on."""
        if (g, r) not in self._pairs:
            low, high = self.window[g, r]
            fixed = self.giver_cost(g, low) + self.c.transfer + (self.c.cross if self.cross[g, r] else 0)
            steps = _steps(lambda a: self.giver_cost(g, a), low, high,
                           self._kinks(self.givers[g].target, self.offset[g], -1))
            self._pairs[g, r] = (fixed, [(unit, g, length) for unit, length in steps])
        return self._pairs[g, r]

    def group(self, r: str, members: tuple[str, ...]) -> tuple[int, dict[str, int]]:
        """The least cost of receiver r with these givers, and their amounts (cost INFINITE when they cannot
        all fit: the smallest transfers overflow the room)."""
        amounts = {g: self.window[g, r][0] for g in members}
        return self.group_cost_python(r, members, amounts), amounts

    def group_cost(self, r: str, indices: list[int]) -> int:
        """The least cost of receiver r with the givers of these indices (ascending: code order), as `group`;
        one evaluation of the search's count."""
        self.evaluations += 1
        arrays = self._compiled()
        if arrays is None:
            return self.group_cost_python(r, tuple(self._codes[i] for i in indices))
        import numpy as np

        from solver.redistribute.kernel import group_cost

        receiver_index, data = arrays
        value, fits = group_cost(receiver_index[r], np.array(indices, np.int64), *data)
        return int(value) if fits else INFINITE

    def group_cost_python(self, r: str, members: tuple[str, ...], amounts: dict[str, int] | None = None) -> int:
        """`group_cost` in Python's integers: the smallest amounts, then the unit steps that pay, cheapest first
        (`amounts`, when given, holds each giver's smallest amount and is raised to its best)."""
        window = self.window
        total = sum(window[g, r][0] for g in members)
        if total > self.receivers[r].effective:
            return INFINITE
        cost = self.receiver_cost(r, total)
        steps: list[tuple[int, str, int]] = []
        pairs = self._pairs
        for g in members:
            fixed, own = pairs[g, r] if (g, r) in pairs else self.pair(g, r)
            cost += fixed
            steps += own
        steps.sort()  # cheapest first; equal steps go to the lower code
        ends, units = self.room(r)
        i = bisect.bisect_right(ends, total)  # the receiver's step from `total` on is units[i], up to ends[i]
        last = len(ends)
        for unit, g, length in steps:
            while length and i < last:
                step = unit + units[i]
                if step >= 0:
                    break  # both sides' steps only rise from here: no later step pays either
                take = min(length, ends[i] - total)
                cost += take * step
                total += take
                if amounts is not None:
                    amounts[g] += take
                length -= take
                if total == ends[i]:
                    i += 1
            if length or i == last:
                break  # a step that no longer pays, or a full room
        return cost

    def _compiled(self) -> tuple | None:
        """The kernel's arrays (built at the first evaluation), or None when a sum could leave int64: every
        giver's and receiver's largest cost and step, added up, must stay below 2⁶²."""
        if self._arrays is not False:
            return self._arrays  # type: ignore[return-value]
        import numpy as np

        givers, receivers = self._codes, sorted(self.receivers)
        index = {g: i for i, g in enumerate(givers)}
        receiver_index = {r: i for i, r in enumerate(receivers)}
        pairs = {key: self.pair(*key) for key in sorted(self.window)}
        rooms = {r: self.room(r) for r in receivers}
        width = max([len(steps) for _, steps in pairs.values()] + [len(ends) for ends, _ in rooms.values()] + [1])
        c = self.c
        largest = c.unmet + c.unequal + c.population * c.scale_p  # the coefficients themselves
        for fixed, steps in pairs.values():
            largest += abs(fixed) + sum(abs(unit) * length for unit, _, length in steps)
        for r in receivers:
            room = self.receivers[r]
            ends, units = rooms[r]
            largest += (c.unmet * room.effective + c.unequal * (room.effective + room.target)
                        + c.population * (abs(self.offset[r]) + c.scale_p * room.effective)
                        + sum(abs(u) * e for u, e in zip(units, ends)))
        self._largest = largest
        if largest >= 2**62:
            self._arrays = None
            return None
        shape = (len(givers), len(receivers))
        low, fixed_cost, count = (np.zeros(shape, np.int64) for _ in range(3))
        unit, length = np.zeros((*shape, width), np.int64), np.zeros((*shape, width), np.int64)
        for (g, r), (fixed, steps) in pairs.items():
            i, j = index[g], receiver_index[r]
            low[i, j], fixed_cost[i, j], count[i, j] = self.window[g, r][0], fixed, len(steps)
            for k, (u, _, run) in enumerate(steps):
                unit[i, j, k], length[i, j, k] = u, run
        ends_at, unit_at = np.zeros((len(receivers), width), np.int64), np.zeros((len(receivers), width), np.int64)
        runs = np.zeros(len(receivers), np.int64)
        for j, r in enumerate(receivers):
            ends, units = rooms[r]
            runs[j] = len(ends)
            ends_at[j, :len(ends)], unit_at[j, :len(units)] = ends, units
        room_of = np.array([self.receivers[r].effective for r in receivers], np.int64)
        target = np.array([self.receivers[r].target for r in receivers], np.int64)
        offset = np.array([self.offset[r] for r in receivers], np.int64)
        self._arrays = (receiver_index, (low, fixed_cost, count, unit, length, room_of, ends_at, unit_at, runs,
                                         target, offset, c.unmet, c.unequal, c.population, c.scale_p))
        return self._arrays

    def table(self, sigma: dict[str, str]) -> tuple[int, dict[tuple[str, str], int]]:
        """The objective of an assignment and its flows."""
        value = sum(self.unplaced(g) for g in self.givers if sigma.get(g, UNPLACED) == UNPLACED)
        flows: dict[tuple[str, str], int] = {}
        for r, members in self._groups(sigma).items():
            cost, amounts = self.group(r, members)
            value += cost
            flows.update({(g, r): a for g, a in amounts.items()})
        return value, flows

    def _groups(self, sigma: dict[str, str]) -> dict[str, tuple[str, ...]]:
        groups: dict[str, list[str]] = {r: [] for r in self.receivers}
        for g, r in sigma.items():
            if r != UNPLACED:
                groups[r].append(g)
        return {r: tuple(sorted(members)) for r, members in groups.items()}

    def run(self, sigma: dict[str, str], limit: int = MAX_GROUP_EVALUATIONS, compiled: bool = True) -> dict[str, str]:
        """Improve an assignment by moves, swaps and then ejections until nothing improves or more than `limit`
        groups have been evaluated: by the compiled kernel where it applies (`_search_arrays`), else in Python
        (`run_python`, the reference; both make the same changes and count the same evaluations)."""
        sigma = self.start(sigma)
        arrays = self._search_arrays(sigma) if compiled else None
        if arrays is None:
            return self.run_python(sigma, limit)
        import numpy as np

        from solver.redistribute.kernel import search

        index, data = self._compiled()  # type: ignore[misc]
        receivers = sorted(index, key=index.__getitem__)
        placed = np.array([index.get(sigma[g], -1) for g in self._codes], np.int64)
        # the cache must hold every group evaluated: up to the limit, plus what one step past it evaluates (a
        # giver's joins and its group's change), plus each giver's leave in the ejection pass that crosses it
        most = limit + 2 * len(self._codes) + 2 * len(receivers) + 16
        slots = 1 << (2 * most).bit_length()
        try:
            evaluations = search(placed, *arrays, MAX_PASSES, limit, self.evaluations, slots, data)  # type: ignore[call-arg]
        except ValueError:  # the cache filled after all: the Python search decides
            return self.run_python(sigma, limit)
        self.evaluations = int(evaluations)
        return {g: UNPLACED if j < 0 else receivers[j] for g, j in zip(self._codes, placed.tolist())}

    def start(self, sigma: dict[str, str]) -> dict[str, str]:
        """Every giver in code order, at its receiver in `sigma` where it has a window there (else unplaced), and
        a giver held by a binding agreement at its partner."""
        sigma = {g: sigma[g] if (g, sigma.get(g)) in self.window else UNPLACED for g in self._codes}
        for g, giver in self.givers.items():
            if g in self.bound and (g, giver.partner) in self.window:
                sigma[g] = giver.partner  # type: ignore[assignment]
        return sigma

    def _search_arrays(self, sigma: dict[str, str]) -> tuple | None:
        """The compiled search's arrays (options in the order `run_python` tries them, windows, agreements, the
        cost of each giver unplaced), or None where it does not apply: more givers than bits in an int64 mask,
        sums that could come near the kernel's INFEASIBLE (2⁶²), or a start whose groups do not fit (a binding
        agreement that overflows its partner: only the Python's unbounded integers price that the same way)."""
        import numpy as np

        if len(self._codes) > 62 or self._compiled() is None:
            return None
        unplaced = [self.unplaced(g) for g in self._codes]
        if self._largest + sum(abs(u) for u in unplaced) >= 2**58:
            return None
        for r, members in self._groups(sigma).items():
            if sum(self.window[g, r][0] for g in members) > self.receivers[r].effective:
                return None
        index = self._compiled()[0]  # type: ignore[index]
        receivers = sorted(index, key=index.__getitem__)
        shape = (len(self._codes), len(receivers))
        options = np.full((shape[0], shape[1] + 1), -1, np.int64)
        option_count = np.zeros(shape[0], np.int64)
        window, bound = np.zeros(shape, np.bool_), np.zeros(shape[0], np.bool_)
        for i, g in enumerate(self._codes):
            choices = self._options(g)
            option_count[i] = len(choices)
            options[i, :len(choices)] = [index.get(r, -1) for r in choices]
            bound[i] = g in self.bound
            for r in receivers:
                window[i, index[r]] = (g, r) in self.window
        return options, option_count, window, bound, np.array(unplaced, np.int64)

    def _options(self, g: str) -> list[str]:
        """Where a giver may go: its allowed receivers with a window, or nowhere (unless it is bound)."""
        out = [r for r in self.allowed.get(g, []) if (g, r) in self.window]
        return out + ([] if g in self.bound else [UNPLACED])

    def run_python(self, sigma: dict[str, str], limit: int = MAX_GROUP_EVALUATIONS) -> dict[str, str]:
        """`run` in Python (the reference for the compiled kernel.search): `sigma` holds every giver in code order."""
        sigma = dict(sigma)
        # a group is a bit mask over the givers in code order: its members, in code order, are its set bits
        codes = self._codes
        bit = {g: 1 << i for i, g in enumerate(codes)}
        groups = {r: sum(bit[g] for g in members) for r, members in self._groups(sigma).items()}
        known: dict[str, dict[int, int]] = {r: {} for r in self.receivers}  # group costs by mask

        def cost_of(r: str, mask: int) -> int:
            if r == UNPLACED:
                return 0
            seen = known[r]
            if mask not in seen:
                indices = []
                rest = mask
                while rest:
                    low = rest & -rest
                    indices.append(low.bit_length() - 1)
                    rest ^= low
                seen[mask] = self.group_cost(r, indices)
            return seen[mask]

        def delta(changes: dict[str, str]) -> int:
            """The change of the objective if each giver in `changes` moves to its new receiver."""
            after = {r: groups[r] for g in changes for r in (sigma[g], changes[g]) if r != UNPLACED}
            before = sum(cost_of(r, mask) for r, mask in after.items())
            loose = 0
            for g, r in changes.items():
                if sigma[g] != UNPLACED:
                    after[sigma[g]] &= ~bit[g]
                else:
                    loose -= self.unplaced(g)
                if r != UNPLACED:
                    after[r] |= bit[g]
                else:
                    loose += self.unplaced(g)
            return sum(cost_of(r, mask) for r, mask in after.items()) - before + loose

        def apply(changes: dict[str, str]) -> None:
            for g, r in changes.items():
                if sigma[g] != UNPLACED:
                    groups[sigma[g]] &= ~bit[g]
                if r != UNPLACED:
                    groups[r] |= bit[g]
                sigma[g] = r

        options = self._options

        def ejections() -> bool:
            """g joins r2 and a giver h of r2 leaves it for r3 (another receiver, or none): for each g in code
            order, the first h (in code order) whose best r3 lowers the objective. The three groups touched
            differ, so the change is the sum of three parts, each remembered until a move is made."""
            joins: dict[tuple[str, str], int] = {}  # (giver, receiver): the change if the giver joins it

            def join(h: str, r: str) -> int:
                if (h, r) not in joins:
                    joins[h, r] = (self.unplaced(h) if r == UNPLACED
                                   else cost_of(r, groups[r] | bit[h]) - cost_of(r, groups[r]))
                return joins[h, r]

            improved = False
            for g in sigma:
                source = sigma[g]
                leave = (-self.unplaced(g) if source == UNPLACED
                         else cost_of(source, groups[source] & ~bit[g]) - cost_of(source, groups[source]))
                found = None
                for r2 in options(g):
                    if found or r2 in (source, UNPLACED):
                        continue
                    for h in [c for c in codes if groups[r2] & bit[c]]:
                        if found or self.evaluations > limit:
                            break
                        # r3 == source would be a swap, tried already
                        targets = [r3 for r3 in options(h) if r3 not in (r2, source)]
                        if not targets:
                            continue
                        r3 = min(targets, key=lambda r: join(h, r))  # the first of equal ones
                        change = cost_of(r2, (groups[r2] & ~bit[h]) | bit[g]) - cost_of(r2, groups[r2])
                        if leave + change + join(h, r3) < 0:
                            found = {g: r2, h: r3}
                if found:
                    apply(found)
                    joins.clear()
                    improved = True
            return improved

        for _ in range(MAX_PASSES):
            improved = False
            for g in sigma:
                best, best_delta = None, 0
                for r in options(g):
                    if r == sigma[g] or self.evaluations > limit:
                        continue
                    d = delta({g: r})
                    if d < best_delta:
                        best, best_delta = r, d
                if best is not None:
                    apply({g: best})
                    improved = True
            for i, g1 in enumerate(codes):
                for g2 in codes[i + 1:]:
                    r1, r2 = sigma[g1], sigma[g2]
                    if r1 == r2 or self.evaluations > limit:
                        continue
                    if (r2 != UNPLACED and (g1, r2) not in self.window) or (r1 != UNPLACED and (g2, r1) not in self.window):
                        continue
                    if UNPLACED in (r1, r2) and (g1 in self.bound or g2 in self.bound):
                        continue
                    if delta({g1: r2, g2: r1}) < 0:
                        apply({g1: r2, g2: r1})
                        improved = True
            if not improved:  # the larger neighbourhood only when moves and swaps are done
                improved = ejections()
            if not improved or self.evaluations > limit:
                break
        return sigma


INFINITE = 10**30  # the cost of givers whose smallest transfers overflow the room (far above any real cost)


def improve(setup: Setup, market: Market,
            flows: dict[tuple[str, str], int]) -> tuple[int, dict[tuple[str, str], int]] | None:
    """The local search's table from a starting table, and its weighted objective (the full model's); None
    when binding agreements cannot be kept (the request is infeasible, which the solver diagnoses)."""
    search = Search(setup, market)
    if any((g.code, g.partner) not in search.window for g in market.givers if g.code in search.bound):
        return None
    start = {g: r for (g, r), amount in flows.items() if amount > 0}
    value, table = search.table(search.run(start))
    return (value, table) if value < INFINITE // 2 else None  # bound givers that overflow their partner
