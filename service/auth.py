"""Bearer tokens and roles.

A token is 32 random bytes (256 bits) in URL-safe text. Only its HMAC-SHA256 under the server secret is
stored: with that much entropy a keyed hash cannot be reversed or guessed, and checking it costs
microseconds, not the hundreds of milliseconds a password hash would add to every request.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from service.db import PageSession, Token, now

PREFIX = "andel_"


class Role(str, Enum):
    AGENCY = "agency"  # the Migration Agency: everything
    COUNTY = "county"  # a county board officer: wishes of its own county, what-if, reading
    VIEWER = "viewer"  # reading only


@dataclass(frozen=True)
class Caller:
    token_id: int
    name: str
    role: Role
    county_code: str | None
    last_used_at: datetime | None = None

    @property
    def actor(self) -> str:
        return f"{self.name} (token {self.token_id})"


def digest(secret: str, token: str) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def create_token(session: Session, secret: str, *, name: str, role: Role, county_code: str | None,
                 expires_at: datetime | None = None, plain: str | None = None) -> tuple[Token, str]:
    """A new token; the plain text is returned once and never stored."""
    plain = plain or PREFIX + secrets.token_urlsafe(32)
    row = Token(name=name, role=role.value, county_code=county_code, digest=digest(secret, plain),
                expires_at=expires_at)
    session.add(row)
    session.flush()
    return row, plain


def development_token(session: Session, secret: str) -> tuple[str, bool]:
    """The development server's agency token: derived from the secret, so every start prints the same one and
    adds no row after the first (True when this start made it). A revoked one is not made again."""
    derived = base64.urlsafe_b64encode(hmac.new(secret.encode(), b"andelstal development token",
                                                hashlib.sha256).digest()).decode().rstrip("=")
    plain = PREFIX + derived
    if session.scalar(select(Token.id).where(Token.digest == digest(secret, plain))) is not None:
        return plain, False
    create_token(session, secret, name="development", role=Role.AGENCY, county_code=None, plain=plain)
    return plain, True


DURATION = re.compile(r"^(\d{1,5})([dh])$")


def parse_duration(text: str) -> timedelta:
    """`90d` or `12h` as a time span (an InputError's message names what is accepted)."""
    found = DURATION.match(text.strip())
    if found is None or int(found.group(1)) == 0:
        raise ValueError(f"{text!r} is not a duration: write a whole number of days or hours, e.g. 90d or 12h")
    amount = int(found.group(1))
    return timedelta(days=amount) if found.group(2) == "d" else timedelta(hours=amount)


def lookup(session: Session, secret: str, plain: str) -> Caller | None:
    """The caller of an active token: known, not revoked, not expired."""
    row = session.scalar(select(Token).where(Token.digest == digest(secret, plain), Token.revoked_at.is_(None),
                                             or_(Token.expires_at.is_(None), Token.expires_at > now())))
    if row is None:
        return None
    return Caller(row.id, row.name, Role(row.role), row.county_code, row.last_used_at)


def active(session: Session, token_id: int) -> Caller | None:
    """The caller of a token by its id, if it is still active (a page session ends when its token does)."""
    row = session.scalar(select(Token).where(Token.id == token_id, Token.revoked_at.is_(None),
                                             or_(Token.expires_at.is_(None), Token.expires_at > now())))
    return None if row is None else Caller(row.id, row.name, Role(row.role), row.county_code, row.last_used_at)


SESSION_HOURS = 8  # a working day: after that the officer enters the token again


def open_session(session: Session, secret: str, token_id: int) -> str:
    """A page session for a token; its cookie value (the session's id and its signature, never the token)."""
    row = PageSession(id=secrets.token_hex(16), token_id=token_id, expires_at=now() + timedelta(hours=SESSION_HOURS))
    session.add(row)
    return f"{row.id}.{_sign(secret, 'session', row.id)}"


def _session_id(secret: str, value: str) -> str | None:
    ident, _, signature = value.partition(".")
    if not ident or not same(signature, _sign(secret, "session", ident)):
        return None
    return ident


def session_caller(session: Session, secret: str, value: str) -> Caller | None:
    """The caller of a page session cookie: signed, not ended, not expired, and its token still active."""
    ident = _session_id(secret, value)
    if ident is None:
        return None
    row = session.get(PageSession, ident)
    if row is None or row.ended_at is not None or row.expires_at <= now():
        return None
    return active(session, row.token_id)


def end_session(session: Session, secret: str, value: str) -> None:
    ident = _session_id(secret, value)
    row = None if ident is None else session.get(PageSession, ident)
    if row is not None and row.ended_at is None:
        row.ended_at = now()


def csrf_value(secret: str, session: str) -> str:
    """The form token of a session (synchroniser pattern): a form posted from another site cannot know it."""
    return _sign(secret, "csrf", session)


def same(a: str, b: str) -> bool:
    """Constant-time equality of two texts, any characters (compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(a.encode(), b.encode())


def _sign(secret: str, purpose: str, text: str) -> str:
    mac = hmac.new(secret.encode(), f"{purpose}:{text}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


TOUCH_EVERY = timedelta(minutes=1)  # last use is recorded to the minute: a write per request would serialise reads


def stale(who: Caller) -> bool:
    return who.last_used_at is None or now() - who.last_used_at >= TOUCH_EVERY


def touch(session: Session, token_id: int) -> None:
    session.execute(update(Token).where(Token.id == token_id).values(last_used_at=now()))


def revoke(session: Session, token_id: int) -> bool:
    row = session.get(Token, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now()
    return True
