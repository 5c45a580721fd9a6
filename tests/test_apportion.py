"""Apportionment methods against textbook cases and their defining properties."""

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from solver.apportion import ApportionmentError, Method, Tie, apportion

VOTES = [100_000, 80_000, 30_000, 20_000]  # the standard D'Hondt / Sainte-Laguë example, 8 seats


def test_dhondt_textbook_example():
    assert apportion(VOTES, 8, "dhondt").seats == (4, 3, 1, 0)


def test_sainte_lague_textbook_example():
    assert apportion(VOTES, 8, "sainte-lague").seats == (3, 3, 1, 1)


def test_hamilton_textbook_example():
    # quotas 3.48, 2.78, 1.04, 0.70: floors 3, 2, 1, 0 and the two largest remainders (B, D) get the rest
    assert apportion(VOTES, 8, "hamilton").seats == (3, 3, 1, 1)


def test_adams_gives_every_party_a_seat_first():
    # one seat each, then claims w/s: A 100k, B 80k, A 50k, B 40k -> (3, 3, 1, 1)
    assert apportion(VOTES, 8, "adams").seats == (3, 3, 1, 1)
    assert apportion(VOTES, 3, "adams").seats == (1, 1, 1, 0)


def test_huntington_hill_small_states():
    # Balinski & Young style: HH favours small states relative to Webster
    seats = apportion([2560, 3315, 995, 5012], 10, "huntington-hill").seats
    assert sum(seats) == 10 and all(s >= 1 for s in seats)


def test_alabama_paradox_for_hamilton():
    # populations 6, 6, 2: with 10 seats C gets 2, with 11 seats C gets 1
    assert apportion([6, 6, 2], 10, "hamilton").seats == (4, 4, 2)
    assert apportion([6, 6, 2], 11, "hamilton").seats == (5, 5, 1)


@pytest.mark.parametrize("method", ["webster", "jefferson", "adams", "huntington-hill"])
@settings(max_examples=60, deadline=None)
@given(weights=st.lists(st.integers(1, 10_000), min_size=2, max_size=12), house=st.integers(12, 200))
def test_divisor_methods_are_house_monotone(method, weights, house):
    smaller = apportion(weights, house, method).seats
    larger = apportion(weights, house + 1, method).seats
    assert all(b >= a for a, b in zip(smaller, larger))
    assert sum(larger) == house + 1


@settings(max_examples=100, deadline=None)
@given(weights=st.lists(st.integers(1, 10_000), min_size=2, max_size=12), house=st.integers(1, 500))
def test_hamilton_satisfies_quota(weights, house):
    seats = apportion(weights, house, "hamilton").seats
    total = sum(weights)
    for w, s in zip(weights, seats):
        quota = Fraction(house * w, total)
        assert int(quota) <= s <= int(quota) + 1


@pytest.mark.parametrize("method", list(Method))
def test_floors_and_caps_hold(method):
    seats = apportion([1, 1, 1000], 30, method, floors=[5, 5, 0], caps=[None, None, 15]).seats
    assert sum(seats) == 30 and seats[0] >= 5 and seats[1] >= 5 and seats[2] <= 15


@pytest.mark.parametrize("method", list(Method))
def test_exact_ties_are_broken_by_rule_and_reported(method):
    result = apportion([10, 10, 10], 2, method)
    assert result.seats == (1, 1, 0)  # equal weights: input order decides
    assert result.ties == (Tie(seats=2, parties=(0, 1, 2), winners=(0, 1)),) and result.method is method


def test_fractions_are_exact():
    seats = apportion([Fraction(1, 3), Fraction(1, 3), Fraction(1, 3)], 100_000, "hamilton").seats
    assert seats == (33_334, 33_333, 33_333)


@pytest.mark.parametrize("method", list(Method))
def test_large_house_matches_from_scratch(method):
    # the starting point must never change the result
    weights = [Fraction(7919 * i % 1009 + 1, 3) for i in range(1, 60)]
    fast = apportion(weights, 100_000, method).seats
    assert sum(fast) == 100_000
    again = apportion(weights + [Fraction(0)], 100_000, method).seats
    assert again[:-1] == fast and again[-1] == 0


