"""Per-municipality explanations: structured reasons, and a short text in Swedish (the report's words: omfördela,
mottagande kommun, andel, anvisning) with English as its faithful translation.

One sentence per situation, each a whole sentence with its own verb: what the municipality wished (as stated),
what lowered the wish and why, whether every wish was cut alike and to what percentage, what it redistributes
or receives and with whom (the other municipality's county when it is another county), why the amount differs
from the equal cut (whole hundredths of a per mille, one receiving municipality per giver), how the share
changes, what that means in expected children and compensation, and that a giver can still be allocated
children through ties (anknytning) and resettlement (the report, 2.3.2).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any

from solver.compensation import expected_children, variable_compensation
from solver.domain import Municipality, format_permille, permille
from solver.redistribute.targets import (
    COUNTY_FLOOR,
    GIVER_FLOOR,
    LARGEST_ROOM,
    MIN_TRANSFER,
    NO_COUNTERPART,
    RECEIVER_CAP,
    Market,
    Participant,
)

# why part of a wish could not be met: (Swedish, English), completing "x of it could not be ..., because ..."
_LOWERED = {
    GIVER_FLOOR: ("kommunen ska behålla en lägsta andel för sin beredskap",
                  "the municipality keeps a least share for its readiness"),
    COUNTY_FLOOR: ("länet ska behålla en lägsta andel för beredskapen i länet",
                   "the county keeps a least share for its readiness"),
    RECEIVER_CAP: ("kommunens andel inte får bli för stor i förhållande till folkmängden",
                   "the municipality's share may not grow too large for its population"),
    LARGEST_ROOM: ("ingen enskild mottagande kommun har utrymme för mer, och en kommun omfördelar till en (1) "
                   "mottagande kommun",
                   "no single receiving municipality has room for more, and a municipality redistributes to one (1) "
                   "receiving municipality"),
    MIN_TRANSFER: ("beloppet är mindre än den minsta tillåtna överföringen",
                   "the amount is below the smallest transfer allowed"),
}
# true whatever the cause (no counterpart at all, or floors, agreements, the smallest transfer left none)
_NO_COUNTERPART = {
    True: ("ingen mottagande kommun kunde ta emot något från kommunen",
           "no receiving municipality could receive anything from it"),
    False: ("ingen kommun som omfördelar kunde lämna något till kommunen",
            "no redistributing municipality could give anything to it"),
}
_ALL_ROOM = ("de mottagande kommunerna inte har utrymme för mer", "the receiving municipalities have no room for more")
VOWELS = set("aeiouyåäöAEIOUYÅÄÖ")


def kommun(name: str) -> str:
    """The municipality as Swedish writes it: `Vallentuna kommun`, `Linköpings kommun` (the genitive s after a
    consonant, none after a vowel or s)."""
    return f"{name} kommun" if name[-1] in VOWELS or name[-1] in "sxz" else f"{name}s kommun"


def market_sv(key: str, municipalities: Mapping[str, Municipality]) -> str:
    """A market's name in Swedish: `den nationella omfördelningen`, `omfördelningen i Stockholms län`."""
    county = next((m.county_name for m in municipalities.values() if m.county_code == key), None)
    return f"omfördelningen i {county}" if county else "den nationella omfördelningen"


def sv_permille(units: int) -> str:
    return format_permille(units).replace(".", ",").replace("-", "−") + " ‰"


def en_permille(units: int) -> str:
    return format_permille(units) + "‰"


def sv_whole(value: int) -> str:
    return f"{value:,}".replace(",", "\u00a0")


def _pct(part: int, whole: int) -> int:
    return round(Fraction(part, whole) * 100) if whole else 0


def _join(items: list[str], conjunction: str) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + f" {conjunction} " + items[-1]


@dataclass(frozen=True)
class Context:
    """What every explanation of one proposal shares."""

    municipalities: Mapping[str, Municipality]
    one_receiver: bool
    forecast: int
    illustrative: bool
    feasible: bool = True  # False: no table keeps the rules, and nothing moves


