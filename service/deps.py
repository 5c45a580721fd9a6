"""Request dependencies: the database session (one transaction per request), the caller, role checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from service.auth import Caller, Role, lookup, stale, touch
from service.db import AuditRow, reading
from service.problems import check_query
from service.runtime import Runtime
from service.schemas import Error

bearer = HTTPBearer(auto_error=False, description="a token from `andelstal tokens create`")


async def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


def db(request: Request, rt: Annotated[Runtime, Depends(runtime)]) -> Iterator[Session]:
    """One transaction per request: committed when the handler returns, rolled back when it raises.

    Used with `scope="function"` (see `Session_`): the commit then runs before the answer is sent, so a 2xx
    means committed and a failed commit is an error answer. The default scope commits after sending.
    """
    session = rt.sessions()
    if request.method in ("GET", "HEAD"):
        reading(session)
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


async def caller(request: Request, rt: Annotated[Runtime, Depends(runtime)],
                 credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "a bearer token is required",
                            headers={"WWW-Authenticate": "Bearer"})
    token = credentials.credentials[:200]
    # SQLite (in WAL mode, where a reader never waits for a writer) answers the lookup from a local index in
    # 0.34 ms (session included), so it runs here: a hop to the thread pool put the first of 16 simultaneous
    # what-ifs behind the others' parsing (its solve started 0.03 s later). A server database is a round trip:
    # the thread pool.
    found = _lookup(rt, token) if rt.engine.dialect.name == "sqlite" else await run_in_threadpool(_lookup, rt, token)
    if found is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "the token is unknown, revoked or expired",
                            headers={"WWW-Authenticate": "Bearer"})
    if stale(found):
        await run_in_threadpool(_touch, rt, found.token_id)
    check_query(request)  # only now: a caller without a token learns nothing of the operation's parameters
    return found


def _touch(rt: Runtime, token_id: int) -> None:
    with rt.sessions.begin() as session:
        touch(session, token_id)


def _lookup(rt: Runtime, token: str) -> Caller | None:
    """In a session of its own, so that no request keeps a pooled connection for its token while it waits (for a
    solve, say): with more waiting requests than the pool holds, the next would wait for a connection."""
    with rt.sessions() as session:
        return lookup(reading(session), rt.settings.secret, token)


def require(who: Caller, *roles: Role) -> Caller:
    """403 unless the caller has one of the roles (the API's dependencies and the pages both check here)."""
    if who.role not in roles:
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"the {who.role.value} role may not do this; allowed: {', '.join(r.value for r in roles)}")
    return who


def allow(*roles: Role):
    """A dependency that lets only the given roles through (403 for the others)."""

    async def check(who: Annotated[Caller, Depends(caller)]) -> Caller:
        return require(who, *roles)

    return check


Session_ = Annotated[Session, Depends(db, scope="function")]
Runtime_ = Annotated[Runtime, Depends(runtime)]
Anyone = Annotated[Caller, Depends(caller)]
Agency = Annotated[Caller, Depends(allow(Role.AGENCY))]
Officer = Annotated[Caller, Depends(allow(Role.AGENCY, Role.COUNTY))]


def audit(session: Session, who: Caller, action: str, *, year: int | None = None, target: str | None = None,
          **detail: Any) -> None:
    """An audit entry in the same transaction as the change it records."""
    session.add(AuditRow(actor=who.actor, role=who.role.value, action=action, year=year, target=target, detail=detail))


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Error, "description": "the body is not JSON (or not UTF-8)"},
    401: {"model": Error, "description": "missing, unknown or revoked token"},
    403: {"model": Error, "description": "the token's role or county does not allow this"},
    413: {"model": Error, "description": "the request body is larger than the server allows"},
}
