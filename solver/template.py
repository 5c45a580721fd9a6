"""The wish form of a county (`andelstal template`): an XLSX workbook a county board fills in and the command line
(`propose --wishes`) or the county page reads back.

One row per municipality of the county with its share; `Önskemål` is a drop-down (`Inget önskemål`, `Omfördela
bort`, `Ta emot`), `Promille` accepts a number above 0 or `alla`, `Mottagande kommun` is a drop-down of every
municipality as `code name`. Excel checks these as the officer types; the reader checks everything again.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from solver.domain import InputError, InputProblem, Municipality
from solver.shares import ShareTable

COLUMNS = ["Kod", "Kommun", "Andelstal (‰)", "Önskemål", "Promille", "Mottagande kommun"]
CHOICES = ["Inget önskemål", "Omfördela bort", "Ta emot"]
GUIDE = [
    ["Så fyller du i blanketten"],
    ["Välj Önskemål för varje kommun som vill omfördela bort del av sin andel eller ta emot mer: Omfördela bort "
     "eller Ta emot. Låt Inget önskemål stå för de andra."],
    ["Promille: hur mycket kommunen vill omfördela (högst sin andel, eller ”alla” för hela andelen) eller ta emot, "
     "i promille med högst två decimaler, t.ex. 1,05."],
    ["Mottagande kommun: bara om kommunen som omfördelar redan har en överenskommelse med en mottagande kommun."],
    ["Läs in blanketten med `andelstal propose --wishes önskemål.xlsx` eller på sidan Mitt län."],
]


def wish_form(municipalities: Sequence[Municipality], base: ShareTable, county: str, out: str | Path | BinaryIO) -> int:
    """Write the county's wish form; the number of municipalities in it. InputError for an unknown county."""
    from openpyxl import Workbook
    from openpyxl.styles import Font, Protection
    from openpyxl.worksheet.datavalidation import DataValidation

    members = [m for m in municipalities if m.county_code == county]
    if not members:
        known = ", ".join(sorted({m.county_code for m in municipalities}))
        raise InputError([InputProblem("command line", "--county", f"{county!r} is not a county code; one of {known}",
                                       sv=f"{county!r} är ingen länskod; en av {known}")], what="county")
    book = Workbook()
    sheet = book.active
    sheet.title = "Önskemål"
    sheet.append(COLUMNS)
    for m in members:
        sheet.append([m.code, m.name, base.units[m.code] / 100, CHOICES[0], None, None])
    last = len(members) + 1
    listing = book.create_sheet("Kommuner")
    listing.append(["Kommun"])
    for m in sorted(municipalities, key=lambda m: m.code):
        listing.append([f"{m.code} {m.name}"])
    listing.sheet_state = "hidden"
    guide = book.create_sheet("Instruktioner")
    for line in GUIDE:
        guide.append(line)
    guide["A1"].font = Font(bold=True)
    guide.column_dimensions["A"].width = 120

    wish = DataValidation(type="list", formula1='"' + ",".join(CHOICES) + '"', allow_blank=False,
                          errorTitle="Önskemål", error="Välj Inget önskemål, Omfördela bort eller Ta emot.",
                          showErrorMessage=True)
    amount = DataValidation(type="custom", formula1='OR(E2="",LOWER(E2)="alla",AND(ISNUMBER(E2),E2>0))',
                            errorTitle="Promille", showErrorMessage=True,
                            error="Skriv ett tal större än 0 med högst två decimaler, t.ex. 1,05, eller alla.")
    partner = DataValidation(type="list", formula1=f"=Kommuner!$A$2:$A${len(municipalities) + 1}", allow_blank=True,
                             errorTitle="Mottagande kommun", showErrorMessage=True,
                             error="Välj en kommun ur listan (kod och namn).")
    for validation, column in ((wish, "D"), (amount, "E"), (partner, "F")):
        sheet.add_data_validation(validation)
        validation.add(f"{column}2:{column}{last}")
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in sheet.iter_rows(min_row=2, max_row=last):
        row[2].number_format = "0.00"
        row[4].number_format = "0.00"
        for cell in row[3:]:
            cell.protection = Protection(locked=False)  # only the wish columns can be changed
    sheet.protection.sheet = True
    sheet.protection.formatColumns = False
    sheet.protection.autoFilter = False
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:F{last}"
    for column, width in zip("ABCDEF", (8, 22, 14, 18, 10, 26)):
        sheet.column_dimensions[column].width = width
    book.save(out)
    return len(members)