@lru_cache(maxsize=4096)
def _kept(name: str, base: int) -> tuple[str, str]:
    """The sentences of a municipality without a wish that keeps its share, in Swedish and English: the same for
    every proposal on the same share table, so a process formats them once (they were a third of the national
    proposal's JSON)."""
    return (f"{kommun(name)} hade inget önskemål och behåller sin andel, {sv_permille(base)}.",
            f"{name} had no wish and keeps its share of {en_permille(base)}.")


def _other(code: str, mine: Municipality, ctx: Context) -> tuple[str, str]:
    """The other municipality of a transfer, with its county when that is another county."""
    m = ctx.municipalities[code]
    county = f" ({m.county_name})" if m.county_code != mine.county_code else ""
    return kommun(m.name) + county, m.name + county


def _money(ctx: Context, base: int, final: int) -> tuple[str, str]:
    before, after = expected_children(base, ctx.forecast), expected_children(final, ctx.forecast)
    pay_before, pay_after = variable_compensation(base, ctx.forecast), variable_compensation(final, ctx.forecast)
    children_sv = "förväntat barn" if after == 1 else "förväntade barn"
    children_en = "expected child" if after == 1 else "expected children"
    if base == final:
        return (f"Med en prognos på {sv_whole(ctx.forecast)} barn motsvarar andelen {after} {children_sv} och "
                f"{sv_whole(pay_after)} kr i rörlig ersättning.",
                f"With a forecast of {ctx.forecast:,} children the share means {after} {children_en} and "
                f"SEK {pay_after:,} of variable compensation.")
    return (f"Med en prognos på {sv_whole(ctx.forecast)} barn motsvarar den nya andelen {after} {children_sv} och "
            f"{sv_whole(pay_after)} kr i rörlig ersättning, mot {before} och {sv_whole(pay_before)} kr före.",
            f"With a forecast of {ctx.forecast:,} children the new share means {after} {children_en} and "
            f"SEK {pay_after:,} of variable compensation, against {before} and SEK {pay_before:,} before.")


def explain(code: str, ctx: Context, base: int, final: int, participant: Participant | None, market: Market | None,
            flows: list[tuple[str, str, int]], spill: int) -> dict[str, Any]:
    """`flows` are this municipality's own transfers (giver, receiver, amount)."""
    m = ctx.municipalities[code]
    if participant is None and not spill:  # most municipalities
        text_sv, text_en = _kept(m.name, base)
        return {"reasons": [{"rule": "no_wish"}], "text_en": text_en, "text_sv": text_sv}
    sv: list[str] = []
    en: list[str] = []
    reasons: list[dict[str, Any]] = []
    if participant is None:
        reasons.append({"rule": "spill", "permille": permille(spill)})
        sv.append(f"{kommun(m.name)} hade inget önskemål men tar emot {sv_permille(spill)} av den andel som de "
                  "mottagande kommunerna inte kunde ta emot, i proportion till folkmängden.")
        en.append(f"{m.name} had no wish but receives {en_permille(spill)} of the share that the receiving "
                  "municipalities could not take, in proportion to its population.")
    else:
        _participant(m, ctx, participant, market, flows, spill, sv, en, reasons)
    if final == base:
        sv.append(f"Andelen är oförändrad, {sv_permille(base)}.")
        en.append(f"Its share is unchanged at {en_permille(base)}.")
    else:
        sv.append(f"Andelen ändras från {sv_permille(base)} till {sv_permille(final)}.")
        en.append(f"Its share changes from {en_permille(base)} to {en_permille(final)}.")
    money_sv, money_en = _money(ctx, base, final)
    sv.append(money_sv)
    en.append(money_en)
    if participant is not None and participant.gives:
        sv.append("Kommunen kan ändå anvisas barn som har anknytning till kommunen och barn som vidarebosätts, "
                  "oavsett andel.")
        en.append("The municipality can still be allocated children with ties to it, and resettled children, "
                  "whatever its share.")
    if ctx.illustrative:
        sv.append("Grundtabellen är illustrativ och inte Migrationsverkets beslut.")
        en.append("The base table is illustrative, not the Migration Agency's decision.")
    return {"reasons": reasons, "text_en": " ".join(en), "text_sv": " ".join(sv)}


