"""Bearer tokens and roles.

A token is 32 random bytes (256 bits) in URL-safe text. Only its HMAC-SHA256 under the server secret is
stored: with that much entropy a keyed hash cannot be reversed or guessed, and checking it costs
microseconds, not the hundreds of milliseconds a password hash would add to every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.db import Token, now

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

    @property
    def actor(self) -> str:
        return f"{self.name} (token {self.token_id})"


def digest(secret: str, token: str) -> str:
    return hmac.new(secret.encode(), token.encode(), hashlib.sha256).hexdigest()


def create_token(session: Session, secret: str, *, name: str, role: Role, county_code: str | None) -> tuple[Token, str]:
    """A new token; the plain text is returned once and never stored."""
    plain = PREFIX + secrets.token_urlsafe(32)
    row = Token(name=name, role=role.value, county_code=county_code, digest=digest(secret, plain))
    session.add(row)
    session.flush()
    return row, plain


def lookup(session: Session, secret: str, plain: str) -> Caller | None:
    row = session.scalar(select(Token).where(Token.digest == digest(secret, plain), Token.revoked_at.is_(None)))
    if row is None:
        return None
    return Caller(row.id, row.name, Role(row.role), row.county_code)


def revoke(session: Session, token_id: int) -> bool:
    row = session.get(Token, token_id)
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = now()
    return True