@pytest.mark.parametrize("method", [Method.ADAMS, Method.JEFFERSON, Method.WEBSTER])
@settings(max_examples=80, deadline=None)
@given(data=st.data(), weights=st.lists(st.integers(0, 5_000), min_size=1, max_size=15))
def test_the_start_changes_nothing(method, data, weights):
    """Seats and reported ties equal those of the seat-by-seat loop started from the floors."""
    from solver import apportion as module

    n = len(weights)
    floors = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    caps = [f + data.draw(st.integers(0, 400)) for f in floors]
    if not any(w > 0 and c > f for w, c, f in zip(weights, caps, floors)):
        return  # no party can take a seat above its floor
    house = data.draw(st.integers(sum(floors), sum(caps)))
    if data.draw(st.booleans()):  # weights as Fractions with different denominators
        weights = [Fraction(x, data.draw(st.sampled_from([1, 3, 7, 10]))) for x in weights]
    fast = apportion(weights, house, method, floors=floors, caps=caps)
    start = module._start
    module._start = lambda w, house, method, lo, hi: list(lo)
    try:
        slow = apportion(weights, house, method, floors=floors, caps=caps)
    finally:
        module._start = start
    assert fast == slow


def test_bad_arguments_are_refused():
    with pytest.raises(ApportionmentError):
        apportion([1, 2], 5, "hamilton", floors=[3, 3])
    with pytest.raises(ApportionmentError):
        apportion([-1, 2], 5, "hamilton")
    with pytest.raises(ValueError):
        apportion([1, 2], 5, "borda")


@settings(max_examples=200, deadline=None)
@given(data=st.data(), weights=st.lists(st.integers(0, 5_000), min_size=1, max_size=15))
def test_the_clamped_quotas_meet_their_definition(data, weights):
    """q_i = min(cap_i, max(floor_i, λ·w_i)) for one λ ≥ 0, summing exactly to the house: the free parties
    share one ratio q_i/w_i = λ, a party at its floor has λ·w_i ≤ floor_i, one at its cap λ·w_i ≥ cap_i (weight
    0 keeps the floor)."""
    from solver.apportion import _clamped_quotas

    n = len(weights)
    floors = data.draw(st.lists(st.integers(0, 3), min_size=n, max_size=n))
    caps = [f + data.draw(st.integers(0, 40)) for f in floors]
    if not any(w > 0 and c > f for w, c, f in zip(weights, caps, floors)):
        return
    house = data.draw(st.integers(sum(floors), sum(c for w, c, f in zip(weights, caps, floors) if w > 0)
                                  + sum(f for w, f in zip(weights, floors) if w == 0)))
    # whole weights, or the same over denominators drawn per party (they are made whole again inside)
    w = [Fraction(x, data.draw(st.sampled_from([1, 1, 3, 7, 10, 12]))) for x in weights]
    q = _clamped_quotas(w, house, floors, caps)
    assert sum(q) == house
    free = {q[i] / w[i] for i in range(n) if w[i] > 0 and floors[i] < q[i] < caps[i]}
    assert len(free) <= 1
    # at a cap λ·w_i ≥ cap_i, at a floor λ·w_i ≤ floor_i: with no free party, λ may be the largest cap ratio
    at_caps = max((Fraction(caps[i]) / w[i] for i in range(n) if w[i] > 0 and q[i] == caps[i] > floors[i]),
                  default=Fraction(0))
    lam = free.pop() if free else at_caps
    for i in range(n):
        assert floors[i] <= q[i] <= caps[i]
        if w[i] == 0:
            assert q[i] == floors[i]
        else:
            assert q[i] == min(caps[i], max(floors[i], lam * w[i])), (i, lam)


# --- against an independent implementation: the `apportionment` package (exact fractions, ties refused) -----

