"""Turning an accepted file into a batch the way PHEE's bulk workflow does.

Order of stages (phee-api.md 5.1): deduplicate, split into sub-batches of ``sub_batch_size``
rows in file order, route each sub-batch by its first row's payment mode, hand each row to the
channel. Rows that never reach the channel (duplicates, unknown mode, bad amount, reused
request_id with channel idempotency on, malformed row) fail at once, and so does a row whose
payee MSISDN is not digits only when its sub-batch goes to a PAYMENT mode (the mobile-money
connectors behind PHEE refuse ``+254…``); the others complete or fail after the configured
delay. Failure draws are a hash of the seed and the row, so the same upload
always gets the same outcomes whatever the order of arrival.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from array import array
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from .config import EmulatorConfig, ModeType
from .csvfile import Table
from .models import BatchRecord, Chunk, Outcome, Tally

DUPLICATE = "Duplicate transaction."
MODE_NOT_CONFIGURED = "Payment mode not configured"
INVALID_DATA = "Invalid data in file"
MSISDN_TYPE = "msisdn"


def invalid_msisdn(value: str) -> str:
    """The failure reason of a payee MSISDN that is not digits only."""
    return (
        f"Invalid payee MSISDN '{value}': the payment connector takes digits only "
        "(country code and number without '+', spaces or dashes, e.g. 254712000101)"
    )


@dataclass(frozen=True, slots=True)
class Intake:
    """The header values of an accepted upload."""

    tenant: str
    correlation_id: str
    purpose: str
    file_name: str
    callback_url: str | None = None
    registering_institution_id: str | None = None
    program_id: str | None = None


def parse_amount(text: str) -> int | None:
    """A non-negative integer amount, or None (PHEE parses amounts as integers)."""
    if text.isascii() and text.isdigit():
        return int(text)
    return None


def build_batch(
    intake: Intake,
    csv_text: str,
    *,
    config: EmulatorConfig,
    now: float,
    seq: int,
    used_request_ids: set[str] | None,
) -> BatchRecord:
    """Build the stored batch for an accepted file, deciding every row's outcome.

    ``used_request_ids`` is the tenant's set of request_ids already handed to the channel;
    pass it only when channel idempotency is on (it is updated in place).
    """
    table = Table(csv_text)
    plan = _Plan(table, intake, config, used_request_ids)
    rejected = Tally()
    for index in plan.duplicates:
        plan.reject(index, DUPLICATE, rejected)
    size = config.processing.sub_batch_size
    kept = plan.kept()
    ids = _sub_batch_ids() if len(kept) > size else None
    chunks: list[Chunk] = []
    for number, start in enumerate(range(0, len(kept), size)):
        members = kept[start : start + size]
        chunk = Chunk(None if ids is None else next(ids), plan.modes[members[0]])
        plan.route(number, chunk, members)
        chunks.append(chunk)
    delay = config.outcomes.delay_seconds
    return BatchRecord(
        batch_id=str(uuid.uuid4()),
        seq=seq,
        tenant=intake.tenant,
        correlation_id=intake.correlation_id,
        purpose=intake.purpose,
        file_name=intake.file_name,
        callback_url=intake.callback_url,
        registering_institution_id=intake.registering_institution_id,
        program_id=intake.program_id,
        payer_override=_payer_override(intake, config),
        started_at=now,
        due_at=now + delay,
        csv_text=csv_text,
        outcomes=plan.outcomes,
        row_chunks=plan.row_chunks,
        reasons=plan.reasons,
        chunks=chunks,
        tally=Tally.merged([rejected, *(chunk.tally for chunk in chunks)]),
        snapshot_at=now,
    )


class _Plan:
    """Column-wise decisions for one file; only unusual rows take the slow paths."""

    def __init__(
        self, table: Table, intake: Intake, config: EmulatorConfig, used: set[str] | None
    ) -> None:
        count = len(table)
        self.outcomes = bytearray(count)
        self.row_chunks = array("i", [-1]) * count
        self.reasons: dict[int, str] = {}
        self.modes = table.column("payment_mode")
        self.request_ids = table.column("request_id")
        self.payees = table.column("payee_identifier")
        raw_amounts = table.column("amount")
        self.amounts = _amounts(raw_amounts)
        self.problems = _problems(table, raw_amounts, self.amounts)
        self.duplicates = _duplicates(table, raw_amounts) if config.processing.deduplication else []
        processing = config.processing
        self.known_modes = {mode.lower() for mode in processing.payment_modes}
        self.msisdn_modes = {
            mode.lower()
            for mode, kind in processing.payment_modes.items()
            if kind is ModeType.PAYMENT
        }
        self.bad_msisdns = _bad_msisdns(table, self.payees) if processing.msisdn_digits_only else {}
        self.outcome_config = config.outcomes
        self.used = used
        self.salt = f"{config.seed}|{intake.tenant}|{intake.correlation_id}|"
        outcomes = config.outcomes
        self.plain = used is None and not outcomes.failing_payees and outcomes.failure_rate == 0

    def kept(self) -> Sequence[int]:
        """Rows that go on to splitting (all but the duplicates)."""
        if not self.duplicates:
            return range(len(self.outcomes))
        dropped = set(self.duplicates)
        return [i for i in range(len(self.outcomes)) if i not in dropped]

    def reject(self, index: int, reason: str, tally: Tally) -> None:
        """The row never reaches the channel."""
        self.outcomes[index] = Outcome.REJECTED
        self.reasons[index] = reason
        tally.rejected += 1
        tally.rejected_amount += max(self.amounts[index], 0)

    def route(self, number: int, chunk: Chunk, members: Sequence[int]) -> None:
        """Hand a (sub-)batch to its payment mode, or fail it when the mode is unknown."""
        tally = chunk.tally
        mode = chunk.mode.lower()
        configured = mode in self.known_modes
        bad_msisdns = self.bad_msisdns if mode in self.msisdn_modes else {}
        unusual = self.problems or bad_msisdns
        if configured and self.plain and isinstance(members, range) and not unusual:
            # The common case: contiguous rows, nothing unusual; no per-row Python work.
            self.row_chunks[members.start : members.stop] = array("i", [number]) * len(members)
            tally.paid += len(members)
            tally.paid_amount += sum(self.amounts[members.start : members.stop])
            return
        for index in members:
            self.row_chunks[index] = number
            if not configured:
                self.reject(index, MODE_NOT_CONFIGURED, tally)
                continue
            problem = self.problems.get(index) or bad_msisdns.get(index) or self._reused(index)
            if problem is not None:
                self.reject(index, problem, tally)
                continue
            failure = self._failure(index)
            if failure is None:
                tally.paid += 1
                tally.paid_amount += self.amounts[index]
            else:
                self.outcomes[index] = Outcome.FAILS_LATER
                self.reasons[index] = failure
                tally.fails_later += 1
                tally.fails_later_amount += self.amounts[index]

    def _reused(self, index: int) -> str | None:
        if self.used is None:
            return None
        request_id = self.request_ids[index]
        if request_id in self.used:
            return (
                f"TransactionExistsError: a transfer with clientCorrelationId {request_id} exists"
            )
        self.used.add(request_id)
        return None

    def _failure(self, index: int) -> str | None:
        outcomes = self.outcome_config
        if outcomes.failing_payees:
            reason = outcomes.failing_payees.get(self.payees[index])
            if reason is not None:
                return reason
        if outcomes.failure_rate > 0:
            key = f"{self.salt}{index}|{self.request_ids[index]}".encode()
            digest = hashlib.blake2b(key, digest_size=8).digest()
            if int.from_bytes(digest, "big") / 2**64 < outcomes.failure_rate:
                return outcomes.failure_reason
        return None


def _problems(table: Table, raw_amounts: list[str], amounts: list[int]) -> dict[int, str]:
    """Rows PHEE cannot process: malformed, non-integer id, non-integer amount."""
    problems = dict.fromkeys(table.malformed, INVALID_DATA)
    ids = table.column("id")
    if not _all_digits(ids):
        for index, value in enumerate(ids):
            if not _is_int(value):
                problems.setdefault(index, INVALID_DATA)
    if min(amounts, default=0) >= 0:
        return problems
    for index, amount in enumerate(amounts):
        if amount < 0:
            problems.setdefault(
                index, f"Invalid amount '{raw_amounts[index]}': must be a whole number"
            )
    return problems


def _bad_msisdns(table: Table, payees: list[str]) -> dict[int, str]:
    """Rows whose payee type is MSISDN (any case) and whose payee is not digits only."""
    if _all_digits(payees):
        return {}
    types = table.column("payee_identifier_type")
    return {
        index: invalid_msisdn(value)
        for index, (kind, value) in enumerate(zip(types, payees, strict=True))
        if kind.lower() == MSISDN_TYPE and not (value.isascii() and value.isdigit())
    }


def _duplicates(table: Table, raw_amounts: list[str]) -> list[int]:
    """Rows whose payee id + type + amount + currency (no separator) was seen before."""
    keys = [
        a + b + c + d
        for a, b, c, d in zip(
            table.column("payee_identifier"),
            table.column("payee_identifier_type"),
            raw_amounts,
            table.column("currency"),
            strict=True,
        )
    ]
    if len(set(keys)) == len(keys):
        return []
    seen: set[str] = set()
    duplicates: list[int] = []
    for index, key in enumerate(keys):
        if key in seen:
            duplicates.append(index)
        seen.add(key)
    return duplicates


def _sub_batch_ids() -> Iterator[str]:
    """Random UUID-shaped sub-batch ids: one random prefix, then a counter (cheap per id)."""
    base = str(uuid.uuid4())
    prefix, tail = base[:24], int(base[24:], 16)
    for step in itertools.count():
        yield f"{prefix}{(tail + step) % 16**12:012x}"


def _all_digits(values: list[str]) -> bool:
    """True when every value is a non-empty run of ASCII digits (checked in one C call)."""
    joined = "".join(values)
    return all(values) and joined.isascii() and joined.isdigit()


def _amounts(raw: list[str]) -> list[int]:
    """Integer amounts; -1 marks an amount PHEE cannot parse as a non-negative integer."""
    if _all_digits(raw):
        return list(map(int, raw))
    return [int(a) if a.isascii() and a.isdigit() else -1 for a in raw]


def _is_int(text: str) -> bool:
    body = text[1:] if text[:1] in ("+", "-") else text
    return body.isascii() and body.isdigit()


def _payer_override(intake: Intake, config: EmulatorConfig) -> tuple[str, str] | None:
    for account in config.processing.budget_accounts:
        if (
            account.registering_institution_id == intake.registering_institution_id
            and account.program_id == intake.program_id
        ):
            return account.identifier_type, account.identifier_value
    return None
