"""Open many loans at once: taking a whole book onto a new ledger (a migration, a benchmark,
a test's synthetic book) without one locking transaction per drawdown.

Each subject gets its own credit group and one line per product, with a limit of exactly
what it draws; every loan gets its schedule (`state.open_loan`), and the batch posts ONE
entry Dr loans_receivable / Cr cash_settlement for its total. The subjects must be new to
the ledger (their groups and lines are inserted, not looked up); use `book.draw` otherwise.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, insert

from purecredit.decide import exposure
from purecredit.lend import records
from purecredit.lend.drawdown import Drawdown
from purecredit.lend.journal import Account, Kind, Line, entry, post
from purecredit.lend.money import ZERO
from purecredit.lend.state import open_loan
from purecredit.lend.tables import loan_instalments, loans
from purecredit.store.ledger import write_transaction

BATCH = 5_000


@dataclass(frozen=True, slots=True)
class NewLoan:
    subject: str
    drawdown: Drawdown
    product: str = "household"
    branch: str = "B01"


def import_book(engine: Engine, book: Sequence[NewLoan], *, reference: str) -> list[str]:
    """Open every loan of `book` in one transaction; their loan ids, in order. The journal
    entry's id is ``import:<reference>``, so one batch can never be posted twice."""
    now = datetime.now(UTC)
    limits: dict[tuple[str, str], Decimal] = {}
    for new in book:
        key = (new.subject, new.product)
        limits[key] = limits.get(key, ZERO) + new.drawdown.amount
    line_ids = {key: f"L{uuid.uuid4().hex}" for key in limits}
    groups, lines = _groups_and_lines(limits, line_ids, book, now)
    members = [
        {"subject": subject, "group_id": f"g:{subject}", "joined_at": now}
        for subject in dict.fromkeys(new.subject for new in book)
    ]
    ids: list[str] = []
    loan_rows: list[dict[str, Any]] = []
    instalments: list[dict[str, Any]] = []
    drawdowns: list[dict[str, Any]] = []
    for new in book:
        loan_id, drawdown_id = f"N{uuid.uuid4().hex}", f"D{uuid.uuid4().hex}"
        line_id = line_ids[(new.subject, new.product)]
        state = open_loan(new.drawdown)
        ids.append(loan_id)
        drawdowns.append(
            {
                "drawdown_id": drawdown_id,
                "line_id": line_id,
                "amount": new.drawdown.amount,
                "branch": new.branch,
                "created_at": now,
            }
        )
        loan_rows.append(
            records.loan_row(
                state,
                loan_id=loan_id,
                line_id=line_id,
                drawdown_id=drawdown_id,
                subject=new.subject,
                product=new.product,
                branch=new.branch,
                now=now,
            )
        )
        instalments.extend(records.instalment_rows(loan_id, state))
    total = sum((new.drawdown.amount for new in book), ZERO)
    with write_transaction(engine) as connection:
        for table, rows in (
            (exposure.credit_groups, groups),
            (exposure.credit_group_members, members),
            (exposure.credit_lines, lines),
            (exposure.drawdowns, drawdowns),
            (loans, loan_rows),
            (loan_instalments, instalments),
        ):
            for start in range(0, len(rows), BATCH):
                connection.execute(insert(table), rows[start : start + BATCH])
        if total > 0:
            post(
                connection,
                entry(
                    f"import:{reference}",
                    min(new.drawdown.start for new in book),
                    Kind.DRAWDOWN,
                    reference,
                    Line(Account.LOANS_RECEIVABLE, debit=total),
                    Line(Account.CASH_SETTLEMENT, credit=total),
                ),
            )
    return ids


def _groups_and_lines(
    limits: dict[tuple[str, str], Decimal],
    line_ids: dict[tuple[str, str], str],
    book: Sequence[NewLoan],
    now: datetime,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    branch = {(n.subject, n.product): n.branch for n in book}
    unified: dict[str, Decimal] = {}
    for (subject, _), limit in limits.items():
        unified[subject] = unified.get(subject, ZERO) + limit
    groups = [
        {"group_id": f"g:{s}", "unified_limit": amount, "updated_at": now, "version": 0}
        for s, amount in unified.items()
    ]
    lines = [
        {
            "line_id": line_ids[key],
            "group_id": f"g:{key[0]}",
            "subject": key[0],
            "product": key[1],
            "branch": branch[key],
            "limit": limit,
            "drawn": limit,
            "status": exposure.ACTIVE,
            "decision_id": None,
            "created_at": now,
            "updated_at": now,
        }
        for key, limit in limits.items()
    ]
    return groups, lines
