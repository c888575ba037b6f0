"""The gateway's audit log for admins: how many entries it holds and, on asking, a walk of
its hash chain (`api.audit.verify`): intact, or the first entry that does not hold and why.

Verifying reads every entry, so it runs when asked (`?verify=1`), not on every visit; it
changes nothing, so it is a GET and needs no CSRF token.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

# DESIGN.md: nothing imports `api`. The audit chain's format and its verification live only
# in `purecredit.api.audit` (the CLI's `audit verify` imports it too), so the console imports
# that one module, and nothing else of the gateway's internals, rather than copy it.
from purecredit.api.audit import last_seq, verify
from purecredit.ui.auth import ConsoleRoute, SignedDep, engine_of, require_page
from purecredit.ui.render import page

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/audit")
def audit(request: Request, who: SignedDep) -> Response:
    staff = require_page(who, "audit")
    engine = engine_of(request)
    result = verify(engine) if request.query_params.get("verify") == "1" else None
    return page(request, "audit.html", staff=staff, csrf=who.csrf,
                entries=last_seq(engine), result=result)  # fmt: skip
