"""The people who use the product, each with one role."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

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
    # None: the language the browser asks for, and the deployment's zone (G2P_TIME_ZONE)
    language: Mapped[str | None] = mapped_column(String(8))
    time_zone: Mapped[str | None] = mapped_column(String(64))


class ApiToken(Base):
    """A personal API token: shown once at creation, stored only as its SHA-256."""

    __tablename__ = "api_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    expires_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(lazy="joined")


class UserSession(Base):
    """A browser session: the cookie carries a token, the database keeps only its hash."""

    __tablename__ = "user_sessions"

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    expires_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    client_ip: Mapped[str] = mapped_column(String(64), default="")

    user: Mapped[User] = relationship(lazy="joined")


class LoginFailure(Base):
    """A refused sign-in, counted per username and per address to slow guessing down."""

    __tablename__ = "login_failures"
    __table_args__ = (
        Index("ix_login_failures_username_created", "username", "created_at"),
        Index("ix_login_failures_client_ip_created", "client_ip", "created_at"),
    )

    username: Mapped[str] = mapped_column(String(150))
    client_ip: Mapped[str] = mapped_column(String(64))
