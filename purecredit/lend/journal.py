"""The double-entry journal of the loan book, and the check that it balances and ties.

Every money movement posts one entry whose debits equal its credits:

- drawdown: Dr loans_receivable / Cr cash_settlement (the money paid out);
- repayment: Dr cash_settlement / Cr penalty_receivable, interest_receivable (dues and
  interest to date), loans_receivable (dues, principal prepaid or paid off), and Cr
  unapplied_payments for what exceeds a payoff;
- end of day: ONE aggregated entry per date, Dr interest_receivable / Cr interest_income and
  Dr penalty_receivable / Cr penalty_income (each loan's share stays in the loan
  sub-ledger, `loans.interest_accrued` / `penalty_accrued`);
- write-off (核销): Dr write_off / Cr loans_receivable, interest_receivable, penalty_receivable.

Entry ids come from the event ("draw:<drawdown_id>", "eod:<date>"...), so an event can never
post twice. `check` proves the journal balances and that the loan sub-ledger ties to it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Engine, func, insert, literal, select

from purecredit.core.errors import Invalid
from purecredit.lend.money import ZERO, money
from purecredit.lend.tables import (
    WRITTEN_OFF,
    fen_sum,
    journal_entries,
    journal_lines,
    loan_instalments,
    loans,
    yuan,
)
from purecredit.store.ledger import snapshot


class Account(StrEnum):
    """The book's accounts. Assets and the loss account are debit-normal, the rest credit."""

    LOANS_RECEIVABLE = "loans_receivable"
    INTEREST_RECEIVABLE = "interest_receivable"
    PENALTY_RECEIVABLE = "penalty_receivable"
    INTEREST_INCOME = "interest_income"
    PENALTY_INCOME = "penalty_income"
    CASH_SETTLEMENT = "cash_settlement"
    WRITE_OFF = "write_off"  # loss on loans written off (charged to the provision)
    UNAPPLIED_PAYMENTS = "unapplied_payments"  # overpayments held for the borrower


class Kind(StrEnum):
    DRAWDOWN = "drawdown"
    REPAYMENT = "repayment"
    ACCRUAL = "accrual"
    WRITE_OFF = "write_off"


@dataclass(frozen=True, slots=True)
class Line:
    """One side of an entry: exactly one of `debit` and `credit` is positive."""

    account: Account
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    loan_id: str | None = None


@dataclass(frozen=True, slots=True)
class Entry:
    entry_id: str
    posted_on: date
    kind: Kind
    reference: str
    lines: tuple[Line, ...] = field(default_factory=tuple)

    @property
    def debits(self) -> Decimal:
        return sum((line.debit for line in self.lines), ZERO)

    @property
    def credits(self) -> Decimal:
        return sum((line.credit for line in self.lines), ZERO)


def entry(entry_id: str, posted_on: date, kind: Kind, reference: str, *lines: Line) -> Entry:
    """An entry without its zero lines (a repayment that settled no penalty has no such line)."""
    kept = tuple(line for line in lines if line.debit or line.credit)
    return Entry(entry_id, posted_on, kind, reference, kept)


def post(connection: Connection, posting: Entry) -> None:
    """Write `posting` in the caller's transaction; an unbalanced or malformed entry raises
    `Invalid` (naming the entry) before anything is written."""
    _validate(posting)
    connection.execute(
        insert(journal_entries).values(
            entry_id=posting.entry_id,
            posted_on=posting.posted_on,
            kind=posting.kind.value,
            reference=posting.reference,
            created_at=datetime.now(UTC),
        )
    )
    connection.execute(
        insert(journal_lines),
        [
            {
                "entry_id": posting.entry_id,
                "line_no": number,
                "account": line.account.value,
                "debit": line.debit,
                "credit": line.credit,
                "loan_id": line.loan_id,
            }
            for number, line in enumerate(posting.lines, start=1)
        ],
    )


def _validate(posting: Entry) -> None:
    where = posting.entry_id
    if len(posting.lines) < 2:
        raise Invalid("an entry needs at least one debit and one credit", record=where)
    for number, line in enumerate(posting.lines, start=1):
        if not isinstance(line.account, Account):
            raise Invalid("unknown account", record=where, field=f"lines[{number}].account")
        debit = money(line.debit, f"lines[{number}].debit")
        credit = money(line.credit, f"lines[{number}].credit")
        if (debit > 0) == (credit > 0):
            raise Invalid("a line is a debit or a credit", record=where, field=f"lines[{number}]")
    if posting.debits != posting.credits:
        raise Invalid(
            f"unbalanced: debits {posting.debits} != credits {posting.credits}",
            record=where,
            field="lines",
        )


