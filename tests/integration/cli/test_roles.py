"""Every ``g2p-phee`` command × every role, like the API's matrix (tests/integration/web/api/
test_roles.py): the roles without a command's permission exit with PermissionDenied's code (5)
and change nothing, the roles with it get past authorisation; no ``--as`` and a disabled user
are refused too. A command missing from the table fails the test."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path

import pytest
import typer
import typer.testing
from sqlalchemy import Engine, inspect, literal_column, select, table, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnClause
from typer.core import TyperGroup
from typer.testing import CliRunner

from g2p_payment_phee.cli.app import app
from g2p_payment_phee.config import get_settings
from g2p_payment_phee.db import utcnow
from g2p_payment_phee.errors import G2PError, PermissionDenied, exit_code_for
from g2p_payment_phee.payments.models import PaymentBatch
from g2p_payment_phee.payments.states import BatchState
from g2p_payment_phee.registry.models import IdType
from g2p_payment_phee.users.models import Role, User
from g2p_payment_phee.users.permissions import GRANTS, Permission
from tests import factories
from tests.integration.web.api.world import World, build_world

REFUSED = exit_code_for(PermissionDenied(""))
USAGE = 2
# the users of the conftest fixtures, by role
USERNAMES = {
    Role.ADMIN: "admin",
    Role.PROGRAM_MANAGER: "maker",
    Role.APPROVER: "checker",
    Role.VIEWER: "watcher",
}
RETIRED = "retired"  # a disabled admin
NEW_PASSWORD = "gravel-otter-lantern-quill"

# Commands that act as no user: they never read ``--as``, so no role applies to them.
NO_USER = {
    "init": "creates or upgrades the schema and the secret key, before any user can exist",
    "demo": "builds its own demo database and users from nothing (a fresh SQLite file)",
    "serve": "runs the web server; each web request signs in and is authorised by the services",
    "emulator": "runs the PHEE emulator, a stand-in hub with no access to the database",
    "worker": "runs a Celery worker; each job was authorised for its user when it was submitted",
    "beat": "runs the periodic sweep, which acts as the system itself (no user)",
    "g2p-connect send-demo": "acts as an MIS against a server, with a sender's credentials",
}

Setup = Callable[[Session, World], None]


@dataclass(frozen=True)
class Case:
    """One invocation of a command, with the permission it needs.

    ``read_only``: the command changes nothing (checked) and every signed-in user may run it
    (``permission`` is then VIEW). A VIEW command that changes something (the acting user's
    own password or tokens) has ``read_only`` False.
    """

    command: str
    args: tuple[str, ...]
    permission: Permission
    read_only: bool = False
    setup: Setup | None = None

    @property
    def allowed(self) -> frozenset[Role]:
        return GRANTS[self.permission]

    @property
    def id(self) -> str:
        return " ".join((self.command, *self.args)).replace("{", "").replace("}", "")


def _lapsed_claim(session: Session, world: World) -> None:
    """The prepared batch held in ``sending`` by a process that died: a send releases it first,
    which must not happen for a user who may not send."""
    now = utcnow()
    session.execute(
        update(PaymentBatch)
        .where(PaymentBatch.id == uuid.UUID(world.batch))
        .values(
            state=BatchState.SENDING,
            claimed_by="a-process-that-died",
            claimed_at=now - timedelta(hours=1),
            lease_until=now - timedelta(minutes=30),
            claimed_from=BatchState.PREPARED,
        )
    )
    session.commit()


def _voter_card(session: Session, world: World) -> None:
    """An ID type for ``id-types disable`` to disable."""
    session.add(IdType(name="Voter card"))
    session.commit()


def _old_sender(session: Session, world: World) -> None:
    """A G2P Connect sender for ``g2p-connect senders disable`` to disable."""
    from g2p_payment_phee.g2p_connect.models import G2PConnectSender

    session.add(
        G2PConnectSender(
            sender_id="old-mis", program_id=uuid.UUID(world.program), client_secret_hash="0" * 64
        )
    )
    session.commit()


def _reads(command: str, *args: str) -> Case:
    return Case(command, args, Permission.VIEW, read_only=True)


V = Permission
CASES = [
    # users
    Case(
        "users create", ("newbie", "--role", "viewer", "--password", NEW_PASSWORD), V.MANAGE_USERS
    ),
    _reads("users list"),
    Case("users disable", ("{spare_user}",), V.MANAGE_USERS),
    Case("users enable", (RETIRED,), V.MANAGE_USERS),
    Case(
        "users password",
        ("--current", factories.PASSWORD, "--new", NEW_PASSWORD),
        V.VIEW,  # the acting user's own password
    ),
    Case("users reset-password", ("{spare_user}", "--password", NEW_PASSWORD), V.MANAGE_USERS),
    Case("users token", ("laptop",), V.VIEW),  # the acting user's own token
    # programs
    Case("programs create", ("Another", "--currency", "KES"), V.MANAGE_PROGRAMS),
    _reads("programs list"),
    Case("programs enrol", ("{program}", "--all"), V.MANAGE_PROGRAMS),
    # cycles
    Case(
        "cycles create",
        ("{program}", "Next", "--start", "2027-02-01", "--end", "2027-02-28"),
        V.MANAGE_PROGRAMS,
    ),
    _reads("cycles list"),
    _reads("cycles show", "{cycle}"),
    Case("cycles add-entitlements", ("{draft_cycle}", "--amount", "50"), V.MANAGE_PROGRAMS),
    Case("cycles submit", ("{draft_cycle}",), V.MANAGE_PROGRAMS),
    Case("cycles approve", ("{draft_cycle}",), V.APPROVE),
    Case("cycles return", ("{draft_cycle}", "--reason", "check amounts"), V.APPROVE),
    Case(
        "cycles reject-entitlement",
        ("{draft_cycle}", "{entitlement}", "--reason", "duplicate"),
        V.APPROVE,
    ),
    Case("cycles cancel", ("{draft_cycle}", "--reason", "not needed"), V.MANAGE_PROGRAMS),
    Case("cycles acknowledge-paid-twice", ("{cycle}", "--reason", "known"), V.APPROVE),
    Case("cycles distribute", ("{cycle}",), V.SEND_PAYMENTS),
    Case("cycles end", ("{cycle}",), V.MANAGE_PROGRAMS),
    # ID types
    Case("id-types create", ("Passport", "--pattern", "[A-Z][0-9]+"), V.MANAGE_REGISTRY),
    _reads("id-types list"),
    Case("id-types disable", ("Voter card",), V.MANAGE_REGISTRY, setup=_voter_card),
    # G2P Connect senders (admins; the list is admins-only too: it names credentials' owners)
    Case("g2p-connect senders add", ("new-mis", "--program", "{program}"), V.MANAGE_SETTINGS),
    Case("g2p-connect senders list", (), V.MANAGE_SETTINGS),
    Case("g2p-connect senders disable", ("old-mis",), V.MANAGE_SETTINGS, setup=_old_sender),
    # exports (each audited, so not read-only)
    Case("export registrants", ("--output", "{tmp}/people.xlsx"), V.VIEW),
    Case("export entitlements", ("{cycle}", "--state", "approved", "-o", "{tmp}/e.csv"), V.VIEW),
    Case("export payments", ("--cycle", "{cycle}", "-o", "{tmp}/payments.csv"), V.VIEW),
    Case("export audit", ("--action", "cycle.approved", "-o", "{tmp}/audit.csv"), V.VIEW),
    # imports
    Case("import registrants", ("{tmp}/people.csv",), V.MANAGE_REGISTRY),
    Case(
        "import entitlements",
        ("{tmp}/amounts.csv", "--cycle", "{draft_cycle}"),
        V.MANAGE_PROGRAMS,
    ),
    # payment managers (the secrets stay write-only; test-connection uses them)
    Case("managers configure", ("{program}", "--set", "max_batch_size=100"), V.MANAGE_SETTINGS),
    _reads("managers show", "{program}"),
    Case("managers test-connection", ("{program}",), V.MANAGE_SETTINGS),
    _reads("managers list"),
    Case("managers defaults show", (), V.MANAGE_SETTINGS),  # admins only, though it reads
    Case("managers defaults set", ("--set", "tenant_id=gorilla"), V.MANAGE_SETTINGS),
    # payments
    Case("prepare", ("{cycle}", "--dry-run"), V.PREPARE_PAYMENTS),
    Case("prepare", ("{cycle}",), V.PREPARE_PAYMENTS),
    Case("retry-failed", ("{cycle}", "--dry-run"), V.PREPARE_PAYMENTS),
    Case("retry-failed", ("{cycle}",), V.PREPARE_PAYMENTS),
    Case("batches create", ("{cycle}",), V.PREPARE_PAYMENTS),  # none waits: refused after
    Case("payments cancel", ("{cycle}", "--reason", "wrong list"), V.PREPARE_PAYMENTS),
    _reads("batches list", "{cycle}"),
    _reads("batches show", "{batch}"),
    _reads("batches export-csv", "{batch}", "--output", "{tmp}/batch.csv"),
    _reads("status", "{cycle}"),
    Case("send", ("{cycle}",), V.SEND_PAYMENTS, setup=_lapsed_claim),
    Case("send", ("--batch", "{batch}"), V.SEND_PAYMENTS, setup=_lapsed_claim),
    Case("sync", ("{cycle}",), V.SEND_PAYMENTS),
    Case("sync", (), V.SEND_PAYMENTS),
    Case("reconcile-import", ("{program}", "{tmp}/results.csv"), V.SEND_PAYMENTS),
    # reports (audited, so not read-only)
    Case("reports cycle", ("{cycle}", "--format", "csv", "--output", "{tmp}/report.csv"), V.VIEW),
]


def _commands(command: object, path: str = "") -> set[str]:
    """The full name of every runnable command under ``command``."""
    if not isinstance(command, TyperGroup):
        return {path}
    found: set[str] = set()
    for name, sub in command.commands.items():
        found |= _commands(sub, f"{path} {name}".strip())
    return found


def test_the_matrix_covers_every_command() -> None:
    """A new command must get a case in CASES, or a reason in NO_USER."""
    commands = _commands(typer.main.get_command(app))
    cased = {case.command for case in CASES}
    assert not cased & NO_USER.keys()
    assert commands == cased | NO_USER.keys()
    assert len({case.id for case in CASES}) == len(CASES)
    for case in CASES:  # a read-only command is open to every signed-in user
        assert not case.read_only or case.permission is Permission.VIEW, case.id


@dataclass(frozen=True)
class Outcome:
    code: int
    output: str
    error: BaseException | None


Run = Callable[[str | None, list[str]], Outcome]


@cache
def _built() -> object:
    return typer.main.get_command(app)


@pytest.fixture
def run(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Run:
    """``g2p-phee [--as USER] ARGS`` as ``main`` runs it: a product error becomes its exit code."""
    monkeypatch.setenv("G2P_DATABASE_URL", db_url)
    monkeypatch.setenv("COLUMNS", "250")
    get_settings.cache_clear()
    # Only a speed-up: Typer builds the click command anew on every invoke (0.1 s each).
    monkeypatch.setattr(typer.testing, "_get_command", lambda _app: _built(), raising=False)
    runner = CliRunner()

    def invoke(who: str | None, args: list[str]) -> Outcome:
        actor = [] if who is None else ["--as", who]
        result = runner.invoke(app, [*actor, *args])
        error, code = result.exception, result.exit_code
        if isinstance(error, G2PError):
            code = exit_code_for(error)
        elif error is not None and not isinstance(error, SystemExit):
            raise error
        return Outcome(code, result.output + (str(error) if error else ""), error)

    return invoke


@pytest.fixture
def world(
    session: Session, admin: User, manager: User, approver: User, viewer: User, tmp_path: Path
) -> World:
    """The API tests' world, a disabled admin and the files the imports read."""
    built = build_world(session, admin, approver)
    factories.user(session, RETIRED, Role.ADMIN, active=False)
    session.commit()
    (tmp_path / "people.csv").write_text("reference,kind,name\nN-1,individual,New Person\n")
    (tmp_path / "amounts.csv").write_text("registrant_reference,amount\nB000001,75\n")
    unknown = "00000000-0000-4000-8000-000000000000"
    (tmp_path / "results.csv").write_text(f"request_id,status\n{unknown},paid\n")
    return built


