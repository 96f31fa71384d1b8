"""The emulator's configuration: tenants, users, clients, keys, payment modes, outcomes, faults.

Defaults reproduce PHEE's demo set-up (phee-api.md section 2.3) so that a client configured with
the product's defaults works against an emulator started with no configuration at all.
Everything under ``outcomes``, ``faults``, ``processing``, ``auth`` and ``jws`` can be replaced
while the emulator runs (admin endpoints, :class:`~.server.EmulatorServer`).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

DEFAULT_TENANTS = (
    "gorilla",
    "rhino",
    "wakanda",
    "lion",
    "pluto",
    "venus",
    "jupiter",
    "greenbank",
    "redbank",
    "bluebank",
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModeType(StrEnum):
    """How PHEE routes a (sub-)batch: one channel call per row, or a bulk connector."""

    PAYMENT = "PAYMENT"
    BULK = "BULK"


class Endpoint(StrEnum):
    """Endpoint groups a fault rule can target."""

    UPLOAD = "upload"
    TOKEN = "token"  # noqa: S105 - an endpoint group, not a secret
    STATUS = "status"
    DETAILS = "details"
    LIST = "list"


class FaultKind(StrEnum):
    """What a fault rule does to a matching request."""

    ERROR_5XX = "error_5xx"
    SLOW = "slow"
    HANG = "hang"
    DROP = "drop"
    MALFORMED_JSON = "malformed_json"
    TOKEN_EXPIRED = "token_expired"  # noqa: S105 - a fault kind
    LATE_STORE = "late_store"
    STORE_TWICE = "store_twice"


UPLOAD_ONLY_KINDS = frozenset({FaultKind.LATE_STORE, FaultKind.STORE_TWICE})


class UserConfig(_Model):
    """An operations-app user for the password grant."""

    username: str
    password: str


class ClientConfig(_Model):
    """An OAuth client, authenticated with HTTP Basic on ``/oauth/token``."""

    client_id: str
    secret: str = ""
    grant_types: list[str] = Field(default_factory=lambda: ["password", "refresh_token"])


def _default_clients() -> list[ClientConfig]:
    clients = [ClientConfig(client_id="client")]
    clients += [
        ClientConfig(
            client_id=f"channel-{t}",
            secret="p2345",  # noqa: S106 - PHEE's public demo secret
            grant_types=["client_credentials"],
        )
        for t in DEFAULT_TENANTS
    ]
    return clients


class AuthConfig(_Model):
    """Token endpoint and bearer enforcement (off by default, as in PHEE)."""

    users: list[UserConfig] = Field(
        default_factory=lambda: [
            UserConfig(username="mifos", password="password")  # noqa: S106 - PHEE's demo user
        ]
    )
    clients: list[ClientConfig] = Field(default_factory=_default_clients)
    token_ttl_seconds: int = Field(default=600, ge=1)
    refresh_token_ttl_seconds: int = Field(default=43200, ge=1)
    enforce_bearer: bool = False
    enforce_bearer_on_upload: bool = False


class TenantKeys(_Model):
    """A tenant's signature keys: PEM text or PHEE's one-line base64 DER."""

    certificate: str | None = None
    public_key: str | None = None
    private_key: str | None = None


class JwsConfig(_Model):
    """``X-SIGNATURE`` verification of requests and signing of bulk-processor responses."""

    verify_requests: bool = False
    sign_responses: bool = False
    keys: dict[str, TenantKeys] = Field(default_factory=dict)


class BudgetAccount(_Model):
    """GovStack budget account: overrides the payer of every row (phee-api.md 4.4)."""

    registering_institution_id: str
    program_id: str
    identifier_type: str
    identifier_value: str


def _default_modes() -> dict[str, ModeType]:
    return {
        "mojaloop": ModeType.PAYMENT,
        "gsma": ModeType.PAYMENT,
        "closedloop": ModeType.BULK,
        "slcb": ModeType.BULK,
    }


class ProcessingConfig(_Model):
    """How uploads are checked, split and routed (phee-api.md sections 3-5)."""

    sub_batch_size: int = Field(default=5, ge=1)
    payment_modes: dict[str, ModeType] = Field(default_factory=_default_modes)
    deduplication: bool = True
    channel_idempotency: bool = False
    # In PAYMENT modes (mojaloop, gsma, ...: mobile-money connectors), a row whose payee type
    # is MSISDN and whose payee is not digits only (``+254…``) fails with a reason.
    msisdn_digits_only: bool = True
    max_file_bytes: int = Field(default=100_000, ge=1)
    max_multipart_bytes: int = Field(default=1_048_576, ge=1)
    max_raw_bytes: int = Field(default=8_388_608, ge=1)
    polling_path: str = "/batch/Summary/"
    suggested_callback_seconds: str = "120"
    legacy_upload_response: bool = False
    # An accepted upload is stored at once, then answered this many milliseconds later: a hub
    # that saves the file and starts a workflow before it answers (refused uploads answer at
    # once). Other endpoints are not held.
    upload_latency_ms: float = Field(default=0.0, ge=0)
    budget_accounts: list[BudgetAccount] = Field(
        default_factory=lambda: [
            BudgetAccount(
                registering_institution_id="123",
                program_id="SocialWelfare",
                identifier_type="ACCOUNT",
                identifier_value="123456789",
            )
        ]
    )


class OutcomeConfig(_Model):
    """What happens to the transfers that reach the (emulated) channel."""

    delay_seconds: float = Field(default=0.0, ge=0)
    failure_rate: float = Field(default=0.0, ge=0, le=1)
    failure_reason: str = "Payee FSP rejected the transfer"
    failing_payees: dict[str, str] = Field(default_factory=dict)
    quote_client_correlation_ids: bool = False
    callback_delay_seconds: float = Field(default=0.0, ge=0)


class FaultRule(_Model):
    """One injected fault.

    ``rate`` is the chance that a matching request is hit (drawn from the seeded generator);
    ``times`` caps how often the rule fires. ``after_store`` applies the fault after the
    endpoint did its work (an upload is then stored although the client sees a failure);
    its default is true for ``drop`` and ``hang`` and false otherwise.

    ``late_store`` and ``store_twice`` act on uploads only: their ``endpoints`` default to
    ``["upload"]`` and may name nothing else, and ``after_store`` must stay false (when the
    store happens is what these kinds are about). ``late_store`` reads the whole upload,
    holds it un-stored for ``seconds`` (or until the hangs are released) and then stores it
    whatever the client did meanwhile; ``store_twice`` stores the upload twice (two batch ids,
    same correlation id) and answers with the first store's reply.
    """

    kind: FaultKind
    endpoints: list[Endpoint] = Field(default_factory=lambda: list(Endpoint))
    rate: float = Field(default=1.0, ge=0, le=1)
    times: int | None = Field(default=None, ge=0)
    status: int = Field(default=503, ge=500, le=599)
    seconds: float = Field(default=1.0, ge=0)
    after_store: bool | None = None

    @model_validator(mode="before")
    @classmethod
    def _upload_only_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and "endpoints" not in data:
            kind = data.get("kind")
            if isinstance(kind, str) and kind in UPLOAD_ONLY_KINDS:
                data = {**data, "endpoints": [Endpoint.UPLOAD.value]}
        return data

    @model_validator(mode="after")
    def _resolve_after_store(self) -> FaultRule:
        if self.kind in UPLOAD_ONLY_KINDS:
            if any(endpoint is not Endpoint.UPLOAD for endpoint in self.endpoints):
                raise ValueError(f"{self.kind.value} applies to the upload endpoint only")
            if self.after_store:
                raise ValueError(f"{self.kind.value} cannot be combined with after_store")
            self.after_store = False
        elif self.after_store is None:
            self.after_store = self.kind in (FaultKind.DROP, FaultKind.HANG)
        return self


class FaultConfig(_Model):
    """Fault injection: request rules plus duplicate callbacks."""

    rules: list[FaultRule] = Field(default_factory=list)
    duplicate_callbacks: int = Field(default=0, ge=0)


class EmulatorConfig(_Model):
    """The whole emulator configuration (JSON or TOML file, or built in Python)."""

    seed: int = 0
    tenants: list[str] = Field(default_factory=lambda: list(DEFAULT_TENANTS))
    auth: AuthConfig = Field(default_factory=AuthConfig)
    jws: JwsConfig = Field(default_factory=JwsConfig)
    processing: ProcessingConfig = Field(default_factory=ProcessingConfig)
    outcomes: OutcomeConfig = Field(default_factory=OutcomeConfig)
    faults: FaultConfig = Field(default_factory=FaultConfig)
    sqlite_path: Path | None = None
    callback_timeout_seconds: float = Field(default=5.0, gt=0)
    public_base_url: str | None = None


RUNTIME_SECTIONS = ("auth", "jws", "processing", "outcomes", "faults", "tenants", "seed")


def merge_patch(config: EmulatorConfig, patch: dict[str, Any]) -> EmulatorConfig:
    """Merge ``patch`` into ``config`` section by section and validate the result.

    A section given as an object keeps the fields it does not name; each named field is
    replaced whole (so ``{"processing": {"payment_modes": {...}}}`` sets exactly those modes).
    Only the sections in ``RUNTIME_SECTIONS`` may change while running; storage may not.
    """
    unknown = set(patch) - set(RUNTIME_SECTIONS)
    if unknown:
        raise ValueError(f"cannot change at run time: {', '.join(sorted(unknown))}")
    merged = config.model_dump(mode="json")
    for section, value in patch.items():
        if isinstance(value, dict) and isinstance(merged.get(section), dict):
            merged[section] = {**merged[section], **value}
        else:
            merged[section] = value
    return EmulatorConfig.model_validate(merged)
