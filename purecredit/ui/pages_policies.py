"""Lending policies for risk staff: the packaged versions and the one the counter uses, with
their products and authority tables, and "simulate A against B" (`decide.simulate`) over a
month of the county's walk-in applications, side by side.

A simulation decides every application once per policy in this request, so it is capped
(`MAX_APPLICATIONS`): a page answers in seconds, not minutes. It writes nothing.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Request, Response

from purecredit.core.errors import Invalid, NotFound
from purecredit.core.settings import Settings
from purecredit.decide.applications import month_of_walk_ins, outlets_of
from purecredit.decide.counter import Counter
from purecredit.decide.policy import LEVELS, Policy, load_policy, packaged_policies
from purecredit.decide.simulate import simulate
from purecredit.ui.auth import ConsoleRoute, PostedDep, SignedDep, require_page
from purecredit.ui.render import page

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

IN_USE: Final = "in-use"  # the form's name for the counter's own policy (settings.policy)
MAX_APPLICATIONS: Final = 500
DEFAULT_APPLICATIONS: Final = 200
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")


def _counter(request: Request) -> Counter:
    counter: Counter = request.app.state.gateway.counter
    return counter


def _choices(counter: Counter) -> dict[str, Policy]:
    """The counter's policy first, then every packaged one, by the name the form sends."""
    return {IN_USE: counter.policy} | {name: load_policy(name) for name in packaged_policies()}


def _shown(policy: Policy, in_use: Policy) -> dict[str, Any]:
    return {
        "version": policy.version,
        "effective_from": policy.effective_from.isoformat(),
        "description": policy.description,
        "content_hash": policy.content_hash,
        "in_use": policy.content_hash == in_use.content_hash,
        "products": policy.products,
        "authority": {
            p.code: [(level, policy.authority_for(p.code).level(level)) for level in LEVELS]
            for p in policy.products
        },
        "challenger": policy.split.challenger if policy.split.challenger_share > 0 else None,
        "challenger_share": policy.split.challenger_share,
    }


def _form_defaults(counter: Counter) -> dict[str, Any]:
    as_of = counter.profiles["person"].as_of()
    return {"month": as_of.strftime("%Y-%m") if as_of else "", "count": DEFAULT_APPLICATIONS}


def _page(request: Request, who: Any, **extra: Any) -> Response:
    counter = _counter(request)
    settings: Settings = request.app.state.settings
    choices = _choices(counter)
    return page(
        request,
        "policies.html",
        staff=who.staff,
        csrf=who.csrf,
        in_use_setting=Path(settings.policy).name
        if settings.policy
        else "default",  # no server path
        choices=choices,
        policies={name: _shown(p, counter.policy) for name, p in choices.items()},
        form=_form_defaults(counter) | extra.pop("form", {}),
        max_applications=MAX_APPLICATIONS,
        **extra,
    )


@router.get("/policies")
def policies(request: Request, who: SignedDep) -> Response:
    require_page(who, "policies")
    return _page(request, who)


@router.post("/policies/simulate")
def simulate_policies(
    request: Request,
    who: PostedDep,
    a: Annotated[str, Form()] = IN_USE,
    b: Annotated[str, Form()] = "",
    month: Annotated[str, Form()] = "",
    count: Annotated[int, Form()] = DEFAULT_APPLICATIONS,
) -> Response:
    require_page(who, "policies")
    counter = _counter(request)
    choices = _choices(counter)
    for field, name in (("a", a), ("b", b)):
        if name not in choices:
            raise Invalid(f"no policy {name!r} to simulate", field=field)
    if not _MONTH.fullmatch(month):
        raise Invalid("the month is YYYY-MM", field="month")
    if not 1 <= count <= MAX_APPLICATIONS:
        raise Invalid(f"simulate 1 to {MAX_APPLICATIONS} applications", field="count")
    county = counter.settings.county_path
    if not (county / "manifest.json").is_file():
        raise NotFound(f"no synthetic county at {county} to draw applications from")
    asks = month_of_walk_ins(county, outlets_of(counter), month, count=count,
                             from_day=counter.profiles["person"].as_of())  # fmt: skip
    result = simulate(counter, asks, [choices[a], choices[b]], county)
    return _page(request, who, form={"a": a, "b": b, "month": month, "count": count},
                 result=result)  # fmt: skip
