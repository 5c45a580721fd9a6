"""Per-municipality explanations: structured reasons and one plain sentence in Swedish and in English."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from functools import lru_cache
from typing import Any

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

_LOWERED_EN = {
    GIVER_FLOOR: "the readiness floor a giver keeps",
    COUNTY_FLOOR: "the county's readiness floor",
    RECEIVER_CAP: "the cap relative to population",
    LARGEST_ROOM: "the one-receiver rule (no receiver has room for more)",
    MIN_TRANSFER: "the smallest transfer allowed",
    NO_COUNTERPART: "there was no counterpart in its market",
}
_LOWERED_SV = {
    GIVER_FLOOR: "den lägsta andel en givare behåller",
    COUNTY_FLOOR: "länets lägsta andel för beredskap",
    RECEIVER_CAP: "taket i förhållande till folkmängden",
    LARGEST_ROOM: "regeln om en mottagare (ingen mottagare har plats för mer)",
    MIN_TRANSFER: "den minsta tillåtna överföringen",
    NO_COUNTERPART: "det fanns ingen motpart i dess marknad",
}


def _sv(units: int) -> str:
    return format_permille(units).replace(".", ",") + " ‰"


def _en(units: int) -> str:
    return format_permille(units) + "‰"


def _pct(ratio: Fraction) -> str:
    return f"{round(float(ratio) * 100)}"


def _names(items: list[tuple[str, int]], names: Mapping[str, Municipality], fmt) -> str:
    return ", ".join(f"{names[c].name} ({fmt(a)})" for c, a in items)


@lru_cache(maxsize=4096)
def _kept(who: str, base: int) -> tuple[str, str]:
    """The sentences of a municipality without a wish that keeps its share, in English and Swedish: the same for
    every proposal on the same share table, so a process formats them once (they were a third of the national
    proposal's JSON)."""
    return (f"{who} had no wish and keeps its share of {_en(base)}.",
            f"{who} hade inget önskemål och behåller sin andel {_sv(base)}.")


def explain(code: str, municipalities: Mapping[str, Municipality], base: int, final: int,
            participant: Participant | None, market: Market | None, flows: list[tuple[str, str, int]],
            spill: int, one_receiver: bool) -> dict[str, Any]:
    """`flows` are this municipality's own transfers (giver, receiver, amount)."""
    m = municipalities[code]
    if participant is None and not spill:  # most municipalities
        text_en, text_sv = _kept(f"{m.name} ({code})", base)
        return {"reasons": [{"rule": "no_wish"}], "text_en": text_en, "text_sv": text_sv}
    who_en = who_sv = f"{m.name} ({code})"
    reasons: list[dict[str, Any]] = []
    base_en, base_sv = _en(base), _sv(base)
    change_en = f"its share goes from {base_en} to {_en(final)}."
    change_sv = f"andelen går från {base_sv} till {_sv(final)}."
    if participant is None:
        reasons.append({"rule": "spill", "permille": permille(spill)})
        return {"reasons": reasons,
                "text_en": f"{who_en} had no wish but takes {_en(spill)} of the share that volunteers could not "
                           f"place, in proportion to its population; {change_en}",
                "text_sv": f"{who_sv} hade inget önskemål men tar {_sv(spill)} av den andel som frivilliga inte "
                           f"kunde ta emot, i proportion till folkmängden; {change_sv}"}
    p = participant
    gives = p.gives
    mine = [(r, a) for g, r, a in flows if g == code] if gives else [(g, a) for g, r, a in flows if r == code]
    moved = sum(a for _, a in mine)
    reasons.append({"rule": "wish", "wish": p.kind, "stated_permille": permille(p.stated),
                    "effective_permille": permille(p.effective)})
    en: list[str] = []
    sv: list[str] = []
    if gives:
        en.append(f"{who_en} offered to give {_en(p.stated)}")
        sv.append(f"{who_sv} erbjöd sig att lämna {_sv(p.stated)}")
    else:
        en.append(f"{who_en} asked to receive up to {_en(p.stated)}")
        sv.append(f"{who_sv} önskade ta emot upp till {_sv(p.stated)}")
    for rule, amount in p.lowered_by:
        reasons.append({"rule": rule, "lowered_by_permille": permille(amount)})
        en.append(f"{_en(amount)} of it was ruled out by {_LOWERED_EN[rule]}")
        sv.append(f"{_sv(amount)} av detta uteslöts av {_LOWERED_SV[rule]}")
    for other, amount in mine:
        reasons.append({"rule": "transfer", "to" if gives else "from": other, "permille": permille(amount),
                        "cross_county": municipalities[other].county_code != m.county_code})
    ratio = Fraction(moved, p.effective) if p.effective else Fraction(0)
    verb_en, verb_sv = ("gives", "lämnar") if gives else ("receives", "tar emot")
    to_en, to_sv = ("to", "till") if gives else ("from", "från")
    if mine:
        en.append(f"it {verb_en} {_en(moved)} ({_pct(ratio)}% of its wish) {to_en} "
                  f"{_names(mine, municipalities, _en)}")
        sv.append(f"den {verb_sv} {_sv(moved)} ({_pct(ratio)} % av önskemålet) {to_sv} "
                  f"{_names(mine, municipalities, _sv)}")
    else:
        en.append(f"it {verb_en} nothing")
        sv.append(f"den {verb_sv} ingenting")
    if not gives and 0 < p.capacity < p.effective:
        reasons.append({"rule": "offers_limited", "available_permille": permille(p.capacity)})
        en.append(f"only {_en(p.capacity)} was offered by givers it can receive from")
        sv.append(f"endast {_sv(p.capacity)} erbjöds av givare som den kan ta emot från")
    if market is not None and p.target < p.capacity:
        side = market.givers if gives else market.receivers
        wished = sum(q.capacity for q in side)
        reasons.append({"rule": "proportional_cut", "target_permille": permille(p.target),
                        "cut_permille": permille(p.capacity - p.target),
                        "proportion": round(float(Fraction(market.volume, wished)), 6) if wished else 0.0})
        if gives:
            en.append("offers exceeded the room to receive, so every offer was cut by the same proportion "
                      f"(its fair part: {_en(p.target)})")
            sv.append("erbjudandena översteg utrymmet att ta emot, så varje erbjudande minskades i samma "
                      f"proportion (dess rättvisa del: {_sv(p.target)})")
        else:
            en.append("the room to receive exceeded the offers, so every wish was cut by the same proportion "
                      f"(its fair part: {_en(p.target)})")
            sv.append("utrymmet att ta emot översteg erbjudandena, så varje önskemål minskades i samma "
                      f"proportion (dess rättvisa del: {_sv(p.target)})")
    if moved != p.target:
        rule = "one_receiver" if one_receiver else "smallest_transfer"
        reasons.append({"rule": rule, "target_permille": permille(p.target), "moved_permille": permille(moved)})
        if one_receiver:
            en.append(f"because each giver gives to one receiver only, the amounts could not be split exactly, "
                      f"so it {verb_en} {_en(moved)} instead of {_en(p.target)}")
            sv.append(f"eftersom varje givare lämnar till endast en mottagare kunde beloppen inte delas exakt, "
                      f"så den {verb_sv} {_sv(moved)} i stället för {_sv(p.target)}")
        else:
            en.append(f"the smallest transfer allowed kept it at {_en(moved)} instead of {_en(p.target)}")
            sv.append(f"den minsta tillåtna överföringen höll den vid {_sv(moved)} i stället för {_sv(p.target)}")
    if spill < 0:
        reasons.append({"rule": "spill", "permille": permille(spill)})
        en.append(f"the {_en(-spill)} no volunteer could take is spread over the municipalities without a wish")
        sv.append(f"de {_sv(-spill)} som ingen frivillig kunde ta emot fördelas på kommunerna utan önskemål")
    if p.partner is not None:
        reasons.append({"rule": "agreement", "partner": p.partner})
        en.append(f"its agreement with {municipalities[p.partner].name} fixed the receiver")
        sv.append(f"dess överenskommelse med {municipalities[p.partner].name} bestämde mottagaren")
    return {"reasons": reasons,
            "text_en": "; ".join(en) + f"; {change_en}",
            "text_sv": "; ".join(sv) + f"; {change_sv}"}
