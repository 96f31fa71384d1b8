"""The people who use the product, each with one role."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from g2p_payment_phee.db import Base, StrEnumType


class Role(StrEnum):
    """What a user may do (SPEC section 7)."""

    ADMIN = "admin"
    PROGRAM_MANAGER = "program_manager"
    APPROVER = "approver"
    VIEWER = "viewer"


class User(Base):
    """A signed-in person or an operator named on the command line."""

    __tablename__ = "users"

    username: Mapped[str] = mapped_column(String(150), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[Role] = mapped_column(StrEnumType(Role))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    disabled_at: Mapped[datetime | None]
