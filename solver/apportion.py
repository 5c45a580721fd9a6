"""Apportionment methods on integers and Fractions: largest remainder and the divisor methods.

A share table is an apportionment of a house of 100,000 units (1000.00 per mille) among 290
municipalities; the same code also finds the proportional cut of the redistribution (Adams' method is
exactly the leximin of fulfilment ratios in whole units). No float decides a seat: floats only guess a
starting point, which is then checked exactly and discarded if it is not a prefix of the exact order.

Ties: when two parties compete for the last seat(s) with exactly equal claims, the party with the larger
weight wins, then the one that comes first in the input order (callers pass municipalities in code order).
Every tie that decided a seat is reported in `Apportionment.ties`.
"""

from __future__ import annotations

import functools
import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction

Number = int | Fraction


class Method(str, Enum):
    HAMILTON = "hamilton"
    WEBSTER = "webster"
    JEFFERSON = "jefferson"
    ADAMS = "adams"
    HUNTINGTON_HILL = "huntington-hill"

    @classmethod
    def parse(cls, name: str | Method) -> Method:
        if isinstance(name, Method):
            return name
        key = name.strip().lower().replace("_", "-").replace(" ", "-")
        if key in _ALIASES:
            return _ALIASES[key]
        known = ", ".join(sorted(_ALIASES))
        raise ValueError(f"unknown apportionment method {name!r}; known: {known}")


_ALIASES = {
    "hamilton": Method.HAMILTON,
    "largest-remainder": Method.HAMILTON,
    "hare": Method.HAMILTON,
    "webster": Method.WEBSTER,
    "sainte-lague": Method.WEBSTER,
    "sainte-laguë": Method.WEBSTER,
    "jefferson": Method.JEFFERSON,
    "dhondt": Method.JEFFERSON,
    "d'hondt": Method.JEFFERSON,
    "d-hondt": Method.JEFFERSON,
    "adams": Method.ADAMS,
    "huntington-hill": Method.HUNTINGTON_HILL,
    "hill": Method.HUNTINGTON_HILL,
}


@dataclass(frozen=True)
class Tie:
    """Parties whose claims on the last seats were exactly equal, and which of them got a seat."""

    seats: int
    parties: tuple[int, ...]
    winners: tuple[int, ...]


@dataclass(frozen=True)
class Apportionment:
    seats: tuple[int, ...]
    method: Method
    ties: tuple[Tie, ...] = ()


class ApportionmentError(ValueError):
    pass


def apportion(
    weights: Sequence[Number],
    house: int,
    method: str | Method = Method.HAMILTON,
    *,
    floors: Sequence[int] | None = None,
    caps: Sequence[int | None] | None = None,
) -> Apportionment:
    """Apportion `house` whole seats among parties in proportion to `weights`.

    `floors` are seats each party gets at least, `caps` at most (None: no cap).
    """
    method = Method.parse(method)
    n = len(weights)
    w = [Fraction(x) for x in weights]
    if any(x < 0 for x in w):
        raise ApportionmentError("weights must not be negative")
    lo = [0] * n if floors is None else [int(f) for f in floors]
    hi = [house if c is None else int(c) for c in (caps if caps is not None else [None] * n)]
    if len(lo) != n or len(hi) != n:
        raise ApportionmentError("floors and caps must have one entry per party")
    if any(f < 0 for f in lo) or any(lo[i] > hi[i] for i in range(n)):
        raise ApportionmentError("each floor must be between 0 and its cap")
    if house < sum(lo):
        raise ApportionmentError(f"the floors need {sum(lo)} seats but the house has only {house}")
    if house > sum(hi):
        raise ApportionmentError(f"the caps allow only {sum(hi)} seats but the house has {house}")
    if house > sum(lo) and not any(w[i] > 0 and hi[i] > lo[i] for i in range(n)):
        raise ApportionmentError("no party with a positive weight can take the remaining seats")
    if method is Method.HAMILTON:
        return _hamilton(w, house, lo, hi)
    return _divisor(w, house, method, lo, hi)


