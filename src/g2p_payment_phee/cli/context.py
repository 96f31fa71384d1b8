"""What every command shares: settings, the database session factory and the acting user."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

import typer
from rich.console import Console
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from g2p_payment_phee.config import Settings, get_settings
from g2p_payment_phee.db import make_engine, make_session_factory, schema_is_current
from g2p_payment_phee.errors import ConfigurationError
from g2p_payment_phee.i18n import _, supported_language
from g2p_payment_phee.users.models import User
from g2p_payment_phee.users.service import acting_user

console = Console(highlight=False)


@dataclass
class CliState:
    """Set once by the root callback, read by every command."""

    actor_name: str | None = None
    debug: bool = False
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def settings(self) -> Settings:
        return get_settings()

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = make_engine(self.settings.database_url)
        return self._engine

    def session_factory(self, *, check_schema: bool = True) -> sessionmaker[Session]:
        if check_schema and not schema_is_current(self.engine):
            raise ConfigurationError(
                _("the database is not initialised or is outdated: run g2p-phee init")
            )
        return make_session_factory(self.engine)

    @contextmanager
    def unit_of_work(self) -> Iterator[Session]:
        """One session, committed once when the command succeeds."""
        session = self.session_factory()()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    def actor(self, session: Session) -> User:
        """The user named by ``--as`` / ``G2P_ACTOR``, active, or a clear refusal."""
        return acting_user(session, self.actor_name)


def state(ctx: typer.Context) -> CliState:
    """The shared state of the running command."""
    obj = ctx.find_root().obj
    assert isinstance(obj, CliState)
    return obj


def cli_language(environ: Mapping[str, str] | None = None) -> str:
    """The language of the command's messages: ``G2P_LANGUAGE``, else the POSIX locale
    (``LC_ALL``, ``LC_MESSAGES``, ``LANG``: ``fr_FR.UTF-8`` is French), else English.  The first
    variable set decides; a language without a catalog is English."""
    environ = os.environ if environ is None else environ
    for name in ("G2P_LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = environ.get(name, "").strip()
        if value:
            # POSIX names carry an encoding and a modifier: fr_FR.UTF-8@euro
            tag = value.split(".", 1)[0].split("@", 1)[0]
            return supported_language(tag) or "en"
    return "en"