def _participant(m: Municipality, ctx: Context, p: Participant, market: Market | None, flows: list[tuple[str, str, int]],
                 spill: int, sv: list[str], en: list[str], reasons: list[dict[str, Any]]) -> None:
    gives = p.gives
    mine = [(r, a) for g, r, a in flows if g == m.code] if gives else [(g, a) for g, r, a in flows if r == m.code]
    moved = sum(a for _, a in mine)
    reasons.append({"rule": "wish", "wish": p.kind, "stated_permille": permille(p.stated),
                    "effective_permille": permille(p.effective)})
    if gives and p.stated == p.base:
        sv.append(f"{kommun(m.name)} önskade omfördela hela sin andel, {sv_permille(p.stated)}.")
        en.append(f"{m.name} wished to redistribute all of its share, {en_permille(p.stated)}.")
    elif gives:
        sv.append(f"{kommun(m.name)} önskade omfördela {sv_permille(p.stated)} av sin andel.")
        en.append(f"{m.name} wished to redistribute {en_permille(p.stated)} of its share.")
    else:
        sv.append(f"{kommun(m.name)} önskade ta emot upp till {sv_permille(p.stated)}.")
        en.append(f"{m.name} wished to receive up to {en_permille(p.stated)}.")
    if not ctx.feasible:
        sv.append("Ingen tabell uppfyller alla regler i omfördelningen (diagnosen säger varför), så ingenting "
                  "omfördelas.")
        en.append("No table keeps every rule of the redistribution (the diagnosis says why), so nothing moves.")
        return
    for rule, amount in p.lowered_by:
        reasons.append({"rule": rule, "lowered_by_permille": permille(amount)})
        if rule in (LARGEST_ROOM, NO_COUNTERPART) and spill < 0:
            continue  # what no receiving municipality could take goes to the spill: said below
        if rule == LARGEST_ROOM and moved < p.capacity:
            continue  # the largest room did not end up limiting it: the common cut did
        why_sv, why_en = (_NO_COUNTERPART[gives] if rule == NO_COUNTERPART else
                          _LOWERED[rule] if rule != LARGEST_ROOM or ctx.one_receiver else _ALL_ROOM)
        verb_sv, verb_en = ("omfördelas", "redistributed") if gives else ("tas emot", "received")
        sv.append(f"{sv_permille(amount)} av detta kunde inte {verb_sv}, eftersom {why_sv}.")
        en.append(f"{en_permille(amount)} of it could not be {verb_en}, because {why_en}.")
    if not gives and 0 < p.capacity < p.effective:
        reasons.append({"rule": "offers_limited", "available_permille": permille(p.capacity)})
        sv.append(f"Kommunerna som den kan ta emot från kunde omfördela sammanlagt {sv_permille(p.capacity)}.")
        en.append(f"The municipalities it can receive from could redistribute {en_permille(p.capacity)} in all.")
    if market is not None and p.target < p.capacity:
        side = market.givers if gives else market.receivers
        wished = sum(q.capacity for q in side)
        reasons.append({"rule": "proportional_cut", "target_permille": permille(p.target),
                        "cut_permille": permille(p.capacity - p.target),
                        "proportion": round(float(Fraction(market.volume, wished)), 6) if wished else 0.0})
        # fulfilment is taken against the wishes as the rules leave them (docs/fairness.md): the market's one
        # proportion, the same in every participant's text
        pct = _pct(market.volume, sum(q.effective for q in side))
        # where rules lowered some wishes, the common proportion is of what could move, not of what was asked
        lowered = any(q.effective < q.stated for q in side)
        of_sv = (" av det som kunde omfördelas" if gives else " av det som kunde tas emot") if lowered else ""
        of_en = (" of what could be redistributed" if gives else " of what could be received") if lowered else ""
        if gives:
            sv.append("Önskemålen om att omfördela var större än de mottagande kommunernas utrymme, så alla minskades "
                      f"lika, till {pct} procent{of_sv}.")
            en.append("The wishes to redistribute were larger than the receiving municipalities' room, so all were "
                      f"reduced alike, to {pct} per cent{of_en}.")
        else:
            sv.append("De mottagande kommunernas utrymme var större än önskemålen om att omfördela, så alla "
                      f"minskades lika, till {pct} procent{of_sv}.")
            en.append("The receiving municipalities' room was larger than the wishes to redistribute, so all were "
                      f"reduced alike, to {pct} per cent{of_en}.")
    for other, amount in mine:
        reasons.append({"rule": "transfer", "to" if gives else "from": other, "permille": permille(amount),
                        "cross_county": ctx.municipalities[other].county_code != m.county_code})
    share = _pct(moved, p.stated)
    if spill < 0:  # the rest of its offer goes to the municipalities without a wish
        names_sv = _join([_other(o, m, ctx)[0] for o, _ in mine], "och") if mine else ""
        names_en = _join([_other(o, m, ctx)[1] for o, _ in mine], "and") if mine else ""
        total = moved - spill
        if mine:
            sv.append(f"Kommunen omfördelar {sv_permille(moved)} till {names_sv}.")
            en.append(f"It redistributes {en_permille(moved)} to {names_en}.")
        reasons.append({"rule": "spill", "permille": permille(spill)})
        sv.append(f"De {sv_permille(-spill)} som ingen mottagande kommun kunde ta emot fördelas på kommunerna utan "
                  f"önskemål efter folkmängd, så kommunen lämnar sammanlagt {sv_permille(total)} "
                  f"({_pct(total, p.stated)} procent av önskemålet).")
        en.append(f"The {en_permille(-spill)} that no receiving municipality could take is spread over the "
                  f"municipalities without a wish by population, so it gives {en_permille(total)} in all "
                  f"({_pct(total, p.stated)} per cent of its wish).")
    elif mine:
        names_sv = _join([_other(o, m, ctx)[0] for o, _ in mine], "och")
        names_en = _join([_other(o, m, ctx)[1] for o, _ in mine], "and")
        if gives:
            sv.append(f"Kommunen omfördelar {sv_permille(moved)} ({share} procent av önskemålet) till {names_sv}.")
            en.append(f"It redistributes {en_permille(moved)} ({share} per cent of its wish) to {names_en}.")
        else:
            sv.append(f"Kommunen tar emot {sv_permille(moved)} ({share} procent av önskemålet) från {names_sv}.")
            en.append(f"It receives {en_permille(moved)} ({share} per cent of its wish) from {names_en}.")
    elif gives:
        sv.append("Kommunen omfördelar ingenting.")
        en.append("It redistributes nothing.")
    else:
        sv.append("Kommunen tar inte emot något.")
        en.append("It receives nothing.")
    if moved != p.target and spill >= 0:
        rule = "one_receiver" if ctx.one_receiver else "smallest_transfer"
        reasons.append({"rule": rule, "target_permille": permille(p.target), "moved_permille": permille(moved)})
        if ctx.one_receiver:
            sv.append(f"Det blev {sv_permille(moved)} och inte {sv_permille(p.target)}, "
                      "eftersom varje kommun som omfördelar lämnar till en (1) mottagande kommun och andelar bara delas "
                      "i hundradelar av promille; därför kan kommuner med lika önskemål få olika belopp.")
            en.append(f"It came to {en_permille(moved)}, not {en_permille(p.target)}, "
                      "because each redistributing municipality gives to one (1) receiving municipality and shares "
                      "are divided in hundredths of a per mille only; so municipalities with equal wishes can get "
                      "different amounts.")
        else:
            sv.append(f"Det blev {sv_permille(moved)} och inte {sv_permille(p.target)}, eftersom den minsta "
                      "tillåtna överföringen inte medgav mer.")
            en.append(f"It came to {en_permille(moved)}, not {en_permille(p.target)}, because the smallest "
                      "transfer allowed did not permit more.")
    if p.partner is not None:
        reasons.append({"rule": "agreement", "partner": p.partner})
        partner = ctx.municipalities[p.partner].name
        sv.append(f"Kommunen har en överenskommelse med {kommun(partner)}, som därför är mottagande kommun.")
        en.append(f"It has an agreement with {partner}, which is therefore the receiving municipality.")
