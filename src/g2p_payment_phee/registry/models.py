"""Registrants (individuals and groups) and the identifiers that pay them (SPEC 2.1)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from g2p_payment_phee.db import Base, StrEnumType, utcnow


class RegistrantKind(StrEnum):
    """An individual, or a group (household) with members."""

    INDIVIDUAL = "individual"
    GROUP = "group"


class Gender(StrEnum):
    """As recorded by the program's registry."""

    FEMALE = "female"
    MALE = "male"
    OTHER = "other"
    UNKNOWN = "unknown"


class IdStatus(StrEnum):
    """Whether a registrant ID was found valid."""

    VALID = "valid"
    INVALID = "invalid"


class IdType(Base):
    """A kind of identifier ("National ID"), optionally with a validation regex.

    A disabled type (``disabled_at`` set) takes no new registrant IDs; the IDs it has stay and
    still pay."""

    __tablename__ = "id_types"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    validation_regex: Mapped[str | None] = mapped_column(String(500))
    description: Mapped[str] = mapped_column(String(500), default="")
    disabled_at: Mapped[datetime | None]

    @property
    def enabled(self) -> bool:
        """Whether new registrant IDs of this type are accepted."""
        return self.disabled_at is None


class Registrant(Base):
    """A person or a household, identified externally by a stable ``reference``."""

    __tablename__ = "registrants"
    __table_args__ = (
        # searches by the start of a name, whatever its case (lists of payments, entitlements);
        # text_pattern_ops lets PostgreSQL serve ``LIKE 'abc%'`` in any collation. PostgreSQL
        # only: SQLite cannot report an index on an expression back (the schema check).
        Index(
            "ix_registrants_name_prefix",
            func.lower(text("name")).label("lower_name"),
            postgresql_ops={"lower_name": "text_pattern_ops"},
        ).ddl_if(dialect="postgresql"),
    )

    reference: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[RegistrantKind] = mapped_column(StrEnumType(RegistrantKind))
    name: Mapped[str] = mapped_column(String(300), index=True)
    given_name: Mapped[str | None] = mapped_column(String(150))
    family_name: Mapped[str | None] = mapped_column(String(150))
    birthdate: Mapped[date | None]
    gender: Mapped[Gender | None] = mapped_column(StrEnumType(Gender))
    address: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(320))
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    ids: Mapped[list[RegistrantId]] = relationship(
        back_populates="registrant", cascade="all, delete-orphan"
    )
    phones: Mapped[list[Phone]] = relationship(
        back_populates="registrant", cascade="all, delete-orphan", order_by="Phone.sequence"
    )
    bank_accounts: Mapped[list[BankAccount]] = relationship(
        back_populates="registrant",
        cascade="all, delete-orphan",
        order_by="BankAccount.sequence",
    )


class GroupMembership(Base):
    """An individual's membership of a group (household)."""

    __tablename__ = "group_memberships"
    __table_args__ = (UniqueConstraint("group_id", "member_id"),)

    group_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("registrants.id", ondelete="CASCADE"))
    member_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registrants.id", ondelete="CASCADE"), index=True
    )
    relationship_to_head: Mapped[str | None] = mapped_column(String(60))


class RegistrantId(Base):
    """One ID of a registrant; at most one per ID type per registrant."""

    __tablename__ = "registrant_ids"
    __table_args__ = (
        UniqueConstraint("registrant_id", "id_type_id"),
        Index("ix_registrant_ids_type_value", "id_type_id", "value"),
    )

    registrant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registrants.id", ondelete="CASCADE")
    )
    id_type_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("id_types.id"))
    value: Mapped[str] = mapped_column(String(100))
    expiry_date: Mapped[date | None]
    status: Mapped[IdStatus] = mapped_column(StrEnumType(IdStatus), default=IdStatus.VALID)

    registrant: Mapped[Registrant] = relationship(back_populates="ids")
    id_type: Mapped[IdType] = relationship()


class Phone(Base):
    """A phone number in E.164; a disabled number is never used to pay."""

    __tablename__ = "phones"
    __table_args__ = (
        UniqueConstraint("registrant_id", "number"),
        Index("ix_phones_registrant_sequence", "registrant_id", "sequence"),
        Index("ix_phones_number", "number"),  # search by phone number
    )

    registrant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registrants.id", ondelete="CASCADE")
    )
    number: Mapped[str] = mapped_column(String(20))
    sequence: Mapped[int] = mapped_column(default=0)
    disabled_at: Mapped[datetime | None]

    registrant: Mapped[Registrant] = relationship(back_populates="phones")


class Bank(Base):
    """A bank, known by name and optionally by code/BIC and country."""

    __tablename__ = "banks"
    __table_args__ = (UniqueConstraint("name", "country"),)

    name: Mapped[str] = mapped_column(String(200))
    code: Mapped[str | None] = mapped_column(String(20), unique=True)
    country: Mapped[str | None] = mapped_column(String(2))


class BankAccount(Base):
    """A registrant's bank account; the first active one (by ``sequence``) is used to pay."""

    __tablename__ = "bank_accounts"
    __table_args__ = (
        UniqueConstraint("registrant_id", "account_number"),
        Index("ix_bank_accounts_registrant_sequence", "registrant_id", "sequence"),
    )

    registrant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("registrants.id", ondelete="CASCADE")
    )
    bank_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("banks.id"))
    account_number: Mapped[str] = mapped_column(String(64))
    iban: Mapped[str | None] = mapped_column(String(34))
    sequence: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)

    registrant: Mapped[Registrant] = relationship(back_populates="bank_accounts")
    bank: Mapped[Bank | None] = relationship()
