"""Effective wishes, markets and the exact proportional cut, computed before any integer program.

The proportional cut is the staged driver's target for the relaxation without the one-receiver packing:
the short side of each market is served in full and the long side shares the rest by Adams' divisor
method, which hands each unit to the participant with the lowest ratio so far (ties: larger wish, then
lower code). It is deterministic, and the target the staged driver stays closest to. At exact ties its
rule is not the leximin's (a unit between wishes of 1 and 2 goes to the 2 here, ratios 0 and ½, where the
leximin gives it to the 1, ratios 0 and 1): the exact core uses start.split, checked against enumeration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

from solver.apportion import Method, apportion
from solver.domain import TOTAL_UNITS, Municipality, ObjectiveMode, Policy, Scope, Weights, Wish
from solver.shares import ShareTable, population_shares

# reasons that lowered a wish, cited by the explanations
GIVER_FLOOR = "giver_floor"
COUNTY_FLOOR = "county_floor"
RECEIVER_CAP = "receiver_cap"
MIN_TRANSFER = "min_transfer"
NO_COUNTERPART = "no_counterpart"
LARGEST_ROOM = "largest_room"


@dataclass
class Participant:
    """A municipality with a wish, and what the rules make of it (amounts in units)."""

    code: str
    gives: bool
    county: str
    base: int
    stated: int
    effective: int
    partner: str | None
    market: str
    lowered_by: list[tuple[str, int]] = field(default_factory=list)
    capacity: int = 0
    target: int = 0
    fixed_first: int = 0  # the part of the target served through a fixed partner agreement

    @property
    def kind(self) -> str:
        return "give" if self.gives else "receive"


@dataclass
class Market:
    key: str
    givers: list[Participant]
    receivers: list[Participant]
    pairs: list[tuple[str, str]]
    volume: int = 0

    @property
    def participants(self) -> list[Participant]:
        return sorted(self.givers + self.receivers, key=lambda p: p.code)

    def receivers_of(self) -> dict[str, list[str]]:
        """Each giver's allowed receivers, in code order (givers without any are left out)."""
        out: dict[str, list[str]] = {}
        for g, r in self.pairs:
            out.setdefault(g, []).append(r)
        return out


class Inputs:
    """A setup's inputs as a key: hashed once (a key of 100,000 municipalities is looked up once per market),
    equal only when every input is equal."""

    __slots__ = ("value", "_hash")

    def __init__(self, value: tuple):
        self.value = value
        self._hash = hash(value)

    def __hash__(self) -> int:
        return self._hash

    def __eq__(self, other: object) -> bool:
        return self is other or (isinstance(other, Inputs) and self._hash == other._hash and self.value == other.value)


@dataclass
class Setup:
    municipalities: dict[str, Municipality]
    base: ShareTable
    policy: Policy
    participants: dict[str, Participant]
    markets: list[Market]
    county_floor: dict[str, int]
    receiver_cap: dict[str, int]
    pop_scale: tuple[int, int]  # (P, K): the population term |P·share − K·population| in integers
    notes: list[dict] = field(default_factory=list)
    # what the setup was built from, but for the policy's weights, objective and solve limits: equal inputs
    # give equal markets and models, so a process may remember the models under this key (problem.py)
    inputs: Inputs | None = None

    def population_offset(self, code: str) -> int:
        """P·base − K·population: what stands inside a municipality's population term before anything moves
        (a giver's term is then |offset − P·given|, a receiver's |offset + P·received|)."""
        scale_p, scale_k = self.pop_scale
        return scale_p * self.base[code] - scale_k * self.municipalities[code].population


def county_floors(municipalities: Sequence[Municipality], policy: Policy, pop_share: dict[str, Fraction]) -> dict[str, int]:
    if policy.county_floor is None:
        return {}
    totals: dict[str, Fraction] = {}
    for m in municipalities:
        totals[m.county_code] = totals.get(m.county_code, Fraction(0)) + pop_share[m.code]
    return {c: math.ceil(policy.county_floor * t) for c, t in sorted(totals.items())}


