"""The decision document: made from a real proposal, the PDF's text read back (pypdf), in Swedish, with the
national summary, both readings of the compensation, every county and a page per participating municipality."""

from __future__ import annotations

import io
import json
import re
from decimal import Decimal

from pypdf import PdfReader

from solver.cli import main


def _text(pdf: bytes) -> tuple[str, int]:
    reader = PdfReader(io.BytesIO(pdf))
    return "\n".join(page.extract_text() for page in reader.pages), len(reader.pages)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " "))


def test_the_decision_document_of_a_proposal(tmp_path, capsys):
    wishes = tmp_path / "w.json"
    wishes.write_text(json.dumps({"wishes": [{"code": "0115", "wish": "give", "amount_permille": 3.0},
                                             {"code": "0125", "wish": "give", "amount_permille": 1.0},
                                             {"code": "0580", "wish": "receive", "amount_permille": 2.0}]}),
                      encoding="utf-8")
    proposal = tmp_path / "p.json"
    assert main(["propose", "--wishes", str(wishes), "--out", str(proposal), "--forecast", "500"]) == 0
    data = json.loads(proposal.read_text(encoding="utf-8"))
    out = tmp_path / "beslutsunderlag.pdf"
    assert main(["report", "--proposal", str(proposal), "--out", str(out), "--title", "2027"]) == 0
    pdf = out.read_bytes()
    assert pdf.startswith(b"%PDF")
    text, pages = _text(pdf)
    flat = _flat(text)
    assert "Beslutsunderlag: omfördelning av andelstal – 2027" in flat
    assert "Metoden" in flat and "proportionerligt och likvärdigt" in flat
    assert flat.count("Rörlig ersättning, andel av det nationella beloppet") == 3  # a page per participant
    assert "En kommun som omfördelar lämnar till en (1) mottagande kommun." in flat  # the policy, in words
    for r in data["shares"]:
        if r["wish"]:
            assert _flat(r["explanation"]["text_sv"])[:60] in flat  # each explanation, as written
    assert "Omfördelat 2,00 ‰" in flat
    assert "Stockholms län Kommun Önskemål Andel före Andel efter Förändring Vallentuna kommun omfördela bort" in flat
    for county in ("Stockholms län", "Östergötlands län", "Västernorrlands län"):
        assert county in flat
    # both readings of the compensation, computed here from the shares and the report's rule (2.5): each
    # municipality's children rounded half up, times 9 450 kr; and 9 450 kr times the forecast
    pot = 9_450 * 500
    rounded = sum(9_450 * int(Decimal(str(r["proposed_permille"])) * 500 / 1000 + Decimal("0.5")) for r in data["shares"])
    assert f"= {pot:,} kr".replace(",", " ") in flat
    assert f"blir summan {rounded:,} kr".replace(",", " ") in flat
    assert f"{abs(rounded - pot):,} kr {'mer' if rounded >= pot else 'mindre'}".replace(",", " ") in flat

    assert main(["report", "--proposal", str(wishes), "--out", str(tmp_path / "x.pdf")]) == 2
    assert "is not a proposal" in capsys.readouterr().err
    assert main(["report", "--proposal", str(proposal), "--out", str(tmp_path / "x.docx")]) == 2


def test_the_service_serves_the_decision_document(service):
    wishes = [{"code": "2262", "wish": "give", "amount_permille": "all"},
              {"code": "2260", "wish": "receive", "amount_permille": "2.00"}]
    http = service.client
    assert http.post("/v1/rounds", json={"year": 2033}, headers=service.as_("agency")).status_code == 201
    for w in wishes:
        body = {k: v for k, v in w.items() if k != "code"}
        assert http.put(f"/v1/rounds/2033/wishes/{w['code']}", json=body, headers=service.as_("agency")).status_code == 201
    job = http.post("/v1/rounds/2033/proposals", json={}, headers=service.as_("agency")).json()
    while job["state"] in ("queued", "running"):
        job = http.get(f"/v1/jobs/{job['id']}", headers=service.as_("agency")).json()
    answer = http.get(f"/v1/proposals/{job['proposal_id']}/report.pdf", headers=service.as_("viewer"))
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    flat = _flat(_text(answer.content)[0])
    assert f"omgång 2033, förslag {job['proposal_id']}" in flat
    assert "Timrå kommun (2262), Västernorrlands län" in flat
    assert http.get("/v1/proposals/999/report.pdf", headers=service.as_("viewer")).status_code == 404
    assert http.get(f"/v1/proposals/{job['proposal_id']}/report.pdf").status_code == 401
