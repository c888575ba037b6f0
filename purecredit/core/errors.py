"""One error hierarchy for the whole platform.

Every error knows its HTTP status and renders itself as RFC 9457 problem details, so the API,
the CLI and batch jobs report failures the same way. Errors name the record and field at fault
so an operator can find the bad input, but they must never carry PII: callers pass masked
values, row numbers or tokens, never a raw ID number, name or phone.
"""

from __future__ import annotations

from typing import Any, ClassVar

PROBLEM_BASE_URI = "https://purecredit.dev/problems/"


class PurecreditError(Exception):
    """Base of every error purecredit raises on purpose.

    `slug` makes the problem `type` URI; it is spelled out per class (not derived from the
    class name) so renaming a class never changes a URI that clients may match on.
    """

    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal error"
    slug: ClassVar[str] = "internal"

    def __init__(self, detail: str, *, record: str | None = None, field: str | None = None):
        super().__init__(detail)
        self.detail = detail
        self.record = record
        self.field = field

    def __str__(self) -> str:
        where = [f"{label} {value}" for label, value in self._location() if value is not None]
        return f"{self.detail} ({', '.join(where)})" if where else self.detail

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only fields are not in `args`; keep them across pickling (process pools).
        return (_rebuild, (type(self), self.detail, self.record, self.field))

    def _location(self) -> tuple[tuple[str, str | None], ...]:
        return (("record", self.record), ("field", self.field))

    @classmethod
    def problem_type(cls) -> str:
        """The stable URI identifying this kind of problem (RFC 9457 `type`)."""
        return PROBLEM_BASE_URI + cls.slug

    def to_problem(self, instance: str | None = None) -> dict[str, object]:
        """Render as an RFC 9457 problem details object (`application/problem+json`).

        `record` and `field` are extension members, present only when set.
        """
        problem: dict[str, object] = {
            "type": self.problem_type(),
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance is not None:
            problem["instance"] = instance
        for name, value in self._location():
            if value is not None:
                problem[name] = value
        return problem


def _rebuild(
    cls: type[PurecreditError], detail: str, record: str | None, field: str | None
) -> PurecreditError:
    return cls(detail, record=record, field=field)


class Invalid(PurecreditError):
    """Input that fails a format, checksum or range rule."""

    status = 422
    title = "Invalid input"
    slug = "invalid"


class NotFound(PurecreditError):
    """A named record does not exist (or the caller may not know that it does)."""

    status = 404
    title = "Not found"
    slug = "not-found"


class Unauthorized(PurecreditError):
    """The caller did not prove who it is."""

    status = 401
    title = "Unauthorized"
    slug = "unauthorized"


class Forbidden(PurecreditError):
    """The caller is known but lacks the scope for this action."""

    status = 403
    title = "Forbidden"
    slug = "forbidden"


class Conflict(PurecreditError):
    """The request clashes with current state (duplicate, stale version, limit already used)."""

    status = 409
    title = "Conflict"
    slug = "conflict"


class PolicyViolation(PurecreditError):
    """Well-formed input that the credit policy or the law does not allow (e.g. no consent)."""

    status = 422
    title = "Policy violation"
    slug = "policy-violation"


class PayloadTooLarge(PurecreditError):
    """A request or upload exceeds a configured size limit."""

    status = 413
    title = "Payload too large"
    slug = "payload-too-large"


class Misconfigured(PurecreditError):
    """The deployment is unsafe or incomplete (e.g. no master key in production).

    Raised instead of guessing, because a guessed key would orphan every encrypted value.
    """

    status = 500
    title = "Server misconfigured"
    slug = "misconfigured"
