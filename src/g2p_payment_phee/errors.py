"""The one error tree of the product, and the one table that translates it at the edges.

::

                                  HTTP exit
    G2PError                       500  18  every business error: a stable ``code``, a ``message``
    ├── ConfigurationError         409   3  settings or a manager configuration are unusable
    ├── NotFound                   404   4  an id, reference or name that does not exist
    ├── NotAuthenticated           401  13  no valid session or API token (sign in first)
    ├── PermissionDenied           403   5  unknown/disabled user, or a user lacking the role
    ├── RateLimited                429  14  too many attempts (sign-in); ``Retry-After`` says when
    ├── ValidationFailed           422   6  input breaks a rule; ``errors`` lists field problems
    │   └── ImportRejected         422   6  an import file cannot be read at all (encoding, header)
    ├── InvalidTransition          409   7  a state change the transition table does not allow
    ├── Conflict                   409   8  a uniqueness or concurrency rule (duplicate name, ...)
    ├── BusinessRuleViolation      409   9  maker–checker, budget, nothing to pay, ...
    ├── DatabaseUnavailable        503  10  the database cannot be reached; try again later
    ├── HubIncomplete              502  11  the hub refused or did not answer part of the work
    ├── PaidTwiceFound             409  12  the hub's records show payments paid more than once
    └── phee.errors.PheeError      502  15  the hub refused a call or answered unusably
        ├── PheeAuthError          502  17  the hub refused our credentials (fix the settings)
        ├── PheeRejected           502  15  4xx: the hub refused the request
        │   └── PheeNotFound       502  15  404: the hub does not know the batch
        ├── PheeUnavailable        503  16  timeout, connection error, 5xx: try again later
        └── PheeProtocolError      502  15  an answer the client cannot use

Every class declares its own ``http_status`` and ``exit_code`` (class attributes, so classes
defined elsewhere, like the hub's, need nothing from here but the base), and nothing else maps
errors: the API answers ``http_status_for(error)``, pages show the message with that status and
the CLI exits with ``exit_code_for(error)``.  ``docs/errors.md`` holds the same table for users.

HTTP: the hub's failures are the hub's, not the caller's: 502 Bad Gateway (never the hub's own
401 or 404, which would blame the caller's token or URL), 503 while the hub or the database is
unavailable.  A request the current state refuses is 409, input that breaks a rule 422.

Exit codes: 0 success, 1 unexpected failure (not a product error), 2 usage (wrong command or
option), then one code per meaning above; a code is never reused for another meaning.

Services never raise ``ValueError`` for a business rule.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from g2p_payment_phee.i18n import _


@dataclass(frozen=True)
class FieldError:
    """One problem with one field, optionally on one row of an import."""

    field: str
    reason: str
    row: int | None = None

    def __str__(self) -> str:
        if self.row is None:
            return f"{self.field}: {self.reason}"
        return _("row {row}: {field}: {reason}").format(
            row=self.row, field=self.field, reason=self.reason
        )


class G2PError(Exception):
    """Base of every error the product raises on purpose.  Raised as itself only when no
    subclass fits (a file that could not be rendered, leases that lapsed): a server-side
    failure the message explains."""

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 18

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
    http_status = 409
    exit_code = 3


class NotFound(G2PError):
    """The thing named does not exist."""

    code = "not_found"
    http_status = 404
    exit_code = 4


class NotAuthenticated(G2PError):
    """No valid session cookie or API token came with the request."""

    code = "not_authenticated"
    http_status = 401
    exit_code = 13


class RateLimited(G2PError):
    """Too many attempts in a short time (sign-in); ``retry_after`` is in seconds."""

    code = "rate_limited"
    http_status = 429
    exit_code = 14

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class PermissionDenied(G2PError):
    """The acting user is unknown, disabled or lacks the role for the action."""

    code = "permission_denied"
    http_status = 403
    exit_code = 5


class ValidationFailed(G2PError):
    """Input that breaks one or more rules; ``errors`` says which field and why."""

    code = "validation_failed"
    http_status = 422
    exit_code = 6

    def __init__(self, message: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.errors: list[FieldError] = list(errors or [])


class ImportRejected(ValidationFailed):
    """An import file that cannot be processed at all (encoding, header, format)."""

    code = "import_rejected"
    http_status = 422
    exit_code = 6


class WrongPassword(ValidationFailed):
    """The current password given to change one's own password is wrong (counted like a
    failed sign-in)."""

    code = "wrong_password"
    http_status = 422
    exit_code = 6


class InvalidTransition(G2PError):
    """A state change that the entity's transition table does not allow."""

    code = "invalid_transition"
    http_status = 409
    exit_code = 7


class Conflict(G2PError):
    """A uniqueness or concurrency rule was hit (duplicate name, concurrent change)."""

    code = "conflict"
    http_status = 409
    exit_code = 8


class BusinessRuleViolation(G2PError):
    """A rule of the domain refuses the action (maker–checker, budget, nothing to pay...)."""

    code = "business_rule_violation"
    http_status = 409
    exit_code = 9


class DatabaseUnavailable(G2PError):
    """The database could not be reached or dropped the connection: nothing is wrong with the
    request, try again later.  The CLI and the API turn the driver's errors into it (see
    ``db.is_database_lost``), so that one row of the table answers for them."""

    code = "database_unavailable"
    http_status = 503
    exit_code = 10


class HubIncomplete(G2PError):
    """The hub refused or did not answer part of the work; the rest was done (send: batches
    rejected or with an unknown outcome; sync: batches whose status could not be read)."""

    code = "hub_incomplete"
    http_status = 502
    exit_code = 11


class PaidTwiceFound(G2PError):
    """The hub's records show payments paid more than once (SPEC 2.3): reported by ``status``
    and ``sync`` until an approver acknowledges them (``payments.duplicates``)."""

    code = "paid_twice"
    http_status = 409
    exit_code = 12


def exit_code_for(error: G2PError) -> int:
    """The CLI exit code of a product error (the table in this module's docstring)."""
    return error.exit_code


def http_status_for(error: G2PError) -> int:
    """The HTTP status of a product error (the table in this module's docstring)."""
    return error.http_status
