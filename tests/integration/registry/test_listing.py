"""Pages of registrants by reference, with the search of search_registrants."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.registry.listing import list_registrants
from g2p_payment_phee.registry.models import RegistrantKind
from g2p_payment_phee.users.models import User
from tests import factories


@pytest.fixture
def people(session: Session) -> None:
    for index in range(7):
        factories.payable_registrant(session, index)
    factories.registrant(session, "H001", RegistrantKind.GROUP)
    session.commit()


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize("limit", [1, 3, 8, 20])
def test_pages_by_reference(session: Session, viewer: User, limit: int) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        page = list_registrants(session, viewer, cursor=cursor, limit=limit)
        seen.extend(r.reference for r in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == sorted(seen)
    assert len(seen) == 8


@pytest.mark.usefixtures("people")
def test_search(session: Session, viewer: User) -> None:
    def refs(**kw) -> list[str]:
        return [r.reference for r in list_registrants(session, viewer, limit=100, **kw).items]

    assert refs(query="B00000") == [f"B{i:06d}" for i in range(7)]
    assert refs(query="Beneficiary 3") == ["B000003"]
    assert refs(query="00000004") == ["B000004"]  # an exact ID value
    assert refs(query="+254700000005") == ["B000005"]  # a phone number
    assert refs(kind=RegistrantKind.GROUP) == ["H001"]
    assert refs(query="nobody") == []


def test_bad_cursor(session: Session, viewer: User) -> None:
    with pytest.raises(ValidationFailed):
        list_registrants(session, viewer, cursor="!!")
