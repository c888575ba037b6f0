"""Money and rates as exact Decimals: amounts in yuan with two places (whole fen), never float.

The ledger stores money as NUMERIC(18, 2) (`decide.exposure.MONEY`), so an amount here is a
`Decimal` quantised to the fen (0.01 yuan), the same value a bank statement shows. Floats are
refused rather than rounded, because a float like 0.1 is not the amount the customer owes.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from purecredit.core.errors import Invalid

FEN = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_AMOUNT = Decimal("1e16")  # NUMERIC(18, 2) holds 16 digits before the point
MAX_RATE = Decimal(1)  # an annual rate of 100%; courts cap far lower (4x 1-year LPR)


def to_fen(value: Decimal) -> Decimal:
    """Round a computed amount (interest, an annuity payment) to the fen, half up.

    Chinese banks round interest to the fen by 四舍五入 (round half up), the rule of the
    PBoC's 人民币利率管理规定 for interest; Python's default ROUND_HALF_EVEN (banker's
    rounding) would differ from the bank's statement by a fen on every tie.
    """
    return value.quantize(FEN, rounding=ROUND_HALF_UP)


def split_fen(amount: Decimal, parts: int) -> tuple[Decimal, ...]:
    """Split an exact amount into `parts` equal whole-fen shares, the remainder on the last.

    Shares are rounded down, not half up: this divides money that exists rather than
    computing a new amount, so the remainder (fewer than `parts` fen) must be non-negative
    and the shares sum exactly to `amount`.
    """
    if parts < 1:
        raise Invalid("must be at least 1", field="parts")
    share = (amount / parts).quantize(FEN, rounding=ROUND_DOWN)
    return (share,) * (parts - 1) + (amount - share * (parts - 1),)


def money(value: object, field: str, *, positive: bool = False) -> Decimal:
    """Validate an amount: a Decimal (or int) of whole fen, >= 0 (> 0 with `positive`)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise Invalid("a money amount must be a Decimal (or an int), never a float", field=field)
    try:
        amount = Decimal(value)
        exact = amount.is_finite() and amount == amount.quantize(FEN)
    except InvalidOperation as exc:
        raise Invalid("a money amount must be a finite number", field=field) from exc
    if not exact:
        raise Invalid("a money amount must be a finite number of whole fen", field=field)
    if amount < 0 or (positive and amount == 0):
        raise Invalid(f"a money amount must be {'positive' if positive else '>= 0'}", field=field)
    if amount >= MAX_AMOUNT:
        raise Invalid("a money amount must be under 10^16 yuan", field=field)
    return amount.quantize(FEN)


def annual_rate(value: object, field: str) -> Decimal:
    """Validate an annual rate as a fraction (Decimal("0.0435") is 4.35%), 0 <= rate <= 1."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int):
        raise Invalid("a rate must be a Decimal fraction, never a float", field=field)
    rate = Decimal(value)
    if not rate.is_finite() or rate < 0 or rate > MAX_RATE:
        raise Invalid("a rate must be a fraction between 0 and 1", field=field)
    return rate
