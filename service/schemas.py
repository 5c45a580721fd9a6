"""Typed request and response bodies. Every list and string is bounded; unknown fields are refused."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

Code = Annotated[str, Field(pattern=r"^[0-9]{4}$", description="municipality code (kommunkod), four digits")]
CountyCode = Annotated[str, Field(pattern=r"^[0-9]{2}$", description="county code (länskod), two digits")]
# strict: a boolean, a padded string or an exponent is refused, not read as a number
Amount = Annotated[float, Field(ge=0, le=1000, strict=True)] | Annotated[
    str, Field(pattern=r"^(all|[0-9]{1,4}(\.[0-9]{1,2})?)$", description="'all', or per mille as text: 1.05"),
    AfterValidator(lambda s: s if s == "all" else float(s))]
MAX_WISHES = 290
# the database keeps naive UTC; answers carry the zone, as RFC 3339 asks
Instant = Annotated[datetime, AfterValidator(lambda d: d if d.tzinfo is not None else d.replace(tzinfo=UTC))]


def _whole(value: Any) -> Any:
    """A JSON number without a fraction (`7.0`) is a whole number, as JSON Schema's `integer` says; `true` stays
    refused (the models are strict)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def whole(least: int, most: int) -> Any:
    """A whole number within bounds (the bounds before the conversion, so the document states them)."""
    return Annotated[int, Field(ge=least, le=most), BeforeValidator(_whole)]


# per mille by municipality code; a key that is no code is refused by the document too, not only by the model
ShareMap = Annotated[dict[Code, Annotated[float, Field(ge=0, le=1000)]],
                     Field(max_length=290, json_schema_extra={"additionalProperties": False})]


