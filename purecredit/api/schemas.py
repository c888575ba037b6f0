"""The gateway's fixed output schemas (results only) and strict request bodies.

Request bodies refuse unknown fields and wrong types (no string-to-number coercion), so a
malformed request gets a 422 naming its field rather than a guess. Responses carry results
only: decisions, reason codes, masked summaries, opaque references; never a resident ID
number, a name or a phone.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
)

from purecredit.lend.drawdown import MAX_TERM_MONTHS, RepaymentMethod
from purecredit.store.ledger import as_utc

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


_WHOLE = BeforeValidator(_json_integer)
# The bounds sit inside, before the validator: put on the outside (Field(ge=...) on a field
# of this type) they would publish as non-standard "ge"/"le" and name the field in errors
# with pydantic's internal wrapper.
ValidDays = Annotated[StrictInt, Field(ge=1, le=365), _WHOLE]
WholeYuan = Annotated[StrictInt, Field(gt=0, le=100_000_000, description="Whole yuan."), _WHOLE]
TermMonths = Annotated[StrictInt, Field(ge=1, le=MAX_TERM_MONTHS), _WHOLE]
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
    valid_days: ValidDays


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
    amount: WholeYuan
    branch: BranchCode
    term_months: TermMonths | None = None


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


Amount = Annotated[StrictInt, Field(gt=0), _WHOLE] | Money
HarvestMonth = Annotated[StrictInt, Field(ge=1, le=12), _WHOLE]
LoanStatus = Literal["active", "settled", "written_off"]
Category = Literal["normal", "special_mention", "substandard", "doubtful", "loss"]


class DrawdownIn(Strict):
    """A drawdown's amount, branch and repayment terms. The rate is never the client's: it
    is the line's, priced by the decision that granted it."""

    amount: Amount = Field(description="Yuan: a whole number above 0 or a decimal string.")
    branch: BranchCode
    term_months: TermMonths | None = Field(
        None, description="Default: the line's decision's term, or 12."
    )
    method: RepaymentMethod = Field(
        RepaymentMethod.EQUAL_INSTALMENTS,
        description="等额本息 (annuity), 等额本金 (equal principal), 按月付息到期还本 (interest "
        "monthly, principal at maturity) or 按季付息收获后还本 (seasonal: needs harvest_months).",
    )
    harvest_months: list[HarvestMonth] | None = Field(
        None,
        min_length=1,
        max_length=12,
        description="The months (1-12) the crop is sold; required for the seasonal method, "
        "refused for the others.",
    )


class DrawdownOut(BaseModel):
    drawn: bool
    line_id: str
    drawdown_id: str | None
    amount: str
    line_limit: str
    line_drawn: str
    available: str
    reason: str | None
    loan_id: str = Field(description="The loan the drawdown opened (GET /v1/loans/{loan_id}).")


class InstalmentOut(BaseModel):
    number: int
    period_start: date
    due_date: date
    principal: str
    interest: str
    principal_paid: str
    interest_paid: str


class LoanOut(BaseModel):
    """A loan's terms, where it stands (as of the last end of day, and every payment since)
    and its schedule with what has been paid on each instalment."""

    loan_id: str
    line_id: str
    customer_ref: str
    product: str
    branch: str
    amount: str
    start: date
    term_months: int
    annual_rate: str = Field(description="A fraction: 0.0635 is 6.35% a year.")
    method: RepaymentMethod
    harvest_months: list[int]
    status: LoanStatus
    principal_outstanding: str
    dpd: int = Field(description="Days past due at the last end of day.")
    category: Category = Field(description="The five-category classification (五级分类).")
    closed_on: date | None
    payoff: PayoffOut | None = Field(
        description="Today's payoff amount; null when the loan is closed or today cannot "
        "take a payment yet (its end of day is behind or running)."
    )
    schedule: list[InstalmentOut]


class RepaymentIn(Strict):
    amount: Amount = Field(description="Yuan: a whole number above 0 or a decimal string.")


