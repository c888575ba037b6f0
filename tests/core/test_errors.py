from __future__ import annotations

import json
import pickle

import pytest

from purecredit.core.errors import (
    Conflict,
    Forbidden,
    Invalid,
    Misconfigured,
    NotFound,
    PayloadTooLarge,
    PolicyViolation,
    PurecreditError,
    Unauthorized,
)

ALL = [Invalid, NotFound, Unauthorized, Forbidden, Conflict, PolicyViolation, PayloadTooLarge]


def test_problem_json_shape_is_pinned() -> None:
    err = Invalid("check digit does not match", record="row 12", field="resident_id")
    assert json.dumps(err.to_problem("/applications/42")) == (
        '{"type": "https://purecredit.dev/problems/invalid", "title": "Invalid input", '
        '"status": 422, "detail": "check digit does not match", '
        '"instance": "/applications/42", "record": "row 12", "field": "resident_id"}'
    )


def test_problem_omits_unset_members() -> None:
    assert NotFound("no such line").to_problem() == {
        "type": "https://purecredit.dev/problems/not-found",
        "title": "Not found",
        "status": 404,
        "detail": "no such line",
    }


@pytest.mark.parametrize(
    ("cls", "status", "slug"),
    [
        (Invalid, 422, "invalid"),
        (NotFound, 404, "not-found"),
        (Unauthorized, 401, "unauthorized"),
        (Forbidden, 403, "forbidden"),
        (Conflict, 409, "conflict"),
        (PolicyViolation, 422, "policy-violation"),
        (PayloadTooLarge, 413, "payload-too-large"),
        (Misconfigured, 500, "misconfigured"),
    ],
)
def test_each_error_knows_its_status_and_type(
    cls: type[PurecreditError], status: int, slug: str
) -> None:
    problem = cls("x").to_problem()
    assert problem["status"] == status
    assert problem["type"] == f"https://purecredit.dev/problems/{slug}"
    assert isinstance(cls("x"), PurecreditError)


def test_titles_and_types_are_distinct() -> None:
    assert len({cls.problem_type() for cls in ALL}) == len(ALL)
    assert len({cls.title for cls in ALL}) == len(ALL)


def test_str_names_record_and_field() -> None:
    err = Invalid("bad birth date", record="row 7", field="resident_id")
    assert str(err) == "bad birth date (record row 7, field resident_id)"
    assert str(Invalid("bad", field="uscc")) == "bad (field uscc)"
    assert str(Invalid("bad")) == "bad"


def test_errors_survive_pickling_for_process_pools() -> None:
    err = pickle.loads(pickle.dumps(Conflict("limit in use", record="line 3", field="limit")))
    assert type(err) is Conflict
    assert (err.detail, err.record, err.field) == ("limit in use", "line 3", "limit")
