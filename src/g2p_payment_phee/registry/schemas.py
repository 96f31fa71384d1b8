"""Public shapes of the registry: service inputs, a page of results, the import report.

Input models check types only; every business rule (phone, email, dates, lengths) is checked by
the services, so every entry point gets the same ``ValidationFailed`` with field errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from g2p_payment_phee.registry.models import Gender, RegistrantKind

T = TypeVar("T")


class RegistrantFields(BaseModel):
    """Descriptive fields shared by creation and update."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    birthdate: date | None = None
    gender: Gender | None = None
    address: str | None = None
    email: str | None = None


class RegistrantCreate(RegistrantFields):
    """A new registrant; ``name`` may be left out when given/family names are present."""

    reference: str
    kind: RegistrantKind = RegistrantKind.INDIVIDUAL


class RegistrantUpdate(RegistrantFields):
    """Changes to a registrant: only the fields explicitly set are changed (None clears)."""


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a search, with the total number of matches."""

    items: Sequence[T]
    total: int
    page: int
    page_size: int

    @property
    def pages(self) -> int:
        """How many pages the matches fill (at least 1)."""
        return max(1, -(-self.total // self.page_size))
