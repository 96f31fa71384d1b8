"""Typed settings, loaded once from the environment (``G2P_`` prefix) and ``.env``.

Embedded mode (the default) needs nothing: a SQLite file and a generated secret key live under
the data folder.  Scale mode refuses to start without an explicit secret key and a server
database, so a national deployment can never run on a default secret.
"""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from g2p_payment_phee.errors import ConfigurationError
from g2p_payment_phee.i18n import _

SECRET_KEY_FILE = "secret.key"  # noqa: S105 - a file name, not a secret
MIN_SECRET_KEY_LENGTH = 32


class Mode(StrEnum):
    """Where the product runs: one laptop, or servers and workers."""

    EMBEDDED = "embedded"
    SCALE = "scale"


class JobRunnerKind(StrEnum):
    """Who runs long work: threads of the web process, or Celery workers."""

    INPROCESS = "inprocess"
    CELERY = "celery"


BROKER_SCHEMES = ("redis", "rediss", "amqp", "amqps", "pyamqp", "memory")


class Settings(BaseSettings):
    """Every setting of the product; see the README for the list."""

    model_config = SettingsConfigDict(
        env_prefix="G2P_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    mode: Mode = Mode.EMBEDDED
    data_dir: Path = Path("var")
    database_url: str = ""
    secret_key: SecretStr | None = None
    default_phone_region: Annotated[str | None, Field(min_length=2, max_length=2)] = None
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    job_runner: JobRunnerKind | None = None  # default: inprocess (embedded), celery (scale)
    broker_url: SecretStr | None = (
        None  # Celery broker (redis://… or amqp://…); may hold a password
    )
    celery_queue: Annotated[str, Field(min_length=1, max_length=100)] = "g2p"
    sweep_seconds: Annotated[int, Field(ge=1, le=3600)] = 60
    stale_job_seconds: Annotated[int, Field(ge=30)] = 120  # jobs beat their heart every 10 s
    # an unknown outcome's absence from the hub's batch list proves nothing until every upload
    # of that batch started at least this long ago (SPEC 2.3; payments/resend.py)
    unknown_outcome_quiet_seconds: Annotated[int, Field(ge=1, le=7 * 24 * 3600)] = 900
    # a send's claim on a batch lasts this long unless the sending process renews it
    send_lease_seconds: Annotated[int, Field(ge=2, le=3600)] = 60
    # payments accepted by the hub this long ago and still not final are reported (SPEC 3.4)
    overdue_after_hours: Annotated[int, Field(ge=1, le=24 * 365)] = 48
    # None: Secure cookies in scale mode (behind HTTPS), not in embedded mode (http://localhost)
    cookie_secure: bool | None = None
    # addresses/CIDRs whose X-Forwarded-For/-Proto are believed (the TLS proxy); empty: nobody's
    trusted_proxies: str = ""
    # times are shown in this zone (an IANA name) to users who chose none in their account
    time_zone: str = "UTC"

    @field_validator("time_zone")
    @classmethod
    def _zone_known(cls, value: str) -> str:
        from g2p_payment_phee.i18n import valid_zone

        return valid_zone(value.strip())

    @field_validator("default_phone_region")
    @classmethod
    def _region_upper(cls, value: str | None) -> str | None:
        if value is None:
            return None
        import phonenumbers

        region = value.upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValueError(
                _("{value!r} is not a phone region (ISO 3166 alpha-2, e.g. KE)").format(value=value)
            )
        return region

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        """Each entry an IP address or network, normalised; ``*`` and host names refused."""
        import ipaddress

        networks = []
        for entry in filter(None, (part.strip() for part in value.split(","))):
            try:
                networks.append(str(ipaddress.ip_network(entry, strict=False)))
            except ValueError:
                raise ValueError(
                    _(
                        "{entry!r} is not an IP address or network (e.g. 10.0.0.5, 10.0.0.0/24)"
                    ).format(entry=entry)
                ) from None
        return ",".join(networks)

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _mode_rules(self) -> Settings:
        if not self.database_url:
            if self.mode is Mode.SCALE:
                raise ValueError(_("G2P_DATABASE_URL is required in scale mode (PostgreSQL)"))
            self.database_url = f"sqlite:///{self.data_dir / 'g2p.sqlite3'}"
        if self.mode is Mode.SCALE:
            if self.secret_key is None:
                raise ValueError(_("G2P_SECRET_KEY is required in scale mode (never a default)"))
            if self.database_url.startswith("sqlite"):
                raise ValueError(_("scale mode needs a server database, not SQLite"))
        key = self.secret_key
        if key is not None and len(key.get_secret_value()) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(
                _("G2P_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} chars").format(
                    MIN_SECRET_KEY_LENGTH=MIN_SECRET_KEY_LENGTH
                )
            )
        if self.job_runner is None:
            scale = self.mode is Mode.SCALE
            self.job_runner = JobRunnerKind.CELERY if scale else JobRunnerKind.INPROCESS
        if self.job_runner is JobRunnerKind.CELERY:
            _check_broker_url(self.broker_url)
        return self

    @property
    def is_sqlite(self) -> bool:
        """Whether the database is the embedded SQLite file."""
        return self.database_url.startswith("sqlite")

    @property
    def unknown_outcome_quiet(self) -> timedelta:
        """How long after an upload's start the hub's silence about it proves it absent."""
        return timedelta(seconds=self.unknown_outcome_quiet_seconds)

    @property
    def send_lease(self) -> timedelta:
        """How long a send's claim on a batch lasts without a renewal."""
        return timedelta(seconds=self.send_lease_seconds)

    @property
    def overdue_after(self) -> timedelta:
        """How long after the hub accepted a payment an open outcome is reported as overdue."""
        return timedelta(hours=self.overdue_after_hours)

    @property
    def secure_cookies(self) -> bool:
        """Whether the session cookie carries the Secure flag (sent over HTTPS only)."""
        if self.cookie_secure is not None:
            return self.cookie_secure
        return self.mode is Mode.SCALE

    def secret(self) -> str:
        """The secret key: configured, or (embedded mode) the one kept under ``data_dir``."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return _embedded_secret(self.data_dir / SECRET_KEY_FILE)


def _check_broker_url(url: SecretStr | None) -> None:
    """Celery needs a broker it can reach; say which setting is wrong without echoing it (a
    broker URL may carry a password)."""
    if url is None or not url.get_secret_value().strip():
        raise ValueError(
            "G2P_BROKER_URL is required for Celery workers (scale mode), e.g. redis://host:6379/0"
        )
    scheme, sep, rest = url.get_secret_value().partition("://")
    if not sep or scheme.lower() not in BROKER_SCHEMES or (scheme != "memory" and not rest):
        raise ValueError(
            "G2P_BROKER_URL must look like redis://host:6379/0 or amqp://user@host:5672// "
            f"(scheme one of {', '.join(BROKER_SCHEMES)})"
        )


def _embedded_secret(path: Path) -> str:
    """Read the generated key, creating it owner-readable only (0600) on first use."""
    if path.exists():
        if path.stat().st_mode & 0o077:
            raise ConfigurationError(
                _("{path} must be readable by its owner only (chmod 600)").format(path=path)
            )
        return path.read_text(encoding="ascii").strip()
    from g2p_payment_phee.security import private_dir

    private_dir(path.parent)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(key)
    return key


def describe_validation_error(error: ValidationError) -> str:
    """One line per problem, naming the environment variable, for people starting the app."""
    lines = []
    for problem in error.errors():
        name = ".".join(str(part) for part in problem["loc"])
        variable = f"G2P_{name.upper()}" if name else "settings"
        lines.append(f"{variable}: {problem['msg'].removeprefix('Value error, ')}")
    return "; ".join(lines)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The settings, loaded and validated once; raises ConfigurationError with clear text."""
    try:
        return Settings()
    except ValidationError as error:
        raise ConfigurationError(
            _("invalid settings: {describe_validation_error}").format(
                describe_validation_error=describe_validation_error(error)
            )
        ) from error
