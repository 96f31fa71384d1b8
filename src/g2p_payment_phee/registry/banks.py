"""Finding a bank by code or name, registering unknown ones: shared by the services and import.

A bank is found by its code (a bank code or BIC) when one is given, else by name (case
insensitive) and country.  A bank not yet known is registered when a name is given; an unknown
code without a name is refused, as is a code that contradicts the code the named bank already has.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session

from g2p_payment_phee.db import utcnow
from g2p_payment_phee.i18n import _
from g2p_payment_phee.ids import new_id
from g2p_payment_phee.registry.models import Bank
from g2p_payment_phee.registry.validation import reject

BANKS: Table = Bank.__table__  # type: ignore[assignment]


@dataclass
class BankDirectory:
    """The banks known so far (loaded once), plus those this unit of work registers."""

    by_code: dict[str, uuid.UUID] = field(default_factory=dict)
    by_name: dict[tuple[str, str | None], tuple[uuid.UUID, str | None]] = field(
        default_factory=dict
    )
    pending: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, session: Session) -> BankDirectory:
        """Every registered bank (a small table: one row per bank of the country)."""
        directory = cls()
        rows = session.execute(select(BANKS.c.id, BANKS.c.code, BANKS.c.name, BANKS.c.country))
        for bank_id, code, name, country in rows:
            directory._remember(bank_id, code, name, country)
        return directory

    def _remember(
        self, bank_id: uuid.UUID, code: str | None, name: str, country: str | None
    ) -> None:
        if code is not None:
            self.by_code[code] = bank_id
        self.by_name.setdefault((name.casefold(), country), (bank_id, code))

    def resolve(
        self, code: str | None, name: str | None, country: str | None, *, field_prefix: str = ""
    ) -> uuid.UUID:
        """The bank's id, registering it (pending) when new; ValidationFailed when ambiguous."""
        if code is not None and code in self.by_code:
            return self.by_code[code]
        if name is None:
            if code is None:
                reject(
                    f"{field_prefix}bank_name",
                    _("is required to name a bank"),
                )
            reject(
                f"{field_prefix}bank_code",
                _("unknown bank code {code!r}: give bank_name too to register the bank").format(
                    code=code
                ),
            )
        known = self.by_name.get((name.casefold(), country))
        if known is not None:
            bank_id, known_code = known
            if code is not None and known_code is not None and known_code != code:
                reject(
                    f"{field_prefix}bank_code",
                    _("bank {name!r} is registered with code {known_code!r}, not {code!r}").format(
                        name=name, known_code=known_code, code=code
                    ),
                )
            return bank_id
        return self._register(code, name, country)

    def _register(self, code: str | None, name: str, country: str | None) -> uuid.UUID:
        bank_id = new_id()
        self.pending.append(
            {"id": bank_id, "created_at": utcnow(), "code": code, "name": name, "country": country}
        )
        self._remember(bank_id, code, name, country)
        return bank_id

    def write_pending(self, session: Session, used: set[uuid.UUID] | None = None) -> int:
        """Insert the registered banks (only those in ``used``, when given); how many.

        The importer passes the banks its accepted rows use, so that a bank named only by
        rejected rows is never written; the others stay pending for later rows.
        """
        ready = [b for b in self.pending if used is None or b["id"] in used]
        if ready:
            session.execute(insert(BANKS), ready)
            self.pending = [b for b in self.pending if used is not None and b["id"] not in used]
        return len(ready)
