"""The hub-wide PHEE defaults: what a new PHEE manager starts from (one row)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from g2p_payment_phee.db import Base, utcnow

HUB_SCOPE = "hub"


class PheeDefaults(Base):
    """Settings and encrypted secrets a new PHEE manager takes where its own are not given;
    ``scope`` is always ``hub`` and unique, so there is at most one row."""

    __tablename__ = "phee_defaults"

    scope: Mapped[str] = mapped_column(String(20), unique=True, default=HUB_SCOPE)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    secrets_encrypted: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
