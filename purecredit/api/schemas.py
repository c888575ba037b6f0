"""The gateway's fixed output schemas (results only) and strict request bodies.

Request bodies refuse unknown fields and wrong types (no string-to-number coercion), so a
malformed request gets a 422 naming its field rather than a guess. Responses carry results
only: decisions, reason codes, masked summaries, opaque references; never a resident ID
number, a name or a phone.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr

BranchCode = Annotated[StrictStr, Field(pattern=r"^[0-9A-Za-z]{1,9}$", examples=["341602001"])]
SubjectId = Annotated[
    StrictStr,
    Field(
        min_length=15,
        max_length=18,
        description="Resident ID number (GB 11643) or unified social credit code (GB 32100).",
    ),
]


def _json_integer(value: object) -> object:
    # JSON Schema's "integer" is any number with no fractional part, so 95.0 is one (as the
    # fuzzer's clients send it); strings and booleans still are not.
    return int(value) if isinstance(value, float) and value.is_integer() else value


WholeNumber = Annotated[StrictInt, BeforeValidator(_json_integer)]
# The counter's CONSENT_SOURCES (a test pins that they agree).
Source = Literal["credit_bureau", "government", "tax", "social", "bank"]
Money = Annotated[
    StrictStr,
    Field(pattern=r"^[0-9]{1,15}(\.[0-9]{1,2})?$", examples=["1000.00"], description="Yuan."),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(BaseModel):
    """RFC 9457 problem details; `field` names the input at fault when there is one."""

    type: str
    title: str
    status: int
    detail: str
    instance: str | None = None
    field: str | None = None
    error: str | None = Field(None, description="RFC 6749 error code (POST /oauth/token only).")


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["Bearer"]
    expires_in: int


class ConsentIn(Strict):
    subject_id: SubjectId
    purposes: list[Source] = Field(
        min_length=1, description="The data sources the subject lets a credit decision read."
    )
    valid_days: WholeNumber = Field(ge=1, le=365)


class ConsentOut(BaseModel):
    consent_id: str
    customer_ref: str
    purpose: str
    sources: list[str]
    valid_until: date
    status: Literal["active", "withdrawn"]


class ApplicationIn(Strict):
    subject_id: SubjectId
    consent_id: StrictStr = Field(min_length=1, max_length=40)
    product: StrictStr = Field(min_length=1, max_length=20, examples=["household"])
    amount: WholeNumber = Field(gt=0, le=100_000_000, description="Whole yuan.")
    branch: BranchCode
    term_months: WholeNumber | None = Field(None, ge=1, le=360)


class Reason(BaseModel):
    source: str
    code: str
    zh: str
    en: str
    action: str | None = None


class ApplicationOut(BaseModel):
    """The fields of `purecredit apply --json`, plus the customer's opaque reference and the
    credit line granted (if any)."""

    application_id: str
    decision_id: str
    decision: str
    grade: str | None
    pd: float | None
    limit: int
    unified_limit: int
    rate: float | None
    term_months: int | None
    refer_to: str | None
    reasons: list[Reason]
    customer_ref: str
    credit_line_id: str | None


class Explanation(BaseModel):
    decision_id: str
    application_id: str
    decision: str
    summary_zh: str
    summary_en: str
    reasons: list[Reason]
    versions: dict[str, Any]


class ReviewIn(Strict):
    reason: StrictStr = Field(min_length=1, max_length=500)


class ReviewOut(BaseModel):
    decision_id: str
    status: Literal["open"]


class ProfileOut(BaseModel):
    customer_ref: str
    kind: Literal["person", "enterprise"]
    as_of: date
    modules: dict[str, dict[str, Any]]


class DrawdownIn(Strict):
    amount: Annotated[WholeNumber, Field(gt=0)] | Money = Field(
        description="Yuan: a whole number above 0 or a decimal string."
    )
    branch: BranchCode


class DrawdownOut(BaseModel):
    drawn: bool
    line_id: str
    drawdown_id: str | None
    amount: str
    line_limit: str
    line_drawn: str
    available: str
    reason: str | None


class CreditLineOut(BaseModel):
    line_id: str
    customer_ref: str
    product: str
    branch: str
    limit: str
    drawn: str
    available: str
    status: str


PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}, "description": text}
    for status, text in (
        (401, "Missing, expired or invalid token or signature"),
        (403, "The client lacks the scope or branch"),
        (404, "Not found (or not this client's)"),
        (422, "Invalid input; `field` names it"),
    )
}
