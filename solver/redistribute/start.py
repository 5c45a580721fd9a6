"""Where the exact core starts: a good packed table and an upper bound on level 1, both without a solver.

Under the one-receiver rule a table is an assignment of givers to receivers, and for a fixed assignment every
receiver's group is independent of the others. The leximin order is separable (replacing part of a multiset
by a better part of the same size makes the whole better), so the best table for an assignment splits each
group by its own leximin: a group whose givers offer no more than the room is served in full, otherwise the
room is full and its units go to the givers by `split`. `assign` searches assignments by local moves, judged by
exactly that order; the core then only has to prove, or improve on, what it finds.

`relaxed` is the leximin vector without the one-receiver rule and with every giver allowed to every receiver:
it has every table of the market, so it is at least as good as the packed optimum, and where a table agrees with
it on the first values, those values are proven (see `leximin.Core.leximin`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction

from solver.redistribute.packing import Packing, Reach

MAX_PASSES = 40  # passes of the local search over all moves; counted, never timed, so the table is deterministic


def split(total: int, wishes: Sequence[int]) -> list[int]:
    """The leximin split of `total` units among `wishes` (each gets at most its wish): the units go one by one
    to the lowest ratio so far, ties to the one whose next unit raises it most, then to the first. Unit k + 1
    of wish w has the key (k/w, −(k+1)/w), so this takes the `total` smallest keys; only keys near total/W need
    sorting, since every key below (total − n)/W is taken and none above total/W is needed."""
    n, whole = len(wishes), sum(wishes)
    if total >= whole:
        return list(wishes)
    if total <= 0:
        return [0] * n
    # units below the window: ⌈(total − n)·w / W⌉ each (never more than the wish)
    x = [min(w, max(0, -((n - total) * w // whole))) for w in wishes]
    keys = [(Fraction(k, w), -Fraction(k + 1, w), i) for i, w in enumerate(wishes)
            for k in range(x[i], min(w, total * w // whole + 1))]
    keys.sort()
    for _, _, i in keys[:total - sum(x)]:
        x[i] += 1
    return x


def relaxed(offers: Sequence[int], rooms: Sequence[int]) -> list[Fraction]:
    """The sorted leximin vector of the market without the one-receiver rule and without pair restrictions:
    the short side is served in full and the long side shares its total by `split`."""
    given, taken = sum(offers), sum(rooms)
    short, long_ = (offers, rooms) if given <= taken else (rooms, offers)
    amounts = split(min(given, taken), long_)
    return sorted([Fraction(1)] * len(short) + [Fraction(a, w) for a, w in zip(amounts, long_, strict=True)])


def _group(room: int, offers: list[int]) -> tuple[list[int], list[float]]:
    """A receiver's group split by its own leximin: the amounts of its givers and the group's ratios (floats:
    every ratio is k/w with w at most 100,000, so distinct ratios differ by far more than a float's error)."""
    total = sum(offers)
    if total <= room:
        return list(offers), sorted([1.0] * len(offers) + [total / room])
    amounts = split(room, offers)
    return amounts, sorted([1.0] + [a / o for a, o in zip(amounts, offers, strict=True)])


def threshold(value: Fraction, offers: Mapping[str, int], rooms: Mapping[str, int],
              allowed: Mapping[str, Sequence[str]]) -> tuple[Packing, list[list[str]]]:
    """"Can every member reach the ratio `value`?" as a packing (LEXIMIN-NOTES point 1): a giver placed at a
    receiver moves between ⌈value·offer⌉ and its offer, a receiver's group between ⌈value·room⌉ and its room.
    Givers alike in offer and allowed receivers are one type; also returned, each type's givers."""
    codes = tuple(sorted(r for r in rooms if rooms[r] > 0))
    types: dict[tuple[int, tuple[str, ...]], list[str]] = defaultdict(list)
    for g in sorted(offers):
        if offers[g] > 0:
            types[offers[g], tuple(r for r in allowed.get(g, ()) if rooms.get(r, 0) > 0)].append(g)
    counts, must, windows = [], [], []
    for (offer, places), group in types.items():
        least = math.ceil(value * offer)
        counts.append(len(group))
        must.append(len(group) if least > 0 else 0)
        windows.append(tuple((least, offer) if r in places else None for r in codes))
    spans = tuple((math.ceil(value * rooms[r]), rooms[r]) for r in codes)
    return Packing(codes, tuple(counts), tuple(must), tuple(windows), spans), list(types.values())


def counted(value: Fraction, offers: Mapping[str, int], rooms: Mapping[str, int], packing: Packing,
            kinds: list[list[str]], amount: Callable[[int], int], need: int) -> Reach:
    """A count for the packing `threshold(value, …)` (its `kinds`): at least `need` members move at least
    `amount(wish)` each, a giver of offer o with amount(o) − ⌈value·o⌉ units beyond its least. A giver whose
    amount no room it may go to holds, or a receiver whose amount its givers cannot bring, never reaches it."""
    extra: list[int | None] = []
    brings = dict.fromkeys(packing.receivers, 0)  # what every giver allowed to a receiver offers together
    for t, group in enumerate(kinds):
        offer = offers[group[0]]
        places = [r for r, w in zip(packing.receivers, packing.windows[t]) if w is not None]
        for r in places:
            brings[r] += offer * len(group)
        fits = amount(offer) <= min(offer, max((rooms[r] for r in places), default=0))
        extra.append(amount(offer) - math.ceil(value * offer) if fits else None)
    totals = tuple(amount(rooms[r]) if amount(rooms[r]) <= brings[r] else rooms[r] + 1 for r in packing.receivers)
    return Reach(tuple(extra), totals, need)


def placed(counts: Mapping[tuple[int, str], int], kinds: list[list[str]]) -> dict[str, str]:
    """A packing's counts as each giver's receiver: a type's givers in code order to its receivers in code order."""
    out: dict[str, str] = {}
    for t, group in enumerate(kinds):
        queue = iter(group)
        for (tt, r), n in sorted(counts.items()):
            if tt == t:
                out.update((next(queue), r) for _ in range(n))
    return out


def assign(offers: Mapping[str, int], rooms: Mapping[str, int], allowed: Mapping[str, Sequence[str]],
           begin: Mapping[str, str] | None = None) -> dict[tuple[str, str], int]:
    """A packed table (giver, receiver) -> units that is good in the leximin order: givers placed largest first
    where the room is least loaded, then moves taken while they improve the order: a giver to another receiver
    (or to none), two givers changing places, and where neither helps, a chain of two from the worst group."""
    givers = sorted(g for g in offers if offers[g] > 0 and any(rooms.get(r, 0) > 0 for r in allowed.get(g, ())))
    options: dict[str, list[str | None]] = {g: [r for r in allowed[g] if rooms.get(r, 0) > 0] for g in givers}
    members: dict[str | None, list[str]] = {r: [] for r in sorted(rooms) if rooms[r] > 0}
    members[None] = []  # givers placed nowhere: each at ratio 0
    at: dict[str, str | None] = {}
    load = {r: 0 for r in rooms}
    for g in sorted(givers, key=lambda g: (-offers[g], g)):
        if begin is not None:  # the placing given (a packing's), the givers it leaves out placed nowhere
            at[g] = begin.get(g)
            members[at[g]].append(g)
            continue
        best = min(options[g], key=lambda r: (Fraction(load[r] + offers[g], rooms[r]), r))  # type: ignore[index]
        at[g] = best
        members[best].append(g)
        load[best] += offers[g]  # type: ignore[index]
    cache: dict[tuple[str, tuple[str, ...]], list[float]] = {}

    def ratios(r: str | None, group: list[str]) -> list[float]:
        if r is None:
            return [0.0] * len(group)
        key = (r, tuple(sorted(group)))
        if key not in cache:
            cache[key] = _group(rooms[r], [offers[g] for g in key[1]])[1] if group else [0.0]
        return cache[key]

    def move(places: dict[str, str | None]) -> bool:
        """Move the givers to the places given where that improves the order (only the groups it changes are
        compared: the order is separable)."""
        changed = {at[g] for g in places} | set(places.values())
        after = {r: [g for g in members[r] if g not in places] + [g for g, p in places.items() if p == r]
                 for r in changed}
        old = sorted(v for r in changed for v in ratios(r, members[r]))
        new = sorted(v for r in changed for v in ratios(r, after[r]))
        if new <= old:
            return False
        members.update(after)
        at.update(places)
        return True

    for _ in range(MAX_PASSES):
        moved = False
        for g in givers:
            for r in [*options[g], None]:
                if r != at[g]:
                    moved |= move({g: r})
        for i, g in enumerate(givers):
            for h in givers[i + 1:]:
                a, b = at[g], at[h]
                if a != b and a is not None and b is not None and b in options[g] and a in options[h]:
                    moved |= move({g: b, h: a})
        if not moved:
            moved = _chain(givers, options, members, at, ratios, move)
        if not moved:
            break
    table: dict[tuple[str, str], int] = {}
    for r, group in members.items():
        if r is not None:
            ordered = sorted(group)
            amounts, _ = _group(rooms[r], [offers[g] for g in ordered])
            table.update({(g, r): a for g, a in zip(ordered, amounts, strict=True) if a > 0})
    return table


def _chain(givers, options, members, at, ratios, move) -> bool:  # noqa: ANN001 - assign's own state
    """One improving chain of two moves, g to b and a giver h of b to c, for the givers whose group holds the
    lowest ratio (only those: the chains of every giver would cost too much in large markets)."""
    lows = [min(ratios(r, group)) for r, group in members.items() if r is not None or group]
    if not givers or not lows:
        return False
    worst = min(lows)
    for g in givers:
        if min(ratios(at[g], members[at[g]])) > worst:
            continue
        for b in options[g]:
            if b == at[g]:
                continue
            for h in members[b]:
                for c in [*options[h], None]:
                    if c != b and move({g: b, h: c}):
                        return True
    return False
