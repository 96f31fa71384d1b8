"""The one error tree of the product, translated at the edges.

::

    G2PError                      every business error: a stable ``code``, a ``message`` for people
    ├── ConfigurationError        settings or a manager configuration are unusable
    ├── NotFound                  an id, reference or name that does not exist
    ├── NotAuthenticated          no valid session or API token (sign in first)
    ├── PermissionDenied          unknown/disabled user, or a user lacking the role
    ├── RateLimited               too many attempts (sign-in); try again later
    ├── ValidationFailed          input breaks a rule; ``errors`` lists field problems
    │   └── ImportRejected        an import file cannot be read at all (encoding, header, format)
    ├── InvalidTransition         a state change the transition table does not allow
    ├── Conflict                  a uniqueness or concurrency rule (duplicate name, ...)
    ├── BusinessRuleViolation     maker–checker, budget, nothing to pay, ...
    ├── HubIncomplete             the hub refused or did not answer part of the work
    └── PaidTwiceFound            the hub's records show payments paid more than once

The CLI maps these to exit codes (see ``EXIT_CODES``), the API to HTTP statuses, pages to
messages.  Services never raise ``ValueError`` for a business rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class FieldError:
    """One problem with one field, optionally on one row of an import."""

    field: str
    reason: str
    row: int | None = None

    def __str__(self) -> str:
        where = f"row {self.row}: " if self.row is not None else ""
        return f"{where}{self.field}: {self.reason}"


class G2PError(Exception):
    """Base of every error the product raises on purpose."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled with every attribute, whatever the subclass's ``__init__`` takes (a send's
        database work may run in another process and hand errors back)."""
        return (_restore_error, (type(self), self.args, dict(self.__dict__)))


def _restore_error(cls: type[G2PError], args: tuple[Any, ...], state: dict[str, Any]) -> G2PError:
    error = cls.__new__(cls)
    error.args = args
    error.__dict__.update(state)
    return error


class ConfigurationError(G2PError):
    """Settings (or a payment manager's configuration) cannot be used as they are."""

    code = "configuration_error"


class NotFound(G2PError):
    """The thing named does not exist."""

    code = "not_found"


class NotAuthenticated(G2PError):
    """No valid session cookie or API token came with the request."""

    code = "not_authenticated"


class RateLimited(G2PError):
    """Too many attempts in a short time (sign-in); ``retry_after`` is in seconds."""

    code = "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermissionDenied(G2PError):
    """The acting user is unknown, disabled or lacks the role for the action."""

    code = "permission_denied"


class ValidationFailed(G2PError):
    """Input that breaks one or more rules; ``errors`` says which field and why."""

    code = "validation_failed"

    def __init__(self, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.errors: list[FieldError] = list(errors or [])


class ImportRejected(ValidationFailed):
    """An import file that cannot be processed at all (encoding, header, format)."""

    code = "import_rejected"


class InvalidTransition(G2PError):
    """A state change that the entity's transition table does not allow."""

    code = "invalid_transition"


class Conflict(G2PError):
    """A uniqueness or concurrency rule was hit (duplicate name, concurrent change)."""

    code = "conflict"


class BusinessRuleViolation(G2PError):
    """A rule of the domain refuses the action (maker–checker, budget, nothing to pay...)."""

    code = "business_rule_violation"


class HubIncomplete(G2PError):
    """The hub refused or did not answer part of the work; the rest was done (send: batches
    rejected or with an unknown outcome; sync: batches whose status could not be read)."""

    code = "hub_incomplete"


class PaidTwiceFound(G2PError):
    """The hub's records show payments paid more than once (SPEC 2.3): reported by ``status``
    and ``sync`` until an approver acknowledges them (``payments.duplicates``)."""

    code = "paid_twice"


EXIT_CODES: dict[type[G2PError], int] = {
    ConfigurationError: 3,
    NotFound: 4,
    NotAuthenticated: 5,
    PermissionDenied: 5,
    RateLimited: 10,
    ValidationFailed: 6,
    ImportRejected: 6,
    InvalidTransition: 7,
    Conflict: 8,
    BusinessRuleViolation: 9,
    HubIncomplete: 11,
    PaidTwiceFound: 12,
}


def exit_code_for(error: G2PError) -> int:
    """The CLI exit code of an error: specific per class, 1 for anything unexpected."""
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 2
