"""Reading a policy (TOML or JSON): every field optional, every problem reported at once."""

from __future__ import annotations

import json
import tomllib
from fractions import Fraction
from pathlib import Path
from typing import Any

from solver.domain import InputError, InputProblem, ObjectiveMode, Policy, Scope, Weights, parse_permille

_FIELDS = {
    "scope", "objective", "weights", "spill", "giver_floor_permille", "county_floor", "receiver_cap",
    "one_receiver", "binding_agreements", "min_transfer_permille", "forecast", "time_limit_s", "seed",
    "num_workers",
}
_WEIGHT_FIELDS = set(Weights().to_dict())
MAX_TIME_LIMIT_S = 3600.0


def _fraction(value: Any, field: str, problems: list[InputProblem], *, low: Fraction, high: Fraction,
              strict_low: bool = False) -> Fraction | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        problems.append(InputProblem("policy", field, "must be a number or null"))
        return None
    try:
        number = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        problems.append(InputProblem("policy", field, f"must be a number, got {value!r}"))
        return None
    if number < low or number > high or (strict_low and number == low):
        bound = ">" if strict_low else "≥"
        problems.append(InputProblem("policy", field, f"must be {bound} {float(low):g} and ≤ {float(high):g}, got {value}"))
        return None
    return number


def _bool(data: dict[str, Any], field: str, default: bool, problems: list[InputProblem]) -> bool:
    value = data.get(field, default)
    if not isinstance(value, bool):
        problems.append(InputProblem("policy", field, f"must be true or false, got {value!r}"))
        return default
    return value


def _int(data: dict[str, Any], field: str, default: int, low: int, high: int, problems: list[InputProblem]) -> int:
    value = data.get(field, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        problems.append(InputProblem("policy", field, f"must be a whole number from {low} to {high}, got {value!r}"))
        return default
    return value


def _enum(data: dict[str, Any], field: str, kind: Any, default: Any, problems: list[InputProblem]) -> Any:
    value = data.get(field, default.value)
    try:
        return kind(value)
    except ValueError:
        allowed = " or ".join(repr(k.value) for k in kind)
        problems.append(InputProblem("policy", field, f"must be {allowed}, got {value!r}"))
        return default


def _permille(data: dict[str, Any], field: str, default: int, low: int, problems: list[InputProblem]) -> int:
    if field not in data:
        return default
    try:
        units = parse_permille(data[field])
    except ValueError as exc:
        problems.append(InputProblem("policy", field, str(exc)))
        return default
    if units < low:
        problems.append(InputProblem("policy", field, f"must be at least {low / 100:.2f}"))
        return default
    return units


def _weights(raw: Any, problems: list[InputProblem]) -> Weights:
    if raw is None:
        return Weights()
    if not isinstance(raw, dict):
        problems.append(InputProblem("policy", "weights", "must be a table of named weights"))
        return Weights()
    values = Weights().to_dict()
    for name, value in raw.items():
        if name not in _WEIGHT_FIELDS:
            known = ", ".join(sorted(_WEIGHT_FIELDS))
            problems.append(InputProblem("policy", f"weights.{name}", f"unknown term; known: {known}"))
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1_000_000:
            problems.append(InputProblem("policy", f"weights.{name}", f"must be a number from 0 to 1e6, got {value!r}"))
            continue
        values[name] = float(value)
    return Weights(**values)


def parse_policy(data: dict[str, Any] | None, **overrides: Any) -> Policy:
    """A Policy from a plain mapping (TOML/JSON/HTTP body); keyword overrides win (command-line flags)."""
    data = dict(data or {})
    data.update({k: v for k, v in overrides.items() if v is not None})
    problems: list[InputProblem] = []
    for name in sorted(set(data) - _FIELDS):
        problems.append(InputProblem("policy", name, f"unknown field; known: {', '.join(sorted(_FIELDS))}"))
    policy = Policy(
        scope=_enum(data, "scope", Scope, Scope.NATIONAL, problems),
        objective=_enum(data, "objective", ObjectiveMode, ObjectiveMode.LEXICOGRAPHIC, problems),
        weights=_weights(data.get("weights"), problems),
        spill=_bool(data, "spill", False, problems),
        giver_floor=_permille(data, "giver_floor_permille", 0, 0, problems),
        county_floor=_fraction(data.get("county_floor"), "county_floor", problems, low=Fraction(0), high=Fraction(2)),
        receiver_cap=_fraction(data.get("receiver_cap"), "receiver_cap", problems, low=Fraction(0), high=Fraction(1000),
                               strict_low=True),
        one_receiver=_bool(data, "one_receiver", True, problems),
        binding_agreements=_bool(data, "binding_agreements", True, problems),
        min_transfer=_permille(data, "min_transfer_permille", 1, 1, problems),
        forecast=_int(data, "forecast", 500, 0, 1_000_000, problems),
        time_limit_s=float(_fraction(data.get("time_limit_s", 5), "time_limit_s", problems, low=Fraction(0),
                                     high=Fraction(int(MAX_TIME_LIMIT_S)), strict_low=True) or 5),
        seed=_int(data, "seed", 0, 0, 2**31 - 1, problems),
        num_workers=_int(data, "num_workers", 1, 1, 64, problems),
    )
    if problems:
        raise InputError(problems, what="policy")
    return policy


def read_policy(path: str | Path | None, **overrides: Any) -> Policy:
    if path is None:
        return parse_policy({}, **overrides)
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise InputError([InputProblem(str(path), "file", "a policy must be .toml or .json")], what="policy")
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise InputError([InputProblem(str(path), "file", f"cannot be parsed: {exc}")], what="policy") from None
    if isinstance(data, dict) and "policy" in data and isinstance(data["policy"], dict) and len(data) == 1:
        data = data["policy"]
    if not isinstance(data, dict):
        raise InputError([InputProblem(str(path), "file", "must hold a table of policy fields")], what="policy")
    return parse_policy(data, **overrides)
