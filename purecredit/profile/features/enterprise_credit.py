"""Enterprise module, credit: the firm's own credit report (企业征信) and its own loans with
this bank, read exactly as a person's (`person_credit`): the same features, named the same,
over the records resolved to the firm's USCC. A firm's repayment record is the strongest
sign of its next year that the bank holds, and its legal representative's (the `legal_rep_`
columns) does not replace it: a firm can fall behind while its owner pays his own loans."""

from __future__ import annotations

from purecredit.profile.feature import Module
from purecredit.profile.features.person_credit import credit_features, credit_sql

MODULE = Module(
    name="enterprise_credit",
    kind="enterprise",
    title="Credit",
    features=credit_features("firm"),
    sql=credit_sql("enterprise"),
)
