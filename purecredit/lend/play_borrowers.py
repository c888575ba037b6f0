"""The borrowers of a played book: who they are in the county's world, what they draw and
how they repay.

A line in the ledger belongs to a subject (a resident's keyed token, or a firm's USCC); the
county's world knows people by their resident ID. `Borrowers` maps every subject the
county's registers deliver back to its world key, reads the applicant's profile to choose a
drawdown's terms, and asks the world (`synth.play.Forward`) when each instalment is paid:

- Terms: the term and rate the line's decision set; the method by product and borrower:
  herb farmers and traders whose household plants a variety (profile
  `planting_main_variety`) take the seasonal plan with that variety's harvest months
  (`synth.reference` herbs' `harvest`), other households equal instalments, firms monthly
  interest with principal at maturity; a method the product does not offer falls back to
  the product's first.
- Repayment: `Forward.instalments` answers for each instalment due within the play whether
  and when it is paid, from the county's latent default, cure and lateness events (the
  same rule that made the bank's history). A borrower who defaults pays nothing from the
  default month until a cure (when all arrears are paid at once) or ever; the others pay
  on the due date or 1-29 days late in a month with a lateness event.

Every random choice here is a stable hash of the seed and what it is about (the line, the
month), not a draw from a shared generator, so one decision that differs between two plays
changes only its own line's story.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, select

from purecredit.core.crypto import Tokenizer
from purecredit.core.errors import Invalid
from purecredit.core.identifiers import parse_resident_id, parse_uscc
from purecredit.core.keys import data_zone_keys
from purecredit.core.settings import Settings
from purecredit.decide import store
from purecredit.decide.policy import Policy
from purecredit.lend.drawdown import Drawdown, RepaymentMethod
from purecredit.lend.money import ZERO
from purecredit.lend.schedule import build_schedule
from purecredit.lend.state import LoanState
from purecredit.profile.online import OnlineProfiles
from purecredit.score.sample import segment_of
from purecredit.synth.play import Forward
from purecredit.synth.reference import load_reference

HERB_SEGMENTS = ("farmer", "trader")


def uniform(seed: int, *parts: object) -> float:
    """A number in [0, 1) fixed by the seed and what it is about (sha256, as `policy.arm`)."""
    text = ":".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") / 2.0**64


@dataclass(frozen=True, slots=True)
class Terms:
    """A drawdown's terms, as the line's decision and the borrower make them."""

    term_months: int
    annual_rate: Decimal
    method: RepaymentMethod
    harvest_months: tuple[int, ...] = ()


def world_keys(county: Path, settings: Settings) -> dict[str, str]:
    """Ledger subject -> world key (resident ID or USCC) for everyone the county's registers
    deliver; a record whose identifier does not read is skipped, as ingest quarantines it."""
    register = pd.read_parquet(
        county / "sources" / "population_register" / "population_register.parquet",
        columns=["公民身份号码"],
    )
    firms = pd.read_csv(
        county / "sources" / "enterprise_registry" / "enterprise_registry.csv",
        encoding="gbk",
        encoding_errors="replace",
        dtype=str,
        on_bad_lines="skip",
        usecols=["统一社会信用代码"],
    )
    tokenizer = Tokenizer(data_zone_keys(settings).token_key, settings.token_algorithm)
    keys: dict[str, str] = {}
    for identifier in register["公民身份号码"].dropna().astype(str):
        try:
            number = parse_resident_id(identifier).number
        except Invalid:
            continue
        keys[tokenizer.lake_key(number, "id")] = number
    for identifier in firms["统一社会信用代码"].dropna().astype(str):
        try:
            code = parse_uscc(identifier).code
        except Invalid:
            continue
        keys[code] = code
    return keys


class Borrowers:
    """The county's borrowers as the play needs them: terms of a drawdown, and when each of
    a loan's instalments is paid."""

    def __init__(
        self, county: Path, settings: Settings, profiles: OnlineProfiles, policy: Policy
    ) -> None:
        self.forward = Forward(county)
        self.keys = world_keys(county, settings)
        self.profiles = profiles
        self.policy = policy
        self.harvests = {h.name: h.harvest for h in load_reference().herbs}
        self._decisions: dict[str, dict[str, Any]] = {}

    def decided(self, line_id: str, record: dict[str, Any]) -> None:
        """Remember the decision that granted a line (saves reading it back)."""
        self._decisions[line_id] = record

    def terms(self, connection: Connection, line: Any) -> Terms | None:
        """The terms of a drawdown on a credit line (a `credit_lines` row): the term and
        rate of the decision that granted or last raised it; None for a line with no stored
        decision (granted outside the counter), which the play does not draw on."""
        record = self._decisions.get(line.line_id)
        if record is None:
            row = connection.execute(
                select(store.DECISIONS.c.record).where(
                    store.DECISIONS.c.decision_id == line.decision_id
                )
            ).first()
            if row is None or row.record.get("rate") is None:
                return None
            record = self._decisions[line.line_id] = dict(row.record)
        subject, product = str(line.subject), str(line.product)
        offered = self.policy.product(product)
        term = int(record.get("term_months") or offered.terms_months[0])
        rate = Decimal(str(record["rate"])).quantize(Decimal("0.000001"))
        method, harvest = self._method(subject, product)
        if method.value not in set(offered.repayment_methods):
            method, harvest = RepaymentMethod(offered.repayment_methods[0]), ()
        return Terms(term, rate, method, harvest)

    def _method(self, subject: str, product: str) -> tuple[RepaymentMethod, tuple[int, ...]]:
        if product != "household":
            return RepaymentMethod.INTEREST_ONLY, ()
        profile = self.profiles.get(subject) or {}
        variety = profile.get("planting_main_variety")
        if segment_of(profile) in HERB_SEGMENTS and variety in self.harvests:
            return RepaymentMethod.SEASONAL, tuple(self.harvests[str(variety)])
        return RepaymentMethod.EQUAL_INSTALMENTS, ()

    def plans(
        self, loans: list[tuple[str, str, Drawdown]], until: date
    ) -> dict[str, dict[date, date | None]]:
        """For each loan (id, subject, drawdown) of a subject the world knows: every
        instalment due by `until`, by due date, with the day it is paid (None: not by the
        world's last day). Loans of subjects outside the county are left out."""
        rows: list[tuple[str, str, date, date]] = []
        out: dict[str, dict[date, date | None]] = {}
        for loan_id, subject, drawdown in loans:
            key = self.keys.get(subject)
            if key is None:
                continue
            out[loan_id] = {}
            for row in build_schedule(drawdown):
                if row.due_date <= until:
                    rows.append((loan_id, key, drawdown.start, row.due_date))
        if not rows:
            return out
        ids, keys, starts, dues = zip(*rows, strict=True)
        paid = self.forward.instalments(
            keys=np.asarray(keys, dtype=str),
            start_dates=np.asarray(starts, dtype="datetime64[D]"),
            due_dates=np.asarray(dues, dtype="datetime64[D]"),
        )
        when = paid["paid_date"].dt.date.where(paid["paid"], None)
        for loan_id, due, on in zip(ids, dues, when, strict=True):
            out.setdefault(loan_id, {})[due] = None if pd.isna(on) else on
        return out


def owed(state: LoanState, plan: dict[date, date | None], day: date) -> Decimal:
    """What the borrower pays during `day`: the penalty owed and whatever is unpaid of every
    instalment due by then that the world has paid by then."""
    amount = state.penalty_accrued - state.penalty_paid
    for k, row in enumerate(state.schedule):
        if row.due_date > day:
            break
        paid = plan.get(row.due_date)
        if paid is not None and paid <= day:
            amount += state.unpaid_principal(k) + state.unpaid_interest(k)
    return max(amount, ZERO)
