"""Tokens from the command line and at the server's start: expiry, last use, the development token kept."""

from __future__ import annotations

import re

from service.cli import main
from tests.server import Server


def test_tokens_with_an_expiry_are_listed_with_their_state(tmp_path, capsys):
    url = ["--database-url", f"sqlite:///{tmp_path}/t.db"]
    assert main(["tokens", "create", "--role", "viewer", "--expires-in", "90d", *url]) == 0
    assert "expires 20" in capsys.readouterr().out
    assert main(["tokens", "create", "--role", "county", "--county", "22", *url]) == 0
    assert "does not expire" in capsys.readouterr().out
    assert main(["tokens", "list", *url]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert rows[0].split("\t") == ["id", "name", "role", "county", "state", "expires", "last used"]
    assert rows[1].split("\t")[4:6][0] == "active" and rows[1].split("\t")[5] != "-"
    assert rows[2].split("\t")[5:] == ["-", "-"]
    for bad in ("soon", "0d", "12m"):
        assert main(["tokens", "create", "--role", "viewer", "--expires-in", bad, *url]) == 2
        assert "--expires-in" in capsys.readouterr().err


def test_the_development_token_is_the_same_at_every_start(tmp_path, capsys):
    server = Server(f"sqlite:///{tmp_path}/dev.db", tmp_path)
    printed = []
    for _ in range(2):
        server.start()
        server.stop()
        log = (tmp_path / "server.log").read_text()
        printed = re.findall(r"^(andel_\S+)$", log, flags=re.MULTILINE)
    assert len(printed) >= 2 and len(set(printed)) == 1  # (a start retried on another port prints it again)
    assert main(["tokens", "list", "--database-url", f"sqlite:///{tmp_path}/dev.db"]) == 0
    assert [r.split("\t")[1] for r in capsys.readouterr().out.splitlines()[1:]] == ["development"]
