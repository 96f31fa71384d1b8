"""Names with Unicode bidi controls are isolated in <bdi> so they cannot reorder the page."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session

from g2p_payment_phee.registry.models import Registrant
from g2p_payment_phee.users.models import Role, User
from tests import factories
from tests.integration.web.pages.conftest import Browser

RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE: "evil\u202egnp.exe" shows as "evilexe.png"
PROGRAM = f"Cash{RLO}reveR"
REGISTRANT = f"Ann{RLO}nnA"


def _isolated(html: str, name: str) -> int:
    """How often the name appears, each time asserting it sits directly inside a <bdi>."""
    hits = [m.start() for m in re.finditer(re.escape(name), html)]
    for at in hits:
        if "<title>" in html[max(0, at - 40) : at]:
            continue  # the tab title is plain text, not part of the page's layout
        assert html[:at].endswith("<bdi>"), html[max(0, at - 80) : at + 40]
        assert html[at + len(name) :].startswith("</bdi>")
    return len(hits)


def test_program_cycle_and_registrant_names_are_isolated(
    session: Session, admin: User, as_user: Callable[[User], Browser]
) -> None:
    program = factories.program(session, admin, name=PROGRAM)
    cycle = factories.cycle_with_entitlements(session, admin, program, beneficiaries=1)
    cycle.name = f"May{RLO}yaM"
    registrant = session.scalars(select(Registrant)).one()
    registrant.name = REGISTRANT
    session.flush()
    browser = as_user(admin)
    pages = {
        f"/programs/{program.id}": [PROGRAM, cycle.name],
        f"/cycles/{cycle.id}": [PROGRAM, cycle.name],
        f"/cycles/{cycle.id}/entitlements": [cycle.name, REGISTRANT],
        f"/registrants/{registrant.reference}": [REGISTRANT],
        "/programs": [PROGRAM],
        "/": [PROGRAM],
    }
    for url, names in pages.items():
        answer = browser.get(url)
        assert answer.status_code == 200, (url, answer.text[:300])
        for name in names:
            assert _isolated(answer.text, name) >= 1, (url, name)


def test_the_signed_in_username_is_isolated(
    session: Session, as_user: Callable[[User], Browser]
) -> None:
    user = factories.user(session, f"eve{RLO}nimda", Role.ADMIN)
    html = as_user(user).get("/").text
    assert _isolated(html, user.username) >= 1
