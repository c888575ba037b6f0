"""The loan book's tables in the ledger (SQLAlchemy Core, SQLite and PostgreSQL alike).

- `loans`: one row per drawdown, with the persisted `state.LoanState` fields that change
  (as_of, 积数 of overdue principal, penalty paid) so the end of day can resume, the figures
  the last run left (DPD, category, the day's accruals) and running totals the journal must
  tie to (interest and penalty accrued).
- `loan_instalments`: the schedule, one row per instalment, with what has been paid on it.
- `repayments`: each payment and its split over the waterfall's buckets, then what it paid
  ahead (interest to date and principal: an early repayment or a payoff) and the unapplied
  rest.
- `book_days`: one row per end of day: started, then filled in with the book's figures.
- `journal_entries` / `journal_lines`: the double-entry journal (`journal`).

Money is `decide.exposure.MONEY` (NUMERIC(18, 2)); a sum that must be exact on SQLite (which
keeps NUMERIC as a float) is taken in whole fen with `fen_sum`.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Date,
    DateTime,
    Engine,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    cast,
    func,
)

from purecredit.decide import exposure
from purecredit.decide.exposure import MONEY
from purecredit.lend.money import FEN, ZERO

RATE = Numeric(10, 6, asdecimal=True)  # an annual rate as a fraction, to a ten-thousandth bp
BALANCE_DAYS = Numeric(22, 2, asdecimal=True)  # 积数: principal x days, whole fen

ACTIVE = "active"
SETTLED = "settled"
WRITTEN_OFF = "written_off"

metadata = MetaData()

loans = Table(
    "loans",
    metadata,
    Column("loan_id", String(40), primary_key=True),
    Column("line_id", String(40), ForeignKey(exposure.credit_lines.c.line_id), nullable=False),
    Column("drawdown_id", String(40), nullable=False, unique=True),
    Column("subject", String(100), nullable=False),
    Column("branch", String(40), nullable=False),
    Column("product", String(40), nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("start", Date, nullable=False),
    Column("term_months", Integer, nullable=False),
    Column("annual_rate", RATE, nullable=False),
    Column("method", String(20), nullable=False),
    Column("harvest_months", String(40), nullable=False),  # "9,10" or ""
    Column("penalty_markup", RATE, nullable=False),
    Column("status", String(12), nullable=False),
    # persisted LoanState: as_of is the last day whose end of day is done for this loan
    Column("as_of", Date, nullable=False),
    Column("overdue_principal_days", BALANCE_DAYS, nullable=False),
    Column("penalty_paid", MONEY, nullable=False),
    # what the last end of day left
    Column("principal_outstanding", MONEY, nullable=False),
    Column("dpd", Integer, nullable=False),
    Column("category", String(20), nullable=False),
    Column("accrual_on", Date),  # the EOD date the next two figures belong to
    Column("interest_accrual", MONEY, nullable=False),
    Column("penalty_accrual", MONEY, nullable=False),
    # running totals, posted to the journal (receivable = accrued - paid)
    Column("interest_accrued", MONEY, nullable=False),
    Column("penalty_accrued", MONEY, nullable=False),
    Column("closed_on", Date),
    # the first end of day past 90 days overdue (non-performing by days, 2023 rules art. 9);
    # kept after a cure: vintages and the warnings' evaluation count defaults, not states
    Column("defaulted_on", Date),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_loans_pending", "status", "as_of"),
    Index("ix_loans_subject", "subject"),
    Index("ix_loans_line", "line_id"),
)

loan_instalments = Table(
    "loan_instalments",
    metadata,
    Column("loan_id", String(40), ForeignKey("loans.loan_id"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("period_start", Date, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("opening_principal", MONEY, nullable=False),
    Column("principal", MONEY, nullable=False),
    Column("interest", MONEY, nullable=False),
    Column("principal_paid", MONEY, nullable=False),
    Column("interest_paid", MONEY, nullable=False),
    Column("rule", String(200), nullable=False),
)

repayments = Table(
    "repayments",
    metadata,
    Column("repayment_id", String(40), primary_key=True),
    Column("loan_id", String(40), ForeignKey("loans.loan_id"), nullable=False),
    Column("paid_on", Date, nullable=False),
    Column("amount", MONEY, nullable=False),
    Column("penalty_interest", MONEY, nullable=False),
    Column("overdue_interest", MONEY, nullable=False),
    Column("overdue_principal", MONEY, nullable=False),
    Column("current_interest", MONEY, nullable=False),
    Column("current_principal", MONEY, nullable=False),
    Column("prepaid_interest", MONEY, nullable=False),  # allocation.Prepaid, beyond the dues
    Column("prepaid_principal", MONEY, nullable=False),
    Column("unapplied", MONEY, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Index("ix_repayments_loan", "loan_id"),
)

book_days = Table(
    "book_days",
    metadata,
    Column("day", Date, primary_key=True),
    Column("loans", Integer),
    Column("outstanding", MONEY),
    Column("normal", MONEY),
    Column("special_mention", MONEY),
    Column("substandard", MONEY),
    Column("doubtful", MONEY),
    Column("loss", MONEY),
    Column("npl_ratio", Numeric(12, 10, asdecimal=True)),
    Column("interest_accrued", MONEY),
    Column("penalty_accrued", MONEY),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("done_at", DateTime(timezone=True)),  # NULL while the day's run is unfinished
)

journal_entries = Table(
    "journal_entries",
    metadata,
    Column("entry_id", String(60), primary_key=True),  # from the event: "draw:<drawdown>"
    Column("posted_on", Date, nullable=False),
    Column("kind", String(20), nullable=False),
    Column("reference", String(60), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

journal_lines = Table(
    "journal_lines",
    metadata,
    Column("entry_id", String(60), ForeignKey("journal_entries.entry_id"), primary_key=True),
    Column("line_no", Integer, primary_key=True),
    Column("account", String(30), nullable=False),
    Column("debit", MONEY, nullable=False),
    Column("credit", MONEY, nullable=False),
    Column("loan_id", String(40)),
    Index("ix_journal_lines_account", "account"),
)


def create_tables(engine: Engine) -> None:
    """Create the credit-line tables the loans refer to, then the book's, if missing."""
    exposure.create_tables(engine)
    metadata.create_all(engine)


def fen_sum(column: Any) -> ColumnElement[Any]:
    """SUM of a money column in whole fen (an integer): exact on SQLite too, whose NUMERIC
    values are floats that a plain SUM would add in binary floating point."""
    return func.coalesce(func.sum(cast(func.round(column * 100), BigInteger)), 0)


def yuan(fen: Any) -> Decimal:
    """Whole fen (from `fen_sum`) as a Decimal amount in yuan."""
    return (Decimal(int(fen or 0)) * FEN).quantize(FEN)


def dec(value: Any) -> Decimal:
    """A money column's value as a Decimal of whole fen (NULL as zero)."""
    return ZERO if value is None else Decimal(value).quantize(FEN)
