"""Small builders of valid rows for tests; each flushes, none commits."""

from __future__ import annotations

from sqlalchemy.orm import Session

from g2p_payment_phee.security import hash_password
from g2p_payment_phee.users.models import Role, User

PASSWORD = "correct-horse-battery"
_FAST_HASH = hash_password(PASSWORD)


def user(session: Session, username: str, role: Role, *, active: bool = True) -> User:
    """A user with the test password (hashed once per run to keep tests fast)."""
    row = User(username=username, role=role, password_hash=_FAST_HASH, active=active)
    session.add(row)
    session.flush()
    return row