# ----------------------------------------------------------------------------- the check


@dataclass(frozen=True, slots=True)
class Tie:
    """An account's journal balance beside the loan sub-ledger's figure for it."""

    account: Account
    journal: Decimal
    loans: Decimal

    @property
    def ties(self) -> bool:
        return self.journal == self.loans


@dataclass(frozen=True, slots=True)
class CheckResult:
    balanced: bool
    entries: int
    debits: Decimal
    credits: Decimal
    balances: dict[str, Decimal]  # debit-normal sign: debits - credits
    ties: tuple[Tie, ...]
    first_break: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "balanced": self.balanced,
            "entries": self.entries,
            "debits": str(self.debits),
            "credits": str(self.credits),
            "balances": {name: str(amount) for name, amount in self.balances.items()},
            "ties": {
                t.account.value: {"journal": str(t.journal), "loans": str(t.loans)}
                for t in self.ties
            },
            "first_break": self.first_break,
        }


def check(engine: Engine) -> CheckResult:
    """Prove, in one snapshot, that every entry and the whole journal balance and that the
    loan sub-ledger ties to the receivable accounts; else name the first break found."""
    with snapshot(engine) as connection:
        unbalanced = _first_unbalanced(connection)
        totals = connection.execute(
            select(
                func.count(func.distinct(journal_lines.c.entry_id)),
                fen_sum(journal_lines.c.debit),
                fen_sum(journal_lines.c.credit),
            )
        ).one()
        balances = _balances(connection)
        ties = _ties(connection, balances)
    debits, credits = yuan(totals[1]), yuan(totals[2])
    first_break = unbalanced
    if first_break is None and debits != credits:
        first_break = f"journal: total debits {debits} != total credits {credits}"
    for tie in ties:
        if first_break is None and not tie.ties:
            first_break = f"{tie.account.value}: journal balance {tie.journal} != loans {tie.loans}"
    return CheckResult(
        balanced=first_break is None,
        entries=int(totals[0]),
        debits=debits,
        credits=credits,
        balances=balances,
        ties=ties,
        first_break=first_break,
    )


def _first_unbalanced(connection: Connection) -> str | None:
    difference = fen_sum(journal_lines.c.debit) - fen_sum(journal_lines.c.credit)
    row = connection.execute(
        select(
            journal_entries.c.entry_id,
            fen_sum(journal_lines.c.debit),
            fen_sum(journal_lines.c.credit),
        )
        .select_from(journal_entries.outerjoin(journal_lines))
        .group_by(journal_entries.c.entry_id, journal_entries.c.posted_on)
        .having((difference != literal(0)) | (func.count(journal_lines.c.line_no) < 2))
        .order_by(journal_entries.c.posted_on, journal_entries.c.entry_id)
        .limit(1)
    ).first()
    if row is None:
        return None
    return f"entry {row[0]}: debits {yuan(row[1])} != credits {yuan(row[2])}"


def _balances(connection: Connection) -> dict[str, Decimal]:
    rows = connection.execute(
        select(
            journal_lines.c.account,
            fen_sum(journal_lines.c.debit),
            fen_sum(journal_lines.c.credit),
        ).group_by(journal_lines.c.account)
    ).all()
    found = {row[0]: yuan(row[1]) - yuan(row[2]) for row in rows}
    return {a.value: found.pop(a.value, ZERO) for a in Account} | found


def _ties(connection: Connection, balances: dict[str, Decimal]) -> tuple[Tie, ...]:
    """The sub-ledger of loans still on the book (written-off loans left it by their entry):
    principal lent less principal paid; interest and penalty accrued less paid."""
    on_book = loans.c.status != WRITTEN_OFF
    lent = connection.execute(
        select(
            fen_sum(loans.c.amount),
            fen_sum(loans.c.interest_accrued),
            fen_sum(loans.c.penalty_accrued),
            fen_sum(loans.c.penalty_paid),
        ).where(on_book)
    ).one()
    paid = connection.execute(
        select(
            fen_sum(loan_instalments.c.principal_paid),
            fen_sum(loan_instalments.c.interest_paid),
        )
        .select_from(loan_instalments.join(loans))
        .where(on_book)
    ).one()
    figures = {
        Account.LOANS_RECEIVABLE: yuan(lent[0]) - yuan(paid[0]),
        Account.INTEREST_RECEIVABLE: yuan(lent[1]) - yuan(paid[1]),
        Account.PENALTY_RECEIVABLE: yuan(lent[2]) - yuan(lent[3]),
    }
    return tuple(Tie(a, balances[a.value], amount) for a, amount in figures.items())
