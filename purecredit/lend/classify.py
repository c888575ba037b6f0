"""Five-category loan classification (五级分类) under the 2023 rules.

《商业银行金融资产风险分类办法》 (CBIRC/PBoC Order 2023 No. 1, in force 1 July 2023) sets
overdue-day floors: any principal or interest past due is at least special mention; over
90 days at least substandard, over 270 doubtful, over 360 loss. It classifies by debtor:
when more than 10% of a debtor's debt to the bank is non-performing, all of it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import IntEnum

from purecredit.core.errors import Invalid
from purecredit.lend.money import ZERO, money

# Floors by days past due (data/bozhou.yaml, banking.five_category_dpd): the first DPD of each.
SPECIAL_MENTION_FROM = 1
SUBSTANDARD_FROM = 91
DOUBTFUL_FROM = 271
LOSS_FROM = 361
# Debtor rule: strictly more than this share of the debtor's debt non-performing.
DEBTOR_NPL_SHARE = Decimal("0.10")


class Category(IntEnum):
    """The five categories, worst last, so `max` gives the worse of two."""

    NORMAL = 0
    SPECIAL_MENTION = 1
    SUBSTANDARD = 2
    DOUBTFUL = 3
    LOSS = 4

    @property
    def zh(self) -> str:
        return ("正常", "关注", "次级", "可疑", "损失")[self.value]

    @property
    def en(self) -> str:
        return ("normal", "special mention", "substandard", "doubtful", "loss")[self.value]

    @property
    def npl(self) -> bool:
        """Non-performing: substandard, doubtful or loss (不良)."""
        return self >= Category.SUBSTANDARD


def classify_loan(dpd: int) -> Category:
    """A loan's category from its days past due alone (the floor the 2023 rules set)."""
    if dpd < 0:
        raise Invalid("days past due cannot be negative", field="dpd")
    if dpd >= LOSS_FROM:
        return Category.LOSS
    if dpd >= DOUBTFUL_FROM:
        return Category.DOUBTFUL
    if dpd >= SUBSTANDARD_FROM:
        return Category.SUBSTANDARD
    return Category.SPECIAL_MENTION if dpd >= SPECIAL_MENTION_FROM else Category.NORMAL


@dataclass(frozen=True, slots=True)
class Exposure:
    """One loan of a debtor: its outstanding balance and days past due."""

    loan: str
    outstanding: Decimal
    dpd: int

    def __post_init__(self) -> None:
        money(self.outstanding, "outstanding")


@dataclass(frozen=True, slots=True)
class DebtorClass:
    """A debtor's classification: the debtor's category and each loan's, with the rule used."""

    category: Category
    loans: tuple[tuple[str, Category], ...]  # (loan, final category), in input order
    npl_share: Decimal  # share of outstanding in loans non-performing on their own DPD
    rule: str


def classify_debtor(exposures: Sequence[Exposure]) -> DebtorClass:
    """Classify all of one debtor's loans together.

    Each loan starts from its DPD category. When the non-performing share of the debtor's
    outstanding is strictly over 10%, every loan is raised to at least substandard. The
    debtor's category is the worst of its loans'.
    """
    if not exposures:
        raise Invalid("a debtor needs at least one loan", field="exposures")
    own = [(e.loan, classify_loan(e.dpd)) for e in exposures]
    total = sum((e.outstanding for e in exposures), ZERO)
    bad = sum((e.outstanding for e, (_, c) in zip(exposures, own, strict=True) if c.npl), ZERO)
    share = bad / total if total > 0 else ZERO
    final, rule = own, "each loan by its days past due; debtor takes the worst"
    if share > DEBTOR_NPL_SHARE:
        final = [(loan, max(c, Category.SUBSTANDARD)) for loan, c in own]
        rule = f"non-performing share {share:.4f} > 10%: all loans at least substandard"
    return DebtorClass(max(c for _, c in final), tuple(final), share, rule)


def npl_ratio(book: Sequence[tuple[Decimal, Category]]) -> Decimal:
    """NPL ratio of a book of (outstanding, category): NPL outstanding / total outstanding."""
    total = sum((amount for amount, _ in book), ZERO)
    if total == 0:
        return ZERO
    return sum((amount for amount, c in book if c.npl), ZERO) / total