class Strict(BaseModel):
    """A request body: unknown fields refused, and types as documented (no `false` for a whole number, no "1" for
    one; a whole number is still a number)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class Error(BaseModel):
    detail: str


class GiveBody(Strict):
    """A wish to omfördela (give away) share: an amount, or 'all'; a partner where an agreement names one."""

    wish: Literal["give"]
    amount_permille: Amount = Field(description="what the municipality offers, or 'all' (its whole share)")
    partner: Code | None = Field(default=None, description="the receiver an agreement already names")


# a receiver's amount: a number, never 'all'
Room = Annotated[float, Field(ge=0, le=1000, strict=True)] | Annotated[
    str, Field(pattern=r"^[0-9]{1,4}(\.[0-9]{1,2})?$", description="per mille as text: 1.05"), AfterValidator(float)]


class ReceiveBody(Strict):
    """A wish to take emot (receive) share: the most the municipality takes on top of its own; no partner."""

    wish: Literal["receive"]
    amount_permille: Room = Field(description="the most the municipality takes on top of its own share")
    partner: None = Field(default=None, description="a receiving municipality names no partner")


# the schema states the rules a client could otherwise only find by trying: 'all' and a partner are a giver's
WishBody = Annotated[GiveBody | ReceiveBody, Field(discriminator="wish")]


class GiveIn(GiveBody):
    code: Code


class ReceiveIn(ReceiveBody):
    code: Code


WishIn = Annotated[GiveIn | ReceiveIn, Field(discriminator="wish")]


class WishOut(BaseModel):
    code: str
    name: str
    county_code: str
    wish: str
    amount_permille: float | str
    partner: str | None
    updated_at: Instant
    updated_by: str


class Weights(Strict):
    unmet: float | None = Field(default=None, ge=0, le=1e6)
    unequal: float | None = Field(default=None, ge=0, le=1e6)
    population: float | None = Field(default=None, ge=0, le=1e6)
    cross_county: float | None = Field(default=None, ge=0, le=1e6)
    transfers: float | None = Field(default=None, ge=0, le=1e6)


class PolicyIn(Strict):
    """Every field is optional; a missing field takes the default of `solver.Policy`."""

    scope: Literal["national", "county"] | None = None
    objective: Literal["lexicographic", "leximin", "weighted"] | None = None
    weights: Weights | None = None
    spill: bool | None = None
    giver_floor_permille: float | None = Field(default=None, ge=0, le=1000)
    county_floor: float | None = Field(default=None, ge=0, le=2)
    receiver_cap: float | None = Field(default=None, gt=0, le=1000)
    one_receiver: bool | None = None
    binding_agreements: bool | None = None
    min_transfer_permille: float | None = Field(default=None, ge=0.01, le=1000)
    forecast: whole(0, 1_000_000) | None = Field(default=None)
    time_limit_s: float | None = Field(default=None, gt=0, le=3600, description="clamped by the server's limit")
    seed: whole(0, 2**31 - 1) | None = Field(default=None)

    def plain(self) -> dict[str, Any]:
        data = self.model_dump(exclude_none=True)
        if "weights" in data and not data["weights"]:
            del data["weights"]
        return data


class WhatIfIn(Strict):
    wishes: list[WishIn] = Field(default_factory=list, max_length=MAX_WISHES)
    policy: PolicyIn = Field(default_factory=PolicyIn)
    shares: ShareMap | None = Field(
        default=None, description="a base table to use instead of the round's or the default")
    backend: Literal["cpsat", "highs", "cbc"] = "cpsat"


class ProposalRequest(Strict):
    policy: PolicyIn = Field(default_factory=PolicyIn)
    backend: Literal["cpsat", "highs", "cbc"] = "cpsat"


class RoundIn(Strict):
    year: whole(2000, 2100)
    shares: ShareMap | None = Field(
        default=None, description="the base share table of the round; default the illustrative key")


class RoundOut(BaseModel):
    year: int
    state: Literal["open", "proposed", "finalised"]
    created_at: Instant
    created_by: str
    wishes: int
    proposals: list[int]
    finalised_proposal_id: int | None
    finalised_at: Instant | None
    base: Literal["illustrative", "given"]


class FinaliseIn(Strict):
    proposal_id: whole(1, 2**31 - 1)


class Municipality(BaseModel):
    code: str
    name: str
    county_code: str
    county_name: str
    population: int


class County(BaseModel):
    code: str
    name: str
    municipalities: int
    population: int


class ShareRow(BaseModel):
    code: str
    name: str
    county_code: str
    share_permille: float


class ShareTableOut(BaseModel):
    source: str
    illustrative: bool
    note: str
    shares: list[ShareRow]


class Explanation(BaseModel):
    reasons: list[dict[str, Any]] = []
    text_sv: str = ""
    text_en: str = ""


class ProposalShare(BaseModel):
    code: str
    name: str
    county_code: str
    wish: str | None
    base_permille: float
    proposed_permille: float
    delta_permille: float
    expected_children: int
    variable_compensation_sek: int
    explanation: Explanation


class Transfer(BaseModel):
    giver: str
    receiver: str
    permille: float
    cross_county: bool


class Status(BaseModel):
    termination: Literal["optimal", "time_limit", "infeasible", "error"]
    solution: Literal["optimal", "feasible", "none"]


class ProposalBody(BaseModel):
    """The proposal JSON of the command line (`andelstal propose --out x.json`)."""

    status: Status
    shares: list[ProposalShare]
    transfers: list[Transfer]
    spill: list[dict[str, Any]]
    objective: dict[str, Any]
    solver: dict[str, Any]
    diagnosis: list[dict[str, Any]]
    policy: dict[str, Any]
    base: dict[str, Any]
    wishes: list[dict[str, Any]]


class StoredProposal(BaseModel):
    id: int
    year: int
    created_at: Instant
    created_by: str
    finalised: bool
    inputs: dict[str, Any]
    proposal: ProposalBody


class ProposalSummary(BaseModel):
    id: int
    year: int
    created_at: Instant
    created_by: str
    termination: str
    solution: str
    finalised: bool


class Job(BaseModel):
    id: str
    kind: Literal["what-if", "proposal", "simulation", "sweep"]
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    created_at: Instant
    finished_at: Instant | None
    year: int | None
    proposal_id: int | None
    simulation_id: int | None = None
    sweep_id: int | None = None
    result: ProposalBody | None = None
    error: dict[str, Any] | None = None
    links: dict[str, str] = {}


class AuditEntry(BaseModel):
    id: int
    at: Instant
    actor: str
    role: str
    action: str
    year: int | None
    target: str | None
    detail: dict[str, Any]


class Health(BaseModel):
    status: Literal["ok"]
    database: str
    version: str


class SimulationParamsIn(Strict):
    """Every field is optional; a missing field takes the default of `solver.simulate.SimulationParams`."""

    years: whole(1, 50) | None = Field(default=None)
    arrivals: list[whole(0, 1_000_000)] | None = Field(default=None, min_length=1, max_length=50)
    arrivals_model: Literal["fixed", "poisson"] | None = None
    tie_share: float | None = Field(default=None, ge=0, le=1)
    tie_boost: ShareMap | None = None
    comparison: Literal["before", "after"] | None = None
    rule: Literal["equalising", "priority"] | None = None
    replicates: whole(1, 100_000) | None = Field(default=None)
    seed: whole(0, 2**31 - 1) | None = Field(default=None)
    mean_stay_days: float | None = Field(default=None, ge=0, le=10_000)
    tie_children_in_agency_housing: float | None = Field(default=None, ge=0, le=1)
    redistribution: Literal["once", "yearly"] | None = Field(
        default=None, description="once: the proposal holds the first year, the base table after; yearly: every year")
    history_children: whole(0, 10_000_000) | None = Field(
        default=None, description="allocations since 2016 assumed behind the country; each municipality starts on "
                                  "target in whole children")
    burn_in: list[whole(0, 1_000_000)] | None = Field(
        default=None, max_length=50, description="allocations a year before the simulated years (from 2016, e.g. the "
                                                 "published volumes): the rule is run from zero under the base table "
                                                 "over them to find where fulfilment starts; not with a history")


class HistoryRowIn(Strict):
    """One municipality's allocations since 1 January 2016 (the start of goal fulfilment)."""

    code: Code
    allocations: whole(0, 10_000_000)
    equalising: whole(0, 10_000_000) | None = Field(default=None, description="of them, equalising allocations")
    target: float | None = Field(default=None, gt=0, le=50_000_000,
                                 description="its share-weighted target so far, in children (given for every "
                                             "municipality or for none)")


