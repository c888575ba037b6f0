"""Loans after the decision: schedules, accrual, repayment, days past due, classification.

Pure arithmetic over frozen dataclasses; money is Decimal to the fen (`money`). Storage, the
end-of-day batch and the CLI build on these functions and add no arithmetic of their own.
"""
