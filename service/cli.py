"""The `andelstal` command: the solver's commands (solver/cli.py) and the service's own, `serve` and `tokens`,
which this package mounts on them. The project's entry point, so the solver never imports the service."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from solver.cli import main as solver_main
from solver.data import load_municipalities
from solver.domain import InputError, InputProblem


def _settings(args: argparse.Namespace):
    from service.settings import Settings

    return Settings.from_env(database_url=args.database_url)


def cmd_serve(args: argparse.Namespace) -> int:
    import gc

    import uvicorn

    from service.app import create_app
    from service.auth import development_token
    from service.runtime import Runtime

    settings = _settings(args)
    runtime = Runtime.start(settings)
    app = create_app(settings, runtime)
    runtime.warm_up()  # the solver and its data, loaded before the first request needs them (0.1 s)
    # what start-up made lives as long as the process (modules, the app, the data: 189,000 objects), so it is
    # frozen out of the garbage collector: a full collection walked it in 0.11 to 0.15 s, and in a fresh server
    # one fell inside the first national what-if
    gc.collect()
    gc.freeze()
    print(f"andelstal service on http://{args.host}:{args.port} (database {runtime.engine.dialect.name}, "
          f"{settings.environment})", flush=True)
    print(f"web pages (Swedish; log in with a token): http://{args.host}:{args.port}/app", flush=True)
    if not settings.production:
        print(f"API documentation: http://{args.host}:{args.port}/docs")
        with runtime.sessions.begin() as session:
            token, _ = development_token(session, settings.secret)
        print("development token (agency role; the same at every start; revoke with `andelstal tokens revoke`):")
        print(token, flush=True)
    try:
        uvicorn.run(app, host=args.host, port=args.port, log_level="warning" if args.quiet else "info")
    finally:
        runtime.close()
    return 0


def cmd_tokens(args: argparse.Namespace) -> int:
    from service.auth import Role, create_token, parse_duration, revoke
    from service.db import Token, now
    from service.runtime import Runtime

    runtime = Runtime.start(_settings(args))
    try:
        with runtime.sessions.begin() as session:
            if args.action == "create":
                role = Role(args.role)
                counties = {m.county_code for m in load_municipalities()}
                if (role is Role.COUNTY) != (args.county is not None) or (args.county and args.county not in counties):
                    raise InputError([InputProblem("command line", "--county", "a county token needs --county with one "
                                                   "of the 21 county codes; other roles take none")])
                try:
                    expires = None if args.expires_in is None else now() + parse_duration(args.expires_in)
                except ValueError as exc:
                    raise InputError([InputProblem("command line", "--expires-in", str(exc))]) from None
                row, token = create_token(session, runtime.settings.secret, name=args.name or role.value, role=role,
                                          county_code=args.county, expires_at=expires)
                print(f"token {row.id} for {row.name}: role {row.role}" + (f", county {row.county_code}"
                                                                             if row.county_code else "")
                      + (f", expires {expires:%Y-%m-%d %H:%M} UTC" if expires else ", does not expire"))
                print("store it now; only its hash is kept:")
                print(token)
            elif args.action == "list":
                print("id\tname\trole\tcounty\tstate\texpires\tlast used")
                for row in session.query(Token).order_by(Token.id):
                    expired = row.expires_at is not None and row.expires_at <= now()
                    state = (f"revoked {row.revoked_at:%Y-%m-%d}" if row.revoked_at else "expired" if expired
                             else "active")
                    when = [f"{t:%Y-%m-%d %H:%M}" if t else "-" for t in (row.expires_at, row.last_used_at)]
                    print(f"{row.id}\t{row.name}\t{row.role}\t{row.county_code or '-'}\t{state}\t{when[0]}\t{when[1]}")
            else:
                if not revoke(session, args.id):
                    raise InputError([InputProblem("command line", "id", f"no active token {args.id}")])
                print(f"token {args.id} revoked")
    finally:
        runtime.close()
    return 0


def mount(sub: Any) -> None:
    """Add `serve` and `tokens` to the command's subcommands."""
    database = argparse.ArgumentParser(add_help=False)  # the service's database, for serve and tokens
    database.add_argument("--database-url", help="e.g. sqlite:///var/andelstal.db or postgresql://user@host/db")
    p = sub.add_parser("serve", parents=[database],
                       help="start the HTTP service (SQLite under var/ unless --database-url)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--quiet", action="store_true", help="log warnings only")
    p.set_defaults(func=cmd_serve)
    p = sub.add_parser("tokens", help="create, list or revoke bearer tokens of the service")
    tokens = p.add_subparsers(dest="action", required=True)
    t = tokens.add_parser("create", parents=[database], help="a new token; printed once, as the last line")
    t.add_argument("--role", required=True, choices=["agency", "county", "viewer"])
    t.add_argument("--county", help="the county code of a county officer's token, e.g. 22")
    t.add_argument("--name", help="who holds it, for the audit log")
    t.add_argument("--expires-in", help="how long it is valid, e.g. 90d or 12h (default: until revoked)")
    tokens.add_parser("list", parents=[database], help="every token, without its secret")
    t = tokens.add_parser("revoke", parents=[database], help="revoke a token by its id")
    t.add_argument("id", type=int)
    p.set_defaults(func=cmd_tokens)


def main(argv: list[str] | None = None) -> int:
    from service.settings import SettingsError

    return solver_main(argv, mount=mount, bad_input=(SettingsError,))


if __name__ == "__main__":
    sys.exit(main())