class SimulationIn(Strict):
    # a stored proposal or a share table, not both (stated in the schema too)
    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"not": {
        "required": ["proposal_id", "shares"],
        "properties": {"proposal_id": {"not": {"type": "null"}}, "shares": {"not": {"type": "null"}}}}})

    @model_validator(mode="after")
    def _one_table(self) -> SimulationIn:
        if self.proposal_id is not None and self.shares is not None:
            raise ValueError("give proposal_id or shares, not both")
        return self

    proposal_id: whole(1, 2**31 - 1) | None = Field(default=None,
                                    description="simulate a stored proposal (its table, base, transfers and volunteers)")
    shares: ShareMap | None = Field(
        default=None, description="or a share table; default: today's (illustrative) table")
    volunteers: ShareMap | None = Field(
        default=None, description="room per volunteer in per mille, for the priority rule")
    capacity: Annotated[dict[Code, whole(0, 1_000_000)], Field(
        max_length=290, json_schema_extra={"additionalProperties": False})] | None = Field(
        default=None, description="children a year each volunteer takes first, as the round states it (default: "
                                  "its room × the year's forecast, rounded half up)")
    history: list[HistoryRowIn] | None = Field(
        default=None, max_length=290, description="each municipality's allocations since 2016 (default: every "
                                                  "municipality on target with parameters.history_children behind "
                                                  "the country)")
    against: Literal["base", "equalising", "priority"] | None = Field(
        default=None, description="side by side with the base table, or with the other rule")
    parameters: SimulationParamsIn = Field(default_factory=SimulationParamsIn)
    stress: list[whole(2, 100)] = Field(default_factory=list, max_length=5)


class SimulationOut(BaseModel):
    id: int
    created_at: Instant
    created_by: str
    request: dict[str, Any]
    result: dict[str, Any]


Scalar = StrictBool | StrictInt | StrictFloat | StrictStr  # a whole number stays whole (a seed of 1 is not 1.0)


class RangeIn(Strict):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    start: float = Field(alias="from")
    to: float
    step: float = Field(gt=0)


class GeneratedIn(Strict):
    count: whole(1, 20) = 1
    seed: whole(0, 2**31 - 1) = 0
    givers: whole(1, 200) = 40
    receivers: whole(1, 80) = 10


class GridWishesIn(Strict):
    sets: dict[Annotated[str, Field(max_length=60)], list[WishIn]] = Field(default_factory=dict, max_length=20)
    generated: GeneratedIn | None = None


class GridScenariosIn(Strict):
    forecast: list[whole(0, 1_000_000)] = Field(default=[500], min_length=1, max_length=20)
    stress: list[whole(0, 100)] = Field(default=[1], min_length=1, max_length=20)


class GridIn(Strict):
    """The grid file's content as JSON: policy axes (lists, {from, to, step} ranges or single values; weights
    as "weights.NAME"), wish sets given inline or generated, scenarios, and optional simulation."""

    policy: dict[Annotated[str, Field(max_length=40)],
                 Annotated[list[Scalar], Field(max_length=200)] | RangeIn | Scalar] = Field(default_factory=dict,
                                                                                          max_length=20)
    wishes: GridWishesIn
    scenarios: GridScenariosIn = Field(default_factory=GridScenariosIn)
    simulate: SimulationParamsIn | None = None


class SweepIn(Strict):
    grid: GridIn


class SweepOut(BaseModel):
    id: int
    state: Literal["queued", "running", "done", "failed", "cancelled"]
    total: int
    done: int
    created_at: Instant
    created_by: str
    finished_at: Instant | None
    job_id: str
    error: dict[str, Any] | None = None
    pareto: list[dict[str, Any]] | None = None
    links: dict[str, str] = {}


class Problem(BaseModel):
    """One entry of a 422 answer: where the problem is, which field, which municipality, and why."""

    loc: list[str | int] = Field(description="FastAPI's location: `body`, `query` or `path`, then the fields")
    msg: str = Field(description="the whole message, as the command line prints it")
    type: str = Field(description="always `value_error`")
    where: str = Field(description="`body`, a row of a list (`row 3`), a part of the body, `query` or `path`")
    field: str
    code: str | None = Field(description="the municipality the problem concerns, where there is one")
    reason: str
    language: Literal["en", "sv"] = Field(description="`sv` where the client asked for Swedish and the check "
                                                       "gives it")
    kind: Literal["schema", "rule"] = Field(description="`schema`: the request does not match this document; "
                                                        "`rule`: it does, but breaks a rule of the data that a "
                                                        "schema cannot state (a municipality missing from a share "
                                                        "table, a limit of this server)")