def _snapshot(engine: Engine) -> dict[str, list[str]]:
    """Every row of every table in the database, comparable."""
    every: ColumnClause[object] = literal_column("*")
    with engine.connect() as conn:
        return {
            name: sorted(
                repr(tuple(row)) for row in conn.execute(select(every).select_from(table(name)))
            )
            for name in inspect(conn).get_table_names()
        }


def _changes(before: dict[str, list[str]], after: dict[str, list[str]]) -> dict[str, object]:
    """The rows that went and came, by table; empty when nothing changed."""
    return {
        name: {
            "gone": sorted(set(rows) - set(after[name])),
            "new": sorted(set(after[name]) - set(rows)),
        }
        for name, rows in before.items()
        if rows != after[name]
    }


def _args(case: Case, world: World, tmp_path: Path) -> list[str]:
    return case.command.split() + [a.format(**vars(world), tmp=tmp_path) for a in case.args]


def _assert_refused(run: Run, engine: Engine, case: Case, args: list[str]) -> None:
    """No user, a disabled user and every role without the permission: exit 5, saying why,
    with the database exactly as it was."""
    before = _snapshot(engine)
    refused = sorted(USERNAMES[role] for role in set(Role) - case.allowed)
    for who in [None, RETIRED, *refused]:
        outcome = run(who, args)
        assert outcome.code == REFUSED, (case.id, who, outcome.output)
        assert isinstance(outcome.error, PermissionDenied), (case.id, who, outcome.output)
        if who in refused:  # refused for its role, and for the permission the table names
            role = next(r for r, name in USERNAMES.items() if name == who)
            wanted = case.permission.replace("_", " ")
            assert f"{who!r} ({role}) may not {wanted};" in outcome.output, outcome.output
        assert _changes(before, _snapshot(engine)) == {}, (case.id, who)