PACKAGE = {Method.HAMILTON: "largest_remainder", Method.WEBSTER: "saintelague", Method.JEFFERSON: "dhondt",
           Method.ADAMS: "adams", Method.HUNTINGTON_HILL: "huntington"}


@settings(max_examples=300, deadline=None)
@given(method=st.sampled_from(list(Method)), weights=st.lists(st.integers(1, 100_000), min_size=1, max_size=10),
       extra=st.one_of(st.integers(0, 60), st.integers(0, 3_000)))
def test_every_method_agrees_with_the_apportionment_package(method, weights, extra):
    """Where the package finds no tie, both give the same seats; Adams and Huntington-Hill give every party a
    seat first, so their house is at least the number of parties."""
    from apportionment.methods import TiesException, compute

    house = len(weights) + extra
    try:
        expected = compute(PACKAGE[method], weights, house, fractions=True, tiesallowed=False, verbose=False)
    except TiesException:
        return
    result = apportion(weights, house, method)
    assert list(result.seats) == list(expected)
    assert result.ties == ()


def test_huntington_hill_gives_small_states_a_seat_first():
    """Huntington-Hill's priority w²/(s(s+1)) is infinite at s = 0: every state gets a seat before any gets a
    second (the package agrees); Webster's rounding leaves these small states none."""
    assert apportion([100, 100, 9_000], 20, "huntington-hill").seats == (1, 1, 18)
    assert apportion([100, 100, 9_000], 20, "webster").seats == (0, 0, 20)


def test_the_larger_weight_wins_an_exact_tie():
    """Jefferson (D'Hondt): after the first seat, party 0's claim 2/2 equals party 1's 1/1: the larger weight wins."""
    result = apportion([2, 1], 2, "jefferson")
    assert result.seats == (2, 0)
    assert result.ties and result.ties[0].parties == (0, 1) and result.ties[0].winners == (0,)
    result = apportion([1, 2], 2, "jefferson")  # the input order does not decide where the weights differ
    assert result.seats == (0, 2) and result.ties[0].winners == (1,)


def test_a_hamilton_tie_over_the_last_seat_is_reported():
    result = apportion([3, 1, 1], 4, "hamilton")  # quotas 2.4, 0.8, 0.8: one seat for two equal remainders
    assert result.seats == (2, 1, 1) or result.seats[1:] in ((1, 0), (0, 1))
    result = apportion([2, 1, 1], 2, "hamilton")  # quotas 1, 0.5, 0.5: the tie over the last seat
    assert result.seats == (1, 1, 0)
    assert result.ties == (Tie(seats=1, parties=(1, 2), winners=(1,)),)


def test_each_bad_argument_is_named():
    cases = [
        (dict(weights=[1, 2], house=5, floors=[3, 3]), "the floors need 6 seats but the house has only 5"),
        (dict(weights=[-1, 2], house=5), "weights must not be negative"),
        (dict(weights=[1, 2], house=5, floors=[1]), "floors and caps must have one entry per party"),
        (dict(weights=[1, 2], house=5, caps=[1, 2, 3]), "floors and caps must have one entry per party"),
        (dict(weights=[1, 2], house=5, floors=[-1, 0]), "each floor must be between 0 and its cap"),
        (dict(weights=[1, 2], house=5, floors=[2, 0], caps=[1, None]), "each floor must be between 0 and its cap"),
        (dict(weights=[1, 2], house=5, caps=[1, 2]), "the caps allow only 3 seats but the house has 5"),
        (dict(weights=[0, 0], house=1), "no party with a positive weight can take the remaining seats"),
        (dict(weights=[0, 5], house=3, floors=[0, 2], caps=[None, 2]),
         "no party with a positive weight can take the remaining seats"),  # the weighted party is at its cap
    ]
    for kwargs, message in cases:
        with pytest.raises(ApportionmentError, match=f"^{message}$"):
            apportion(kwargs.pop("weights"), kwargs.pop("house"), "hamilton", **kwargs)


