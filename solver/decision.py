"""The decision document (beslutsunderlag) of a proposal: HTML in Swedish, made into a PDF with WeasyPrint.

The method in plain words, the national summary (volume, fulfilment, transfers between counties, population
deviation, the variable compensation read both ways the report allows), a section per county and a page per
municipality that takes part, with its explanation. Built from the proposal JSON alone, so a stored proposal and
a file of `andelstal propose` give the same document.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from solver.compensation import VARIABLE_SEK_PER_EXPECTED_CHILD, expected_children
from solver.domain import TOTAL_UNITS, InputError, InputProblem, Municipality
from solver.redistribute.explain import kommun, sv_permille, sv_whole

METHOD = [
    "Varje kommun som vill omfördela bort en del av sin andel, och varje kommun som vill ta emot mer, anger ett "
    "önskemål i promille. Förslaget följer reglerna i rapporten: ingen kommun både omfördelar och tar emot, ingen "
    "omfördelar mer än den önskat och ingen tar emot mer än den önskat. Summan av alla andelar är alltid 1 000 "
    "promille.",
    "Önskemålen behandlas proportionerligt och likvärdigt: varje kommuns måluppfyllelse är hur stor del av "
    "önskemålet som uppfylls. Förslaget höjer först den lägsta måluppfyllelsen så långt det går, sedan den näst "
    "lägsta, och så vidare. Därefter omfördelas så mycket som möjligt, med så få överföringar mellan län och så få "
    "överföringar som möjligt, och andelarna hålls så nära befolkningens fördelning som möjligt. Det som ändå är "
    "lika avgörs av en fast ordning efter kommunkod, så att samma önskemål alltid ger samma förslag.",
    "Alla kommuner kan fortfarande anvisas barn som har anknytning till kommunen och barn som vidarebosätts, "
    "oavsett andel.",
]


def _policy_sentences(policy: dict[str, Any]) -> list[str]:
    """The rules this proposal was made under, in words: the method text follows the policy, not the defaults."""
    out = ["En kommun som omfördelar lämnar till en (1) mottagande kommun." if policy.get("one_receiver", True) else
           "En kommun som omfördelar får lämna till flera mottagande kommuner (regeln om en mottagande kommun är "
           "avstängd)."]
    out.append("Överenskommelser som redan finns mellan två kommuner gäller i sin helhet."
               if policy.get("binding_agreements", True) else
               "En överenskommelse begränsar bara vilken kommun som kan ta emot; beloppet följer ordningen ovan.")
    if policy.get("scope") == "county":
        out.append("Varje län omfördelar för sig; ingen andel går mellan län.")
    if policy.get("giver_floor_permille"):
        out.append(f"En kommun som omfördelar behåller minst {policy['giver_floor_permille']:.2f} ‰.".replace(".", ",", 1))
    if policy.get("county_floor") is not None:
        out.append(f"Varje län behåller minst {round(100 * policy['county_floor'])} procent av sin andel efter folkmängd.")
    if policy.get("receiver_cap") is not None:
        out.append(f"En mottagande kommuns andel blir högst {policy['receiver_cap']:g} gånger dess andel efter "
                   "folkmängd.".replace(".", ",", 1))
    if policy.get("spill"):
        out.append("Det som ingen mottagande kommun kan ta emot fördelas på kommunerna utan önskemål efter folkmängd.")
    return out

CSS = """
@page { size: A4; margin: 18mm 16mm; @bottom-right { content: "Sida " counter(page) " av " counter(pages); font-size: 8pt; } }
body { font-family: "DejaVu Sans", sans-serif; font-size: 9.5pt; line-height: 1.35; color: #111; }
h1 { font-size: 17pt; margin: 0 0 4mm; } h2 { font-size: 13pt; margin: 6mm 0 2mm; } h3 { font-size: 11pt; }
table { border-collapse: collapse; width: 100%; margin: 2mm 0 4mm; }
th, td { border-bottom: 0.4pt solid #777; padding: 1mm 1.5mm; text-align: left; vertical-align: top; }
td.n { text-align: right; white-space: nowrap; }
tr { page-break-inside: avoid; }
section.kommun { page-break-before: always; }
p.note { color: #333; font-size: 8.5pt; }
"""


WISH_SV = {"give": "omfördela bort", "receive": "ta emot"}


def _units(value: float) -> int:
    return round(value * 100)


def _county_table(rows: list[dict[str, Any]], county_names: dict[str, str], forecast: int) -> str:
    lines = []
    for county in sorted(county_names):
        members = [r for r in rows if r["county_code"] == county]
        before = sum(_units(r["base_permille"]) for r in members)
        after = sum(_units(r["proposed_permille"]) for r in members)
        wishes = sum(1 for r in members if r["wish"])
        lines.append(f"<tr><td>{escape(county_names[county])}</td><td class=n>{wishes}</td>"
                     f"<td class=n>{sv_permille(before)}</td><td class=n>{sv_permille(after)}</td>"
                     f"<td class=n>{sv_permille(after - before)}</td>"
                     f"<td class=n>{sum(expected_children(_units(r['base_permille']), forecast) for r in members)}</td>"
                     f"<td class=n>{sum(r['expected_children'] for r in members)}</td></tr>")
    return ("<table><tr><th>Län</th><th>Önskemål</th><th>Andel före</th><th>Andel efter</th><th>Förändring</th>"
            "<th>Förväntade barn före</th><th>Förväntade barn efter</th></tr>" + "".join(lines) + "</table>")


def compensation_readings(rows: list[dict[str, Any]], forecast: int) -> dict[str, int]:
    """The variable compensation both ways the report (2.5) describes: each municipality's expected children
    rounded, times 9 450 kr, summed; and the national amount, 9 450 kr times the forecast, shared by the shares."""
    rounded = sum(VARIABLE_SEK_PER_EXPECTED_CHILD * r["expected_children"] for r in rows)
    pot = VARIABLE_SEK_PER_EXPECTED_CHILD * forecast
    return {"rounded_sum": rounded, "national_pot": pot, "gap": rounded - pot}


def exact_share_of_pot(units: int, forecast: int) -> int:
    """A municipality's part of the national amount without rounding children, in whole kronor (halves up)."""
    scaled = VARIABLE_SEK_PER_EXPECTED_CHILD * forecast * units
    return (2 * scaled + TOTAL_UNITS) // (2 * TOTAL_UNITS)


def decision_html(data: dict[str, Any], municipalities: Sequence[Municipality], title: str = "") -> str:
    """The document as HTML (Swedish)."""
    if not isinstance(data, dict) or not isinstance(data.get("shares"), list) or "policy" not in data:
        raise InputError([InputProblem("proposal", "shares", "is not a proposal of `andelstal propose`",
                                       sv="är inte ett förslag från `andelstal propose`")], what="proposal")
    names = {m.code: m for m in municipalities}
    county_names = {m.county_code: m.county_name for m in municipalities}
    rows = data["shares"]
    forecast = int(data["policy"]["forecast"])
    transfers = data["transfers"]
    moved = sum(_units(t["permille"]) for t in transfers)
    offered = sum(_units(w["amount_permille"]) if w["amount_permille"] != "all" else
                  _units(next(r["base_permille"] for r in rows if r["code"] == w["code"]))
                  for w in data["wishes"] if w["wish"] == "give")
    room = sum(_units(w["amount_permille"]) for w in data["wishes"] if w["wish"] == "receive")
    cross = sum(1 for t in transfers if t["cross_county"])
    money = compensation_readings(rows, forecast)
    status = data["status"]
    proven = status["termination"] == "optimal"
    parts = [f"<!doctype html><html lang=sv><head><meta charset=utf-8><title>Beslutsunderlag</title>"
             f"<style>{CSS}</style></head><body>",
             f"<h1>Beslutsunderlag: omfördelning av andelstal{(' – ' + escape(title)) if title else ''}</h1>"]
    if status["solution"] == "none":
        parts.append("<p><strong>Inget förslag: ingen tabell uppfyller alla regler.</strong></p>")
        parts += [f"<p>{escape(d['text_sv'])}</p>" for d in data["diagnosis"]]
    parts.append("<h2>Metoden</h2>" + "".join(f"<p>{escape(p)}</p>" for p in METHOD)
                 + "<p>" + escape(" ".join(_policy_sentences(data["policy"]))) + "</p>")
    parts.append("<h2>Sammanfattning för hela landet</h2><table>"
                 f"<tr><td>Önskemål om att omfördela</td><td class=n>{sv_permille(offered)}</td></tr>"
                 f"<tr><td>Önskemål om att ta emot</td><td class=n>{sv_permille(room)}</td></tr>"
                 f"<tr><td>Omfördelat</td><td class=n>{sv_permille(moved)}</td></tr>"
                 f"<tr><td>Måluppfyllelse för att omfördela</td><td class=n>"
                 f"{round(100 * moved / offered) if offered else 100} procent</td></tr>"
                 f"<tr><td>Måluppfyllelse för att ta emot</td><td class=n>"
                 f"{round(100 * moved / room) if room else 100} procent</td></tr>"
                 f"<tr><td>Överföringar (varav mellan län)</td><td class=n>{len(transfers)} ({cross})</td></tr>"
                 f"<tr><td>Avvikelse från befolkningens fördelning (de deltagande kommunerna)</td><td class=n>"
                 f"{data['objective']['terms']['population_deviation_permille']:.2f} ‰".replace(".", ",") + "</td></tr>"
                 "</table>")
    parts.append(
        "<h3>Rörlig ersättning, två sätt att räkna</h3>"
        f"<p>Med prognosen {sv_whole(forecast)} barn är det nationella beloppet 9&nbsp;450 kr × {sv_whole(forecast)} = "
        f"{sv_whole(money['national_pot'])} kr, som fördelas efter andelarna. Räknas i stället varje kommuns "
        "förväntade antal barn avrundat till heltal och multipliceras med 9&nbsp;450 kr, som i rapportens exempel, "
        f"blir summan {sv_whole(money['rounded_sum'])} kr, {sv_whole(abs(money['gap']))} kr "
        f"{'mer' if money['gap'] >= 0 else 'mindre'} än det nationella beloppet. En kommun med liten andel kan "
        "då förlora eller få ett helt barns ersättning på en hundradels promille. Båda beloppen visas per kommun "
        "nedan.</p>")
    state = ("ingen tabell uppfyller reglerna" if status["solution"] == "none" else
             "bevisat bäst" if proven else "inte bevisat bäst inom arbetsgränsen")
    parts.append(f"<p class=note>Status: {state}. "
                 + ("Grundtabellen är illustrativ och inte Migrationsverkets beslut." if data["base"]["illustrative"]
                    else "") + "</p>")
    parts.append("<h2>Per län</h2>" + _county_table(rows, county_names, forecast))
    for county, county_name in sorted(county_names.items()):
        members = [r for r in rows if r["county_code"] == county and (r["wish"] or r["delta_permille"])]
        if not members:
            continue
        lines = "".join(
            f"<tr><td>{escape(kommun(r['name']))}</td><td>{WISH_SV.get(r['wish'], 'inget önskemål')}</td>"
            f"<td class=n>{sv_permille(_units(r['base_permille']))}</td>"
            f"<td class=n>{sv_permille(_units(r['proposed_permille']))}</td>"
            f"<td class=n>{sv_permille(_units(r['delta_permille']))}</td></tr>" for r in members)
        parts.append(f"<h3>{escape(county_name)}</h3><table><tr><th>Kommun</th><th>Önskemål</th><th>Andel före</th>"
                     f"<th>Andel efter</th><th>Förändring</th></tr>{lines}</table>")
    for r in rows:
        if not r["wish"]:
            continue  # a page per municipality that took part (those given spill are in the county sections)
        m = names[r["code"]]
        mine = [t for t in transfers if r["code"] in (t["giver"], t["receiver"])]
        lines = "".join(
            f"<tr><td>{escape(kommun(names[t['giver']].name))}</td><td>{escape(kommun(names[t['receiver']].name))} "
            f"({escape(names[t['receiver']].county_name)})</td><td class=n>{sv_permille(_units(t['permille']))}</td></tr>"
            for t in mine)
        base, final = _units(r["base_permille"]), _units(r["proposed_permille"])
        parts.append(
            f"<section class=kommun><h2>{escape(kommun(m.name))} ({m.code}), {escape(m.county_name)}</h2>"
            f"<p>{escape(r['explanation']['text_sv'])}</p><table>"
            f"<tr><td>Andel före</td><td class=n>{sv_permille(base)}</td></tr>"
            f"<tr><td>Andel efter</td><td class=n>{sv_permille(final)}</td></tr>"
            f"<tr><td>Förväntade barn före och efter</td><td class=n>{expected_children(base, forecast)} och "
            f"{r['expected_children']}</td></tr>"
            f"<tr><td>Rörlig ersättning, avrundat antal barn</td><td class=n>"
            f"{sv_whole(r['variable_compensation_sek'])} kr</td></tr>"
            f"<tr><td>Rörlig ersättning, andel av det nationella beloppet</td><td class=n>"
            f"{sv_whole(exact_share_of_pot(final, forecast))} kr</td></tr></table>"
            + (f"<table><tr><th>Omfördelar</th><th>Mottagande kommun</th><th>Andel</th></tr>{lines}</table>"
               if lines else "") + "</section>")
    parts.append("</body></html>")
    return "".join(parts)


def decision_pdf(data: dict[str, Any], municipalities: Sequence[Municipality], title: str = "") -> bytes:
    """The document as PDF. WeasyPrint needs Pango from the system (Debian: libpango-1.0-0, which
    scripts/ensure-system-packages installs); without it this raises RuntimeError saying so."""
    try:
        from weasyprint import HTML
    except OSError as exc:  # the Python package is there, the system library is not
        raise RuntimeError(f"the PDF needs the Pango library (Debian: apt-get install libpango-1.0-0 "
                           f"libpangoft2-1.0-0): {exc}") from None
    return HTML(string=decision_html(data, municipalities, title)).write_pdf()
