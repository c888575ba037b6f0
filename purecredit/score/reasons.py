"""Reason codes: why an applicant scored as they did, each with a plain reason in Chinese and
English.

- Scorecard: the characteristics that lost most points against their best bin (the points of
  the characteristic's best bin minus the points of the applicant's bin), the usual adverse
  action method for points scorecards (Siddiqi, Credit Risk Scorecards, ch. 10).
- LightGBM: its own per-feature contributions to the log-odds of bad (`pred_contrib`, exact
  TreeSHAP in LightGBM itself, no extra explainer), the features pushing risk up most.

Features map to codes through `FEATURE_CODES`, a plain dict, so county features added later
only need a line each; a feature it does not name gets "R99" with its own name. Several
features of one family share a code (the four recent-query counts are one reason), and an
applicant's reasons list each code once, under its strongest feature.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.utils.validation import check_is_fitted

from purecredit.score.challenger import Challenger
from purecredit.score.scorecard import Scorecard

FALLBACK = "R99"


@dataclass(frozen=True)
class ReasonText:
    """A code's plain reason; the fallback's texts hold `{feature}`."""

    zh: str
    en: str


REASON_TEXTS: dict[str, ReasonText] = {
    # German credit (the public benchmark's columns).
    "R01": ReasonText("支票账户状况", "status of the checking account"),
    "R02": ReasonText("贷款期限", "duration of the loan"),
    "R03": ReasonText("过往信用记录", "past credit history"),
    "R04": ReasonText("贷款用途", "purpose of the loan"),
    "R05": ReasonText("贷款金额", "amount of the loan"),
    "R06": ReasonText("储蓄与债券", "savings and bonds"),
    "R07": ReasonText("现职工作年限", "time in present employment"),
    "R08": ReasonText("分期还款占可支配收入比例", "instalment as a share of disposable income"),
    "R09": ReasonText("个人状况与性别", "personal status and sex"),
    "R10": ReasonText("其他债务人或担保人", "other debtors or guarantors"),
    "R11": ReasonText("现住址居住年限", "time at present residence"),
    "R12": ReasonText("财产状况", "property owned"),
    "R13": ReasonText("年龄", "age"),
    "R14": ReasonText("其他分期付款计划", "other instalment plans"),
    "R15": ReasonText("住房状况", "housing"),
    "R16": ReasonText("本行现有贷款笔数", "number of existing credits at this bank"),
    "R17": ReasonText("职业", "job"),
    "R18": ReasonText("需赡养人数", "number of people supported"),
    "R19": ReasonText("电话登记", "telephone registered"),
    "R20": ReasonText("外籍劳工", "foreign worker"),
    # Profile features (docs/features.md).
    "R21": ReasonText(
        "近24个月征信逾期账户", "overdue accounts in the credit report, last 24 months"
    ),
    "R22": ReasonText(
        "近24个月征信最长逾期天数", "worst days past due in the credit report, last 24 months"
    ),
    "R23": ReasonText("近24个月有核销或代偿记录", "a debt written off or settled, last 24 months"),
    "R24": ReasonText("征信账户五级分类较差", "a poor five-category grade on a credit account"),
    "R25": ReasonText("近期征信查询机构较多", "many lenders queried the credit report recently"),
    "R26": ReasonText("他行未结清账户较多", "many open accounts at other lenders"),
    "R27": ReasonText("负债收入比", "debt relative to income"),
    "R28": ReasonText("近24个月本行还款逾期", "late instalments at this bank, last 24 months"),
    "R29": ReasonText(
        "近24个月本行还款最长逾期天数", "most days late on an instalment here, last 24 months"
    ),
    "R30": ReasonText("近12个月日均存款余额", "average deposit balance, last 12 months"),
    "R31": ReasonText("存款流入不稳定", "unstable monthly deposit inflow"),
    "R32": ReasonText("法院执行案件未结", "open court enforcement cases"),
    "R33": ReasonText("列入失信被执行人名单", "on the dishonest judgment debtors list"),
    "R34": ReasonText("房产被查封", "property under seizure"),
    "R35": ReasonText("电费按时缴纳比例", "share of electricity bills paid on time"),
    "R36": ReasonText("农户信用等级", "household credit-village grade"),
    "R37": ReasonText("纳税信用等级", "taxpayer credit grade"),
    "R38": ReasonText("销售额变化趋势", "trend of sales, last 12 months"),
    "R39": ReasonText("企业成立年限", "age of the firm"),
    "R40": ReasonText("关联方风险", "risk in related parties"),
    "R41": ReasonText("客户集中度", "share of sales to the largest buyer"),
    "R42": ReasonText("家庭结构", "place and size of the household"),
    "R43": ReasonText("婚姻状况", "marital status"),
    "R44": ReasonText("房产情况", "property owned"),
    "R45": ReasonText("本行现有贷款", "loans outstanding at this bank"),
    "R46": ReasonText("征信公共记录", "public records in the credit report"),
    "R47": ReasonText("本行当前逾期未还", "instalments overdue and unpaid at this bank now"),
    "R48": ReasonText("药材种植情况", "herb planting of the household"),
    "R49": ReasonText("药材价格变化", "change in the price of the herbs grown or traded"),
    "R50": ReasonText("经营实体情况", "firms run and licences held"),
    "R51": ReasonText("存款流入情况", "deposit inflow, last 12 months"),
    "R52": ReasonText("社保缴费记录", "social insurance contributions"),
    "R53": ReasonText("与本行往来时长", "length of the relationship with this bank"),
    "R54": ReasonText("所在地区", "district"),
    "R55": ReasonText("企业类型与经营状态", "kind, industry and standing of the firm"),
    "R56": ReasonText("企业规模", "size of the firm"),
    "R57": ReasonText("经营许可情况", "trading licences held"),
    FALLBACK: ReasonText("{feature}", "{feature}"),
}

FEATURE_CODES: dict[str, str] = {
    "status_of_existing_checking_account": "R01",
    "duration_in_month": "R02",
    "credit_history": "R03",
    "purpose": "R04",
    "credit_amount": "R05",
    "savings_account_and_bonds": "R06",
    "present_employment_since": "R07",
    "installment_rate_in_percentage_of_disposable_income": "R08",
    "personal_status_and_sex": "R09",
    "other_debtors_or_guarantors": "R10",
    "present_residence_since": "R11",
    "property": "R12",
    "age_in_years": "R13",
    "age_years": "R13",
    "other_installment_plans": "R14",
    "housing": "R15",
    "number_of_existing_credits_at_this_bank": "R16",
    "job": "R17",
    "number_of_people_being_liable_to_provide_maintenance_for": "R18",
    "telephone": "R19",
    "foreign_worker": "R20",
    "bureau_overdue_accounts_24m": "R21",
    "bureau_overdue_months_24m": "R21",
    "bureau_worst_dpd_24m": "R22",
    "bureau_writeoff_24m": "R23",
    "bureau_worst_five_category": "R24",
    "bureau_query_orgs_30d": "R25",
    "bureau_query_orgs_90d": "R25",
    "bureau_application_orgs_30d": "R25",
    "bureau_application_orgs_90d": "R25",
    "bureau_other_lender_open_accounts": "R26",
    "debt_to_income": "R27",
    "bank_late_instalments_24m": "R28",
    "bank_max_days_late_24m": "R29",
    "deposit_avg_balance_12m": "R30",
    "deposit_avg_balance_6m": "R30",
    "deposit_inflow_cv_12m": "R31",
    "court_open_cases": "R32",
    "open_enforcement_cases": "R32",
    "open_enforcement_amount": "R32",
    "on_dishonest_list": "R33",
    "property_seized_now": "R34",
    "utility_on_time_share_12m": "R35",
    "household_credit_grade": "R36",
    "tax_grade": "R37",
    "legal_rep_worst_tax_grade": "R37",
    "sales_trend_12m": "R38",
    "firm_age_years": "R39",
    "related_open_enforcement": "R40",
    "related_open_enforcement_amount": "R40",
    "related_worst_tax_grade": "R40",
    "top_buyer_share_12m": "R41",
    "is_household_head": "R42",
    "household_size": "R42",
    "marital_status": "R43",
    "marital_status_source": "R43",
    "property_count": "R44",
    "property_area_sqm": "R44",
    "property_value": "R44",
    "property_unpriced_count": "R44",
    "property_seizures_active": "R34",
    "property_seizures_total": "R34",
    "bank_loans_open": "R45",
    "bank_loan_outstanding": "R45",
    "bank_instalments_due_24m": "R45",
    "bureau_balance": "R26",
    "bureau_other_lender_balance": "R26",
    "bureau_accounts": "R26",
    "bureau_open_accounts": "R26",
    "total_debt": "R27",
    "dti_annual_income": "R27",
    "bureau_overdue_accounts": "R21",
    "bureau_overdue_amount": "R21",
    "bureau_public_records": "R46",
    "bank_unpaid_overdue_instalments": "R47",
    "bank_unpaid_overdue_amount": "R47",
    "household_plants_herbs": "R48",
    "planted_area_mu": "R48",
    "contracted_area_mu": "R48",
    "planting_main_variety": "R48",
    "planted_area_change_mu": "R48",
    "planting_varieties_count": "R48",
    "main_variety_price_change_12m": "R49",
    "herb_price_change_12m": "R49",
    "herb_basket_source": "R49",
    "legal_rep_live_firms": "R50",
    "legal_rep_has_live_licence": "R50",
    "household_in_credit_village": "R36",
    "court_cases_count": "R32",
    "court_open_amount": "R32",
    "dishonest_listed": "R33",
    "dishonest_listings_count": "R33",
    "utility_bills_12m": "R35",
    "utility_max_days_late_12m": "R35",
    "utility_unpaid_bills_12m": "R35",
    "deposit_balance_latest": "R30",
    "deposit_avg_inflow_12m": "R51",
    "deposit_months_12m": "R51",
    "pension_months_24m": "R52",
    "pension_latest_base": "R52",
    "pension_schemes_24m": "R52",
    "is_bank_customer": "R53",
    "bank_customer_months": "R53",
    "district_code": "R54",
    "entity_type": "R55",
    "firm_is_live": "R55",
    "industry_category": "R55",
    "registered_capital_yuan": "R56",
    "insured_employees": "R56",
    "live_licences": "R57",
    "has_herb_trade_licence": "R57",
    "sales_12m": "R38",
    "sales_prev_12m": "R38",
    "sales_3m_yoy": "R38",
    "related_firms": "R40",
}


@dataclass(frozen=True)
class Reason:
    """One reason for one applicant. `impact` is points lost (scorecard) or the feature's
    contribution to the log-odds of bad (LightGBM); larger is worse."""

    feature: str
    code: str
    zh: str
    en: str
    impact: float


def describe(
    feature: str,
    codes: Mapping[str, str] = FEATURE_CODES,
    texts: Mapping[str, ReasonText] = REASON_TEXTS,
) -> tuple[str, ReasonText]:
    """The code and texts of a feature; the fallback code names the feature itself."""
    code = codes.get(feature, FALLBACK)
    text = texts[code]
    return code, ReasonText(text.zh.format(feature=feature), text.en.format(feature=feature))


def top_reasons(
    features: list[str],
    impact: np.ndarray,
    *,
    top: int = 4,
    codes: Mapping[str, str] = FEATURE_CODES,
    texts: Mapping[str, ReasonText] = REASON_TEXTS,
) -> list[list[Reason]]:
    """Per row, up to `top` reasons with positive impact, largest first, ties broken by
    feature name; a code appears once per row, under its strongest feature (every
    fallback feature is its own reason)."""
    described = [describe(name, codes, texts) for name in features]
    # Column order by name, so that a stable sort on impact breaks ties by name.
    by_name = np.argsort(np.asarray(features, dtype=object), kind="stable")
    rows: list[list[Reason]] = []
    for values in np.asarray(impact, dtype="float64"):
        order = by_name[np.argsort(-values[by_name], kind="stable")]
        reasons: list[Reason] = []
        seen: set[str] = set()
        for j in order:
            code, text = described[j]
            if values[j] <= 0.0 or len(reasons) == top:
                break
            # Fallback reasons each name their own feature, so only real codes merge.
            key = features[j] if code == FALLBACK else code
            if key not in seen:
                seen.add(key)
                reasons.append(Reason(features[j], code, text.zh, text.en, float(values[j])))
        rows.append(reasons)
    return rows


# Differences below this many points are rounding between optbinning's table and transform.
POINTS_TOLERANCE = 1e-9


def characteristic_points(scorecard: Scorecard, X: pd.DataFrame) -> np.ndarray:
    """Points of each selected characteristic (columns in `scorecard.selected_` order) for
    each row: -factor * coefficient * WOE. With the constant `offset - factor * intercept`
    they add up to `scorecard.score(X)`."""
    coef = np.asarray(scorecard.estimator_.coef_[0], dtype="float64")
    return np.asarray(-scorecard.factor * scorecard.woe(X) * coef, dtype="float64")


def best_points(scorecard: Scorecard) -> np.ndarray:
    """Points of each selected characteristic's best bin, among bins training rows fell in."""
    check_is_fitted(scorecard, "estimator_")
    best = []
    for name, coef in zip(scorecard.selected_, scorecard.estimator_.coef_[0], strict=True):
        table = scorecard.binning_.get_binned_variable(name).binning_table.build()
        bins = table[(table.index != "Totals") & (table["Count"] > 0)]
        points = -scorecard.factor * coef * bins["WoE"].to_numpy(dtype="float64")
        best.append(float(points.max()))
    return np.asarray(best, dtype="float64")


def scorecard_reasons(scorecard: Scorecard, X: pd.DataFrame, *, top: int = 4) -> list[list[Reason]]:
    """Per applicant, the characteristics that lost most points against their best bin."""
    lost = best_points(scorecard)[None, :] - characteristic_points(scorecard, X)
    lost = np.where(lost > POINTS_TOLERANCE, lost, 0.0)
    return top_reasons(list(scorecard.selected_), lost, top=top)


def lightgbm_contributions(
    challenger: Challenger, X: pd.DataFrame
) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(features, contributions, bias): LightGBM's own split of each row's log-odds of bad,
    one column per feature, plus the bias they add to."""
    data = challenger.prepared(X)
    contrib = np.asarray(challenger.estimator_.predict(data, pred_contrib=True), dtype="float64")
    return [*challenger.numeric_, *challenger.text_], contrib[:, :-1], contrib[:, -1]


def lightgbm_reasons(
    challenger: Challenger, X: pd.DataFrame, *, top: int = 4
) -> list[list[Reason]]:
    """Per applicant, the features pushing the log-odds of bad up most."""
    features, contrib, _ = lightgbm_contributions(challenger, X)
    return top_reasons(features, contrib, top=top)