def _integers(w: list[Fraction]) -> list[int]:
    """The weights times the least common multiple of their denominators: whole numbers in the same proportions,
    which give the same quotas and claims (a Fraction's every operation normalises by a gcd: the national
    proportional cut, 39 givers, took 1.7 ms in Fractions)."""
    scale = math.lcm(*(x.denominator for x in w))
    return [x.numerator * (scale // x.denominator) for x in w]


def _lambda(w: list[int], house: int, lo: list[int], hi: list[int]) -> tuple[int, int]:
    """λ ≥ 0, as a fraction (numerator, denominator), such that q_i = min(hi_i, max(lo_i, λ·w_i)) sum to the house
    (whole weights: _integers).

    The total is non-decreasing and piecewise linear in λ, with breaks at each party's lo_i/w_i and hi_i/w_i.
    At the k-th break point a party is at its floor where its floor's break is not below the point, at its
    cap where its cap's break is not above it, and free (λ·w_i) between; so the total there is a sum of
    integers plus the point times the free parties' weight, found by ranks, and compared with the house in
    integers."""
    n = len(w)
    weighted = [i for i in range(n) if w[i] > 0]

    def reduced(a: int, b: int) -> tuple[int, int]:
        g = math.gcd(a, b)
        return a // g, b // g

    breaks = {i: (reduced(lo[i], w[i]), reduced(hi[i], w[i])) for i in weighted}
    points = _ascending({b for pair in breaks.values() for b in pair})
    rank = {b: k for k, b in enumerate(points)}
    ranks = [(i, rank[breaks[i][0]], rank[breaks[i][1]]) for i in weighted]
    unweighted = sum(lo[i] for i in range(n) if w[i] <= 0)  # λ·w_i ≤ 0 ≤ lo_i: at the floor

    def parts(k: int) -> tuple[int, int]:
        """The total at the k-th point: its whole part, and the weight of the free parties."""
        fixed, free = unweighted, 0
        for i, low, high in ranks:
            if k <= low:
                fixed += lo[i]
            elif k >= high:
                fixed += hi[i]
            else:
                free += w[i]
        return fixed, free

    def below(k: int) -> bool:
        (p, q), (fixed, free) = points[k], parts(k)
        return fixed * q + p * free < house * q

    # bisect for the last breakpoint whose total is still below the house: the total is non-decreasing
    first, last = 0, len(points)
    while first < last:
        mid = (first + last) // 2
        if below(mid):
            first = mid + 1
        else:
            last = mid
    if first > 0:
        (p, q), (fixed, free) = points[first - 1], parts(first - 1)
        # on [that point, the next] the total is linear: the parties free there, or at a floor whose break is it
        slope = sum(w[i] for i, low, high in ranks if low <= first - 1 < high)
    else:  # at λ = 0 every party is at its floor (floors are not negative); those with none are free above it
        (p, q), fixed, free = (0, 1), sum(lo), 0
        slope = sum(w[i] for i in weighted if lo[i] == 0 < hi[i])
    if not slope:
        return p, q
    # λ = p/q + (house − fixed − (p/q)·free) / slope
    return reduced(p * slope + (house - fixed) * q - p * free, q * slope)


def _ascending(points: set[tuple[int, int]] | list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Distinct non-negative fractions (numerator, denominator > 0) in ascending order: by their float values,
    kept only where consecutive ones are exactly in order (a float may not tell two apart), else compared exactly."""
    ordered: list[tuple[int, int]] = sorted(points, key=lambda f: f[0] / f[1])
    if all(a[0] * b[1] < b[0] * a[1] for a, b in zip(ordered, ordered[1:])):
        return ordered
    def compare(a: tuple[int, int], b: tuple[int, int]) -> int:
        return a[0] * b[1] - b[0] * a[1]

    return sorted(points, key=functools.cmp_to_key(compare))


def _clamped_quotas(w: list[Fraction], house: int, lo: list[int], hi: list[int]) -> list[Fraction]:
    """q_i = min(hi_i, max(lo_i, λ·w_i)) with λ chosen exactly so that the q_i sum to the house (_lambda)."""
    whole = _integers(w)
    num, den = _lambda(whole, house, lo, hi)
    return [Fraction(lo[i]) if num * whole[i] <= lo[i] * den else Fraction(hi[i]) if num * whole[i] >= hi[i] * den
            else Fraction(num * whole[i], den) for i in range(len(w))]


def _hamilton(w: list[Fraction], house: int, lo: list[int], hi: list[int]) -> Apportionment:
    n = len(w)
    quota = _clamped_quotas(w, house, lo, hi)
    seats = [int(q) for q in quota]  # floor of a non-negative Fraction
    rest = house - sum(seats)
    candidates = sorted((i for i in range(n) if seats[i] < hi[i] and quota[i] > seats[i]),
                        key=lambda i: (-(quota[i] - seats[i]), -w[i], i))
    winners = candidates[:rest]
    for i in winners:
        seats[i] += 1
    ties: list[Tie] = []
    if 0 < rest < len(candidates):
        cut = quota[winners[-1]] - (seats[winners[-1]] - 1)
        tied = [i for i in candidates if quota[i] - int(quota[i]) == cut]
        tied_winners = [i for i in tied if i in winners]
        if tied_winners and len(tied_winners) < len(tied):
            ties.append(Tie(len(tied_winners), tuple(sorted(tied)), tuple(sorted(tied_winners))))
    return Apportionment(tuple(seats), Method.HAMILTON, tuple(ties))


def _claim(w: Fraction, s: int, method: Method) -> tuple[int, Fraction]:
    """The claim of a party with weight w on its (s+1)-th seat, as a sortable (finite?, value) pair.

    Larger is stronger. Huntington-Hill compares squares to stay exact.
    """
    if w == 0:
        return (0, Fraction(0))
    if method is Method.ADAMS:
        return (1, Fraction(0)) if s == 0 else (0, w / s)
    if method is Method.JEFFERSON:
        return (0, w / (s + 1))
    if method is Method.WEBSTER:
        return (0, w / (s + Fraction(1, 2)))
    # Huntington-Hill: w / sqrt(s(s+1)), compared by its square
    return (1, Fraction(0)) if s == 0 else (0, w * w / (s * (s + 1)))


def _start(w: list[Fraction], house: int, method: Method, lo: list[int], hi: list[int]) -> list[int]:
    """Seats the seat-by-seat loop is sure to hand out first, so that it only places the last few.

    Claims fall as a party's seats grow, so the loop hands out seats in falling order of claim: every seat
    whose claim exceeds a threshold c comes before every other. With c a little above the final divisor
    (1/λ of the exact clamped quotas), those seats number at most the house and are a prefix of the loop.
    In whole numbers: a party of weight w has w·λ·s of its claims above c = 1/(λ·s) (s = 99/100, 9/10, 1/2).
    """
    if method is Method.HUNTINGTON_HILL or not any(x > 0 for x in w):
        return list(lo)  # its claims compare squares; the loop starts from the floors
    whole = _integers(w)
    num, den = _lambda(whole, house, lo, hi)
    if not any(lo[i] * den < num * whole[i] < hi[i] * den for i in range(len(w)) if whole[i] > 0):
        return list(lo)  # no party is free: λ does not give the divisor
    for a, b in ((99, 100), (9, 10), (1, 2)):
        start = [min(hi[i], max(lo[i], _seats_above(whole[i] * num * a, den * b, method))) for i in range(len(w))]
        if sum(start) <= house:
            return start
    return list(lo)


def _seats_above(num: int, den: int, method: Method) -> int:
    """How many seats of a party have a claim above c, where x = w/c = num/den (num ≥ 0, den > 0)."""
    if num == 0:
        return 0
    if method is Method.ADAMS:  # claims ∞, w/1, w/2, ...: ⌈x⌉
        return -(-num // den)
    if method is Method.JEFFERSON:  # claims w/1, w/2, ...: ⌈x⌉ − 1
        return -(-num // den) - 1
    return max(0, -(-(2 * num - den) // (2 * den)))  # Webster: claims w/(s + 1/2), ⌈x − 1/2⌉


def _divisor(w: list[Fraction], house: int, method: Method, lo: list[int], hi: list[int]) -> Apportionment:
    n = len(w)
    seats = _start(w, house, method, lo, hi)
    heap = [(_neg(_claim(w[i], seats[i], method)), -w[i], i) for i in range(n) if seats[i] < hi[i]]
    heapq.heapify(heap)
    rest = house - sum(seats)
    last_claim = None
    winners_at_last: list[int] = []
    while rest > 0:
        negclaim, negw, i = heapq.heappop(heap)
        seats[i] += 1
        rest -= 1
        if negclaim != last_claim:
            last_claim, winners_at_last = negclaim, []
        winners_at_last.append(i)
        if seats[i] < hi[i]:
            heapq.heappush(heap, (_neg(_claim(w[i], seats[i], method)), -w[i], i))
    ties: list[Tie] = []
    losers = [i for (c, _, i) in heap if c == last_claim and i not in winners_at_last]
    if last_claim is not None and losers:
        parties = tuple(sorted(set(winners_at_last) | set(losers)))
        ties.append(Tie(len(winners_at_last), parties, tuple(sorted(winners_at_last))))
    return Apportionment(tuple(seats), method, tuple(ties))


def _neg(claim: tuple[int, Fraction]) -> tuple[int, Fraction]:
    return (-claim[0], -claim[1])