CHANGES = [case for case in CASES if not case.read_only]
READS = [case for case in CASES if case.read_only]


@pytest.mark.parametrize("case", CHANGES, ids=lambda c: c.id)
def test_command_roles(
    case: Case, world: World, run: Run, session: Session, engine: Engine, tmp_path: Path
) -> None:
    """The refused first (an allowed run may change what they would find), then the allowed:
    past authorisation, whatever else stops them (a hub that cannot be reached, a cycle in
    another state). Of several roles allowed, the admin (allowed everything) is left out."""
    if case.setup is not None:
        case.setup(session, world)
    args = _args(case, world, tmp_path)
    _assert_refused(run, engine, case, args)
    allowed = case.allowed - {Role.ADMIN} or case.allowed
    for who in sorted(USERNAMES[role] for role in allowed):
        outcome = run(who, args)
        assert outcome.code not in (REFUSED, USAGE), (who, outcome.output)
        if case.permission is Permission.VIEW:  # nothing else may stand in a signed-in user's way
            assert outcome.code == 0, (who, outcome.output)


def test_read_only_commands(world: World, run: Run, engine: Engine, tmp_path: Path) -> None:
    """Every signed-in user, a viewer included, runs them successfully, and they change nothing
    (one world for all of them, since none changes it)."""
    before = _snapshot(engine)
    for case in READS:
        args = _args(case, world, tmp_path)
        _assert_refused(run, engine, case, args)
        for who in sorted(USERNAMES.values()):
            outcome = run(who, args)
            assert outcome.code == 0, (case.id, who, outcome.output)
            assert _changes(before, _snapshot(engine)) == {}, (case.id, who)