class AllocationOut(BaseModel):
    """A payment's split in waterfall order: penalty, overdue interest, overdue principal,
    current interest, current principal; then, beyond what is due, the interest accrued to
    date and principal not yet due (an early repayment, or the payoff)."""

    penalty_interest: str
    overdue_interest: str
    overdue_principal: str
    current_interest: str
    current_principal: str
    prepaid_interest: str
    prepaid_principal: str


class PayoffOut(BaseModel):
    """What a payment today must be to pay the loan off."""

    on: date
    dues: dict[str, str] = Field(description="By waterfall bucket.")
    principal_not_due: str
    interest_accrued: str = Field(description="This period's interest to date, unpaid.")
    total: str


class RepaymentOut(BaseModel):
    repayment_id: str
    loan_id: str
    paid_on: date
    amount: str
    allocation: AllocationOut
    unapplied: str = Field(description="What was more than the payoff: held, not applied.")
    principal_outstanding: str
    status: Literal["active", "settled"]


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


# ----------------------------------------------------------------------------- monitoring
Severity = Literal["red", "orange", "yellow"]
CaseStatus = Literal["open", "verifying", "confirmed", "false_alarm", "action", "closed"]
CaseStep = Literal["assign", "verify", "confirm", "dismiss", "act", "close"]
CaseAction = Literal["freeze", "reduce", "recall", "restructure", "none"]


class EventOut(BaseModel):
    """What a warning's event was, in the fixed code table's words (never the record)."""

    kind: str
    kind_zh: str
    kind_en: str
    hops: int = Field(description="0: the borrower; 1-2: a party related to the borrower.")
    relation: str
    valid_from: date = Field(description="When it became true in the world.")
    known_at: date = Field(description="When the bank learned it.")


class CaseWarningOut(EventOut):
    warning_id: str
    rule: str
    rules_version: str
    severity: Severity
    suggested: str = Field(description="The rule's suggested action.")
    raised_on: date


class WarningOut(CaseWarningOut):
    customer_ref: str
    branch: str
    case_id: str


class CaseOut(BaseModel):
    case_id: str
    customer_ref: str
    branch: str
    cause: str = Field(description="The warning rule that opened the case.")
    severity: Severity
    status: CaseStatus
    opened_on: date
    assignee: str | None
    finding: Literal["confirmed", "false_alarm"] | None
    action: CaseAction | None
    protected_amount: str = Field(
        description="Yuan protected: undrawn limit frozen, limit cut, principal recalled."
    )
    closed_on: date | None


class DetectedOut(EventOut):
    detected_on: date


UtcTime = Annotated[datetime, AfterValidator(as_utc)]  # SQLite hands times back zoneless


class CaseStepOut(BaseModel):
    at: UtcTime
    on_day: date
    actor: str
    step: str
    status: CaseStatus
    amount: str | None
    note: str | None


class InspectionOut(BaseModel):
    inspection_id: str
    inspected_on: date
    inspector: str
    finding: str


class CaseDetailOut(CaseOut):
    """A case with the warnings behind it, the borrower's events since it opened, every step
    and, once confirmed, its post-loan inspection."""

    warnings: list[CaseWarningOut]
    events: list[DetectedOut]
    steps: list[CaseStepOut]
    inspection: InspectionOut | None


class CaseStepIn(Strict):
    """One step of a case's workflow: open -> verify -> confirm | dismiss; confirmed -> act
    -> close; a false alarm -> close; assign at any time before closing."""

    step: CaseStep
    assignee: StrictStr | None = Field(
        None, min_length=1, max_length=100, description="assign: who will visit."
    )
    action: CaseAction | None = Field(None, description="act: what was done.")
    amount: Money | None = Field(None, description="act recall: yuan recalled or recovered.")
    to: Money | None = Field(None, description="act reduce: the borrower's lines' new limit.")
    note: StrictStr | None = Field(None, max_length=500, description="What the officer found.")