def build_setup(municipalities: Sequence[Municipality], base: ShareTable, wishes: Sequence[Wish],
                policy: Policy) -> Setup:
    by_code = {m.code: m for m in municipalities}
    # population shares are needed by the cap and the county floors only (0.24 ms for 290 municipalities)
    needed = policy.receiver_cap is not None or policy.county_floor is not None
    pop_share = population_shares(municipalities) if needed else {}
    participants: dict[str, Participant] = {}
    cap_units: dict[str, int] = {}
    for wish in wishes:
        m = by_code[wish.code]
        b = base[wish.code]
        key = "national" if policy.scope is Scope.NATIONAL else m.county_code
        if wish.gives:
            stated = b if wish.amount is None else wish.amount
            effective = min(stated, max(0, b - policy.giver_floor))
            p = Participant(wish.code, True, m.county_code, b, stated, effective, wish.partner, key)
            if effective < stated:
                p.lowered_by.append((GIVER_FLOOR, stated - effective))
        else:
            stated = wish.amount or 0
            effective = stated
            p = Participant(wish.code, False, m.county_code, b, stated, effective, None, key)
            if policy.receiver_cap is not None:
                cap = math.floor(policy.receiver_cap * pop_share[wish.code])
                cap_units[wish.code] = cap
                effective = min(stated, max(0, cap - b))
                if effective < stated:
                    p.lowered_by.append((RECEIVER_CAP, stated - effective))
                p.effective = effective
        participants[wish.code] = p
    floors = county_floors(municipalities, policy, pop_share)
    _apply_county_floors(participants, floors, base, municipalities)
    markets = _markets(participants, policy)
    for market in markets:
        _proportional_cut(market, policy)
    total = sum(m.population for m in municipalities)
    divisor = math.gcd(total, TOTAL_UNITS)
    pop_scale = (total // divisor, TOTAL_UNITS // divisor)
    inputs = Inputs((tuple(municipalities), tuple(sorted(base.units.items())), tuple(wishes),
                     replace(policy, weights=Weights(), objective=ObjectiveMode.LEXICOGRAPHIC, time_limit_s=0.0,
                             seed=0, num_workers=1)))
    return Setup(by_code, base, policy, participants, markets, floors, cap_units, pop_scale,
                 inputs=inputs)


def _apply_county_floors(participants: dict[str, Participant], floors: dict[str, int], base: ShareTable,
                         municipalities: Sequence[Municipality]) -> None:
    """Lower the offers of a county's givers so that, even if all is given, the county keeps its floor."""
    if not floors:
        return
    totals: dict[str, int] = {}
    for m in municipalities:
        totals[m.county_code] = totals.get(m.county_code, 0) + base[m.code]
    for county, floor in floors.items():
        givers = sorted((p for p in participants.values() if p.gives and p.county == county), key=lambda p: p.code)
        allowance = max(0, totals[county] - floor)
        offered = sum(p.effective for p in givers)
        if offered <= allowance:
            continue
        cut = apportion([p.effective for p in givers], allowance, Method.ADAMS, caps=[p.effective for p in givers])
        for p, kept in zip(givers, cut.seats, strict=True):
            if kept < p.effective:
                p.lowered_by.append((COUNTY_FLOOR, p.effective - kept))
                p.effective = kept


def _markets(participants: dict[str, Participant], policy: Policy) -> list[Market]:
    by_market: dict[str, list[Participant]] = {}
    for p in participants.values():
        by_market.setdefault(p.market, []).append(p)
    markets = []
    for key in sorted(by_market):
        members = sorted(by_market[key], key=lambda p: p.code)
        givers = [p for p in members if p.gives]
        receivers = [p for p in members if not p.gives]
        pairs = []
        for g in givers:
            for r in receivers:
                if g.partner is not None and g.partner != r.code:
                    continue
                if min(g.effective, r.effective) >= policy.min_transfer:
                    pairs.append((g.code, r.code))
        markets.append(Market(key, givers, receivers, pairs))
    return markets


def _proportional_cut(market: Market, policy: Policy) -> None:
    """Targets: short side in full, long side cut by the same proportion (Adams), partners served first."""
    by_code = {p.code: p for p in market.givers + market.receivers}
    reach: dict[str, list[str]] = {p.code: [] for p in by_code.values()}
    for gc, rc in market.pairs:
        reach[gc].append(rc)
        reach[rc].append(gc)
    for g in market.givers:
        rooms = [by_code[r].effective for r in reach[g.code]]
        if not rooms:
            g.capacity = 0
            if g.effective > 0:
                g.lowered_by.append((MIN_TRANSFER if g.effective < policy.min_transfer else NO_COUNTERPART, g.effective))
            continue
        limit = max(rooms) if policy.one_receiver else sum(rooms)
        g.capacity = min(g.effective, limit)
        if g.capacity < g.effective:
            g.lowered_by.append((LARGEST_ROOM, g.effective - g.capacity))
    for r in market.receivers:
        r.capacity = min(r.effective, sum(by_code[g].capacity for g in reach[r.code]))
        if r.effective > 0 and r.capacity == 0:
            r.lowered_by.append((MIN_TRANSFER if r.effective < policy.min_transfer else NO_COUNTERPART, r.effective))
    # fixed partner agreements are served first, shared by the same rule when they exceed the room
    fixed_in: dict[str, int] = {}
    for r in market.receivers:
        bound = [by_code[g] for g in reach[r.code] if by_code[g].partner == r.code]
        if not bound:
            continue
        demand = sum(g.capacity for g in bound)
        served = min(demand, r.capacity)
        cut = _cut([g.effective for g in bound], served, [g.capacity for g in bound])
        for g, amount in zip(bound, cut, strict=True):
            g.target = g.fixed_first = amount
        fixed_in[r.code] = served
        r.fixed_first = served
    free_givers = [g for g in market.givers if g.partner is None]
    room_left = {}
    for r in market.receivers:
        free_supply = sum(by_code[g].capacity for g in reach[r.code] if by_code[g].partner is None)
        room_left[r.code] = min(r.capacity - fixed_in.get(r.code, 0), free_supply)
    supply = sum(g.capacity for g in free_givers)
    volume = min(supply, sum(room_left.values()))
    for g, amount in zip(free_givers, _cut([g.effective for g in free_givers], volume,
                                           [g.capacity for g in free_givers]), strict=True):
        g.target = amount
    receivers = market.receivers
    r_targets = _cut([r.effective for r in receivers], volume + sum(fixed_in.values()),
                     [fixed_in.get(r.code, 0) + room_left[r.code] for r in receivers],
                     floors=[fixed_in.get(r.code, 0) for r in receivers])
    for r, amount in zip(receivers, r_targets, strict=True):
        r.target = amount
    market.volume = volume + sum(fixed_in.values())


def _cut(wishes: list[int], total: int, caps: list[int], floors: list[int] | None = None) -> list[int]:
    if not wishes:
        return []
    if total == sum(caps):
        return list(caps)
    return list(apportion(wishes, total, Method.ADAMS, caps=caps, floors=floors).seats)
