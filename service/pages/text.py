"""The pages' words, Swedish first (the report's vocabulary) with English as the translation, and numbers as
each language writes them: decimal comma and ‰ with a space in Swedish."""

from __future__ import annotations

from datetime import datetime

LANGUAGES = ("sv", "en")

WORDS: dict[str, tuple[str, str]] = {
    "app": ("Omfördelning av andelstal", "Redistribution of allocation shares"),
    "token": ("Åtkomstnyckel", "Access key"),
    "login": ("Logga in", "Log in"),
    "logout": ("Logga ut", "Log out"),
    "login_help": ("Ange den åtkomstnyckel du har fått från Migrationsverket (skapad med `andelstal tokens create`).",
                   "Enter the access key you were given by the Migration Agency (made with `andelstal tokens create`)."),
    "login_failed": ("Nyckeln är okänd, återkallad eller har gått ut.", "The key is unknown, revoked or expired."),
    "login_needed": ("Logga in för att fortsätta.", "Log in to continue."),
    "language": ("In English", "På svenska"),
    "my_county": ("Mitt län", "My county"),
    "rounds": ("Omgångar", "Rounds"),
    "audit": ("Granskningslogg", "Audit log"),
    "round": ("Omgång", "Round"),
    "year": ("År", "Year"),
    "state": ("Läge", "State"),
    "open": ("öppen", "open"),
    "proposed": ("förslag finns", "proposed"),
    "finalised": ("fastställd", "finalised"),
    "create_round": ("Skapa omgång", "Create round"),
    "no_round": ("Det finns ingen öppen omgång. Migrationsverket skapar omgången för året.",
                 "There is no open round. The Migration Agency creates the year's round."),
    "municipality": ("Kommun", "Municipality"),
    "county": ("Län", "County"),
    "code": ("Kod", "Code"),
    "share": ("Andelstal", "Share"),
    "before": ("Andelstal före", "Share before"),
    "after": ("Andelstal efter", "Share after"),
    "change": ("Förändring", "Change"),
    "explanation": ("Förklaring", "Explanation"),
    "wish_for": ("Önskemål för", "Wish for"),
    "amount_for": ("Promille för", "Per mille for"),
    "partner_for": ("Mottagande kommun för", "Receiving municipality for"),
    "none": ("Inget önskemål", "No wish"),
    "give": ("Omfördela bort", "Redistribute away"),
    "receive": ("Ta emot", "Receive"),
    "save": ("Spara önskemål", "Save wishes"),
    "try": ("Prova förslag", "Try proposal"),
    "saved": ("Önskemålen är sparade.", "The wishes are saved."),
    "nothing_changed": ("Inget önskemål ändrades.", "No wish was changed."),
    "whatif_note": ("Ett prov: ingenting har sparats. Förslaget räknar med omgångens övriga önskemål och dina ändringar.",
                    "A trial: nothing was stored. The proposal uses the round's other wishes and your edits."),
    "errors_below": ("Något behöver rättas; se fälten nedan. Ingenting har sparats.",
                     "Something needs correcting; see the fields below. Nothing was stored."),
    "amount_help": ("Promille med högst två decimaler, t.ex. 1,05; ”alla” för hela andelen.",
                    "Per mille with at most two decimals, e.g. 1.05; “all” for the whole share."),
    "partner_help": ("Valfritt: kod eller namn på en kommun som redan har sagt ja.",
                     "Optional: code or name of a municipality that has already agreed."),
    "national": ("Hela landet", "The whole country"),
    "moved": ("Omfördelat", "Redistributed"),
    "transfers": ("Överföringar", "Transfers"),
    "cross_county": ("mellan län", "between counties"),
    "from": ("Från kommun", "From municipality"),
    "to": ("Till mottagande kommun", "To receiving municipality"),
    "children": ("Förväntade barn", "Expected children"),
    "compensation": ("Ersättning (kr)", "Compensation (SEK)"),
    "chart": ("Förändring av andelstal", "Change in shares"),
    "status": ("Status", "Status"),
    "proven": ("bevisat bäst", "proven best"),
    "unproven": ("inte bevisat bäst inom arbetsgränsen", "not proven best within the work limit"),
    "no_table": ("Ingen tabell uppfyller villkoren.", "No table meets the rules."),
    "wishes_entered": ("Önskemål", "Wishes"),
    "last_change": ("Senast ändrad", "Last change"),
    "by": ("av", "by"),
    "proposals": ("Förslag", "Proposals"),
    "compute": ("Beräkna förslag", "Compute proposal"),
    "job": ("Beräkning", "Computation"),
    "queued": ("i kö", "queued"),
    "running": ("pågår", "running"),
    "done": ("klar", "done"),
    "failed": ("misslyckades", "failed"),
    "cancelled": ("avbruten", "cancelled"),
    "cancel": ("Avbryt", "Cancel"),
    "show_proposal": ("Visa förslaget", "Show the proposal"),
    "proposal": ("Förslag", "Proposal"),
    "created": ("Skapad", "Created"),
    "compare": ("Jämför förslag", "Compare proposals"),
    "compare_a": ("Förslag A", "Proposal A"),
    "compare_b": ("Förslag B", "Proposal B"),
    "compare_equal": ("Förslagen är lika för varje kommun.", "The proposals are equal for every municipality."),
    "finalise": ("Fastställ", "Finalise"),
    "finalise_confirm": ("Fastställa förslag {p} för omgång {y}? Omgången stängs då för ändringar; det går inte att ångra.",
                         "Finalise proposal {p} for round {y}? The round then closes to changes; this cannot be undone."),
    "export": ("Ladda ned", "Download"),
    "when": ("Tidpunkt", "Time"),
    "actor": ("Vem", "Who"),
    "action": ("Händelse", "Action"),
    "target": ("Gäller", "Concerns"),
    "filter": ("Filtrera", "Filter"),
    "all": ("alla", "all"),
    "read_only": ("Du har läsbehörighet: ingenting kan ändras härifrån.", "You may read only: nothing can be changed here."),
    "forbidden": ("Din behörighet räcker inte för detta.", "Your role does not allow this."),
    "not_found": ("Finns inte.", "Not found."),
    "conflict": ("Det gick inte: läget har ändrats.", "That was not possible: the state has changed."),
    "csrf": ("Formuläret har gått ut. Ladda om sidan och försök igen.", "The form has expired. Reload the page and try again."),
    "illustrative": ("Grundtabellen är illustrativ (beräknad med projektets nyckel), inte Migrationsverkets beslut.",
                     "The base table is illustrative (computed with the project's key), not the Migration Agency's decision."),
    "choose_county": ("Välj län", "Choose county"),
    "show": ("Visa", "Show"),
}


def word(language: str, key: str, **values: object) -> str:
    sv, en = WORDS[key]
    text = sv if language == "sv" else en
    return text.format(**values) if values else text


def permille(language: str, value: float | int | None, *, units: bool = False, signed: bool = False) -> str:
    """A share: `4,52 ‰` in Swedish, `4.52‰` in English (`units`: the value is in 0.01‰)."""
    if value is None:
        return ""
    number = value / 100 if units else value
    text = f"{number:+.2f}" if signed else f"{number:.2f}"
    if text in ("+0.00", "-0.00"):
        text = "0.00"
    if language == "sv":
        return text.replace("-", "−").replace(".", ",") + " ‰"
    return text + "‰"


def whole(language: str, value: int | None) -> str:
    """A whole number with the language's thousands separator (a no-break space in Swedish)."""
    if value is None:
        return ""
    text = f"{value:,}"
    return text.replace(",", "\u00a0").replace("-", "−") if language == "sv" else text


def moment(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M")
