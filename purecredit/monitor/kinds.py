"""The event kinds monitoring raises: a fixed code table, in plain words in Chinese and
English, so a warning never has to show the record behind it (results-only egress)."""

from __future__ import annotations

from typing import Literal

Kind = Literal[
    "court_enforcement",
    "dishonest_listing",
    "property_seizure",
    "divorce",
    "serious_illness",
    "tax_grade_drop",
    "deregistration",
    "contributions_stopped",
    "overdue_elsewhere",
    "query_burst",
    "herb_price_fall",
    "deposit_outflow",
    "pd_downgrade",
]

KINDS: dict[str, tuple[str, str]] = {
    "court_enforcement": ("法院强制执行立案", "court enforcement filed"),
    "dishonest_listing": ("列入失信被执行人名单", "listed as a dishonest judgment debtor"),
    "property_seizure": ("不动产查封或冻结", "property seized or frozen"),
    "divorce": ("离婚登记", "divorce registered"),
    "serious_illness": ("大病医保结算", "serious-illness claim settled"),
    "tax_grade_drop": ("纳税信用等级下降", "taxpayer credit grade fell"),
    "deregistration": ("企业注销或吊销", "enterprise deregistered or licence revoked"),
    "contributions_stopped": ("社保缴费中断", "social-security contributions stopped"),
    "overdue_elsewhere": ("他行贷款逾期", "overdue at another lender"),
    "query_burst": ("征信多头查询激增", "burst of credit-bureau queries by new lenders"),
    "herb_price_fall": ("种植品种价格大跌", "sharp fall in the price of the borrower's herb"),
    "deposit_outflow": ("存款大额流出", "deposits running down"),
    "pd_downgrade": ("重新评分等级下调", "rescored PD fell two grades or more"),
}