@pytest.mark.parametrize("name, method", [
    ("Hamilton", Method.HAMILTON), ("largest_remainder", Method.HAMILTON), ("Hare", Method.HAMILTON),
    (" Sainte Laguë ", Method.WEBSTER), ("sainte-lague", Method.WEBSTER), ("WEBSTER", Method.WEBSTER),
    ("D'Hondt", Method.JEFFERSON), ("d_hondt", Method.JEFFERSON), ("dhondt", Method.JEFFERSON),
    ("jefferson", Method.JEFFERSON), ("Adams", Method.ADAMS), ("huntington_hill", Method.HUNTINGTON_HILL),
    ("Huntington Hill", Method.HUNTINGTON_HILL), ("hill", Method.HUNTINGTON_HILL), (Method.ADAMS, Method.ADAMS),
])
def test_method_names_are_read_as_written_anywhere(name, method):
    assert Method.parse(name) is method


def test_an_unknown_method_is_named_with_the_known_ones():
    with pytest.raises(ValueError, match=r"^unknown apportionment method 'borda'; known: adams, d'hondt, d-hondt, "):
        Method.parse("borda")


def test_a_house_the_floors_fill_needs_no_free_party():
    """Where the floors take the whole house nothing is left to place, so no party needs room above its floor."""
    for method in Method:
        assert apportion([0, 5], 2, method, floors=[0, 2], caps=[None, 2]).seats == (0, 2)


def test_hamilton_gives_an_equal_remainder_to_the_larger_weight_and_reports_it():
    result = apportion([1, 3], 2, "hamilton")  # quotas 0.5 and 1.5: equal remainders, the larger weight wins
    assert result == apportion([1, 3], 2, Method.HAMILTON)
    assert result.seats == (0, 2) and result.method is Method.HAMILTON
    assert result.ties == (Tie(seats=1, parties=(0, 1), winners=(1,)),)
    result = apportion([3, 3, 2], 4, "hamilton")  # quotas 1.5, 1.5, 1: the tie is over a party's second seat
    assert result.seats == (2, 1, 1)
    assert result.ties == (Tie(seats=1, parties=(0, 1), winners=(0,)),)


FRACTIONS = st.tuples(st.integers(0, 10**6), st.integers(1, 10**6))


@settings(max_examples=200, deadline=None)
@given(points=st.sets(FRACTIONS, min_size=0, max_size=30), close=st.integers(10**15, 10**18))
def test_break_points_are_ordered_exactly(points, close):
    """_ascending sorts fractions exactly, also where floats cannot tell neighbours apart (k/(k+1) for huge k)."""
    from solver.apportion import _ascending

    for extra in ([], [(close, close + 1), (close + 1, close + 2), (close - 1, close)]):
        distinct = {Fraction(p, q): (p, q) for p, q in [*points, *extra]}  # one representative per value
        assert _ascending(set(distinct.values())) == [distinct[v] for v in sorted(distinct)]


@pytest.mark.parametrize("method", [Method.ADAMS, Method.JEFFERSON, Method.WEBSTER])
@settings(max_examples=60, deadline=None)
@given(weights=st.lists(st.integers(1, 5_000), min_size=2, max_size=30), house=st.integers(1_000, 100_000))
def test_the_start_leaves_only_the_last_few_seats(method, weights, house):
    """_start's promise: a prefix of the seat-by-seat order (never above the final seats) that leaves the loop at
    most about a hundredth of the house plus two seats a party, or a tenth where the first threshold counts too
    many (many equal parties, each rounded up: 13 parties of one weight in a house of 1,000); where it fell back
    to the floors, the national cut of 100,000 units would be placed seat by seat."""
    from solver.apportion import _start

    final = apportion(weights, house, method).seats
    start = _start([Fraction(w) for w in weights], house, method, [0] * len(weights), [house] * len(weights))
    assert all(s <= f for s, f in zip(start, final))
    assert sum(final) - sum(start) <= house // 10 + 2 * len(weights)
