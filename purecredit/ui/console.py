"""The officers' console, mounted beside the API gateway (`create_app(settings,
routers=[router])`): server-rendered pages for staff signed in with their own accounts.

Every route is out of the OpenAPI schema and goes through `auth.ConsoleRoute`; see
docs/console.md for the roles, branch scope, sessions and CSRF.
"""

from __future__ import annotations

from fastapi import APIRouter

from purecredit.ui import (
    pages_applications,
    pages_audit,
    pages_cases,
    pages_dashboard,
    pages_data,
    pages_models,
    pages_policies,
    pages_portfolio,
    pages_reviews,
    pages_session,
)

router = APIRouter(tags=["console"], include_in_schema=False)
for _pages in (
    pages_session,
    pages_dashboard,
    pages_applications,
    pages_reviews,
    pages_cases,
    pages_portfolio,
    pages_models,
    pages_policies,
    pages_data,
    pages_audit,
):
    router.include_router(_pages.router)
