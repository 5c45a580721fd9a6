"""Every 422 in the command line's form: each problem with where it is (the row of a list), the municipality,
the field and the reason, whether the schema or the solver's own checks found it, all of them at once."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError

from solver.domain import InputError, InputProblem, Municipality, Policy
from solver.shares import ShareTable


def swedish(accept_language: str | None) -> bool:
    """Whether the client asks for Swedish first (Accept-Language: sv, sv-SE, ...)."""
    first = (accept_language or "").split(",")[0].strip().lower()
    return first == "sv" or first.startswith("sv-")


def problem_detail(p: InputProblem, prefix: Sequence[str | int] = ("body",),
                   loc: Sequence[str | int] | None = None, sv: bool = False, kind: str = "rule") -> dict[str, Any]:
    """One problem as a 422 entry: FastAPI's `loc`, `msg` and `type`, and the command line's four fields; in
    Swedish where the client asks for it and the check gives it (`language` says which). `kind` tells a request
    that does not match the OpenAPI document ("schema") from one that does but breaks a rule of the data that a
    schema cannot state ("rule": a municipality missing from a share table, a limit of this server)."""
    where = list(loc) if loc is not None else ["body", p.field] if p.where == "body" else [*prefix, p.where, p.field]
    entry = {"loc": where, "msg": p.message, "type": "value_error", **p.to_dict(), "language": "en", "kind": kind}
    if sv and p.reason_sv is not None:
        entry.update(msg=p.message_sv, reason=p.reason_sv, language="sv")
    return entry


SCHEMA_SV = {  # the schema's reasons (pydantic's error types) in Swedish
    "missing": "saknas",
    "unknown_parameter": "är ingen parameter för den här åtgärden",
    "extra_forbidden": "okänt fält",
    "greater_than_equal": "ska vara minst {ge}",
    "less_than_equal": "får vara högst {le}",
    "greater_than": "ska vara mer än {gt}",
    "less_than": "ska vara mindre än {lt}",
    "string_pattern_mismatch": "har fel form (ska följa mönstret {pattern})",
    "literal_error": "ska vara {expected}",
    "int_type": "ska vara ett heltal",
    "float_type": "ska vara ett tal",
    "bool_type": "ska vara true eller false",
    "string_type": "ska vara text",
    "too_long": "får ha högst {max_length} element",
    "too_short": "ska ha minst {min_length} element",
    "dict_type": "ska vara ett objekt",
    "list_type": "ska vara en lista",
    "json_invalid": "är inte giltig JSON",
    "model_attributes_type": "ska vara ett objekt",
    "union_tag_invalid": "ska vara {expected_tags}",
    "union_tag_not_found": "saknas",
}


def _reason_sv(error: dict[str, Any]) -> str | None:
    template = SCHEMA_SV.get(error.get("type", ""))
    if template is None:
        return None
    try:
        return template.format(**{k: str(v).replace(" or ", " eller ") for k, v in (error.get("ctx") or {}).items()})
    except (KeyError, IndexError):
        return None


def schema_problems(errors: Sequence[dict[str, Any]], body: Any, sv: bool = False) -> list[dict[str, Any]]:
    """The schema's findings as 422 entries: one per field (a union's branches are told as one reason), a list's
    item named by its row (from 1) and, where the item names one, its municipality."""
    merged: dict[tuple[str, str, str | None], list[str]] = {}
    merged_sv: dict[tuple[str, str, str | None], list[str | None]] = {}
    places: dict[tuple[str, str, str | None], list[Any]] = {}
    for e in errors:
        where, field, code, place = _place(e, body)
        reasons = merged.setdefault((where, field, code), [])
        places.setdefault((where, field, code), place)
        reason = e.get("msg", "invalid")
        if reason not in reasons:
            reasons.append(reason)
            merged_sv.setdefault((where, field, code), []).append(_reason_sv(e))
    out = []
    for key, reasons in merged.items():
        where, field, code = key
        in_sv = merged_sv[key]
        reason_sv = "; eller ".join(r for r in in_sv if r) if all(in_sv) else None
        out.append(problem_detail(InputProblem(where, field, "; or ".join(reasons), code=code, sv=reason_sv),
                                  loc=places[key], sv=sv, kind="schema"))
    return out


def _place(e: dict[str, Any], body: Any) -> tuple[str, str, str | None, list[Any]]:
    """Where an error is, as the command line says it (where, field, municipality), and its `loc`."""
    source = str(next(iter(e.get("loc", ())), "body"))
    if source in ("query", "path", "header"):  # a parameter: named as it is, nothing of the body to find
        return source, str(e["loc"][1]) if len(e["loc"]) > 1 else source, None, list(e["loc"])
    loc = _in_body(list(e.get("loc", ()))[1:], body, e.get("type") == "missing")
    if e.get("type") in ("union_tag_invalid", "union_tag_not_found"):  # the field that chooses the kind
        loc.append(str((e.get("ctx") or {}).get("discriminator", "")).strip("'"))
    for i, part in enumerate(loc):
        if isinstance(part, int):  # an item of a list: its row, and the field inside it
            listed = ".".join(str(p) for p in loc[:i])
            where = f"row {part + 1}" if listed == "wishes" else f"{listed} row {part + 1}"  # as the CLI says
            item = _item(body, loc[:i + 1])
            code = item.get("code") if isinstance(item, dict) and isinstance(item.get("code"), str) else None
            return where, str(loc[i + 1]) if i + 1 < len(loc) else listed, code, ["body", *loc]
    return "body", ".".join(str(p) for p in loc) or "body", None, ["body", *loc]


def _in_body(loc: list[Any], body: Any, missing: bool) -> list[Any]:
    """The part of an error's location that names places in the body: pydantic appends the branch of a union it
    tried (`float`, `function-after[...]`), which is no field of the request; a missing field is kept."""
    out: list[Any] = []
    node = body
    for i, part in enumerate(loc):
        if isinstance(node, dict) and part in node or isinstance(node, list) and isinstance(part, int) and \
                0 <= part < len(node):
            out.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and i + 1 < len(loc):
            continue  # the tag of a discriminated union (a wish's `give` or `receive`): no field of the body
        else:
            if missing:
                out.append(part)
            break
    return out


def _item(body: Any, path: Sequence[str | int]) -> Any:
    for part in path:
        try:
            body = body[part]
        except (KeyError, IndexError, TypeError):
            return None
    return body


def wish_rows_problems(errors: Sequence[dict[str, Any]], body: Any, municipalities: Sequence[Municipality],
                       base: ShareTable) -> list[InputProblem]:
    """What the solver's own checks find in a wish list's rows that the schema let through (an unknown code, a
    municipality that both gives and receives, an offer above its share), so that a 422 lists them beside the
    schema's findings instead of after the next try."""
    from solver.wishes import parse_wishes

    wishes = body.get("wishes") if isinstance(body, dict) else None
    if not isinstance(wishes, list):
        return []
    refused = {e["loc"][2] for e in errors if len(e.get("loc", ())) > 2 and tuple(e["loc"][:2]) == ("body", "wishes")
               and isinstance(e["loc"][2], int)}
    rows = [dict(w, _row=i + 1) for i, w in enumerate(wishes) if i not in refused and isinstance(w, dict)]
    try:
        parse_wishes(rows, municipalities, base, Policy())
    except InputError as exc:
        return [p for p in exc.problems if not p.where.startswith("row ") or int(p.where[4:]) - 1 not in refused]
    return []


async def unknown_query(request: Request) -> None:
    """A dependency for the routes without a token (health, metrics); `check_query` for the rest."""
    check_query(request)


def check_query(request: Request) -> None:
    """Refuse query parameters the operation does not have: a misspelt `?fromat=csv` would otherwise be ignored
    silently and answer something the caller did not ask for. Called once the token is accepted (deps.caller), so
    a caller without one meets 401 and learns nothing of the parameters."""
    route = request.scope.get("route")
    if route is None or not hasattr(route, "dependant"):
        return
    known = _query_names(route.dependant)
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        raise RequestValidationError([{"loc": ("query", name), "type": "unknown_parameter", "input": None,
                                       "msg": f"is not a parameter of this operation (it has: "
                                              f"{', '.join(sorted(known)) or 'none'})"} for name in unknown])


def _query_names(dependant: Dependant) -> set[str]:
    return {p.alias for p in dependant.query_params}.union(*(_query_names(d) for d in dependant.dependencies))
