"""The hub-wide PHEE defaults a new PHEE manager starts from, and what a test connection
remembers and says of the payment mode (against the emulator over loopback)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from g2p_payment_phee.audit import AuditAction, AuditEvent
from g2p_payment_phee.emulator import EmulatorServer
from g2p_payment_phee.errors import PermissionDenied, ValidationFailed
from g2p_payment_phee.payments.config_service import (
    check_connection,
    configure_manager,
    describe_manager,
    list_managers,
    load_manager,
)
from g2p_payment_phee.payments.models import CheckResult
from g2p_payment_phee.phee.defaults import set_defaults, show_defaults
from g2p_payment_phee.phee.manager import MODES_NOT_LISTED, PheeManager
from g2p_payment_phee.phee.models import PheeDefaults
from g2p_payment_phee.programs.models import ManagerKind
from g2p_payment_phee.users.models import User
from tests import factories
from tests.integration.phee.conftest import AUTHORIZATION, PASSWORD, PheeProgram, hub_settings

HUB_KEYS = ("auth_endpoint_url", "payment_endpoint_url", "status_endpoint_url")


def _hub_defaults(hub: EmulatorServer, **more: Any) -> dict[str, Any]:
    settings = hub_settings(hub)
    chosen = {key: settings[key] for key in (*HUB_KEYS, "details_endpoint_url", "username")}
    return {**chosen, "tenant_id": "gorilla", "grant_type": "password", **more}


def test_a_new_phee_manager_starts_from_the_defaults(
    session: Session, admin: User, hub: EmulatorServer
) -> None:
    secrets: dict[str, str | None] = {"password": PASSWORD, "authorization": AUTHORIZATION}
    set_defaults(session, admin, _hub_defaults(hub, payment_mode="gsma"), secrets)
    program = factories.program(session, admin)

    configure_manager(session, admin, program, ManagerKind.PHEE, {"payee_id_type": "phone"})

    shown = describe_manager(session, admin, program)
    assert shown["settings"]["payment_endpoint_url"] == f"{hub.base_url}/batchtransactions"
    assert shown["settings"]["tenant_id"] == "gorilla"
    assert shown["settings"]["payment_mode"] == "gsma"
    assert shown["secrets"] == {
        "password": "set",
        "authorization": "set",
        "signing_private_key": "not set",
    }
    manager = load_manager(session, program)
    assert isinstance(manager, PheeManager)
    assert manager.secrets.password == PASSWORD  # decrypted in memory only
    session.commit()
    assert check_connection(session, admin, program).result is CheckResult.OK
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == AuditAction.MANAGER_CONFIGURED)
    ).one()
    assert "tenant_id" in event.data["from_defaults"]
    assert "password" in event.data["from_defaults"]


def test_given_settings_win_and_existing_managers_keep_theirs(
    session: Session, admin: User, hub: EmulatorServer
) -> None:
    set_defaults(session, admin, _hub_defaults(hub, payment_mode="gsma"))
    program = factories.program(session, admin)
    given = {"payee_id_type": "phone", "tenant_id": "lion", "payment_mode": "closedloop"}
    configure_manager(session, admin, program, ManagerKind.PHEE, given)

    set_defaults(session, admin, {"tenant_id": "tiger", "payment_mode": "slcb"})
    configure_manager(session, admin, program, ManagerKind.PHEE, {"max_batch_size": 7})

    settings = describe_manager(session, admin, program)["settings"]
    assert (settings["tenant_id"], settings["payment_mode"]) == ("lion", "closedloop")
    assert settings["max_batch_size"] == 7


def test_bad_urls_are_each_named_and_nothing_is_written(session: Session, admin: User) -> None:
    set_defaults(session, admin, {"tenant_id": "gorilla"})
    session.commit()
    before = session.scalar(select(func.count()).select_from(AuditEvent))
    bad = {
        "payment_endpoint_url": "ftp://hub.example/batchtransactions",
        "status_endpoint_url": "https://hub.example/api/v1/batch?x=1",
        "auth_endpoint_url": "https://hub example/oauth/token",
        "tenant_id": "changed",
    }
    with pytest.raises(ValidationFailed) as caught:
        set_defaults(session, admin, bad, {"password": "would-be-new"})
    reasons = {error.field: error.reason for error in caught.value.errors}
    assert set(reasons) == {"payment_endpoint_url", "status_endpoint_url", "auth_endpoint_url"}
    assert "is not an http(s) URL" in reasons["payment_endpoint_url"]
    assert "query or fragment" in reasons["status_endpoint_url"]
    assert "without spaces" in reasons["auth_endpoint_url"]
    session.rollback()
    shown = show_defaults(session, admin)
    assert shown["settings"]["tenant_id"] == "gorilla"
    assert shown["secrets"]["password"] == "not set"
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == before


def test_secrets_are_write_only_and_encrypted_at_rest(session: Session, admin: User) -> None:
    secret = "quartz-heron-7731"
    shown = set_defaults(session, admin, {}, {"password": secret, "authorization": "Basic x"})
    assert shown["secrets"] == {"password": "set", "authorization": "set"}
    assert secret not in str(shown)
    row = session.scalars(select(PheeDefaults)).one()
    assert row.secrets_encrypted is not None
    assert secret not in row.secrets_encrypted
    assert secret not in str(row.settings)
    events = session.scalars(select(AuditEvent)).all()
    assert secret not in str([event.data for event in events])

    cleared = set_defaults(session, admin, {}, {"authorization": ""})
    assert cleared["secrets"] == {"password": "set", "authorization": "not set"}
    with pytest.raises(ValidationFailed, match="signing_private_key"):
        set_defaults(session, admin, {}, {"signing_private_key": "-----BEGIN"})


def test_only_an_admin_reads_or_changes_the_defaults(
    session: Session, manager: User, approver: User, viewer: User
) -> None:
    for user in (manager, approver, viewer):
        with pytest.raises(PermissionDenied, match="may not manage settings"):
            show_defaults(session, user)
        with pytest.raises(PermissionDenied):
            set_defaults(session, user, {"tenant_id": "gorilla"})
    assert session.scalar(select(func.count()).select_from(PheeDefaults)) == 0


# --- test connection: the payment mode, and the result remembered -----------------------------


def test_a_known_payment_mode_is_reported_with_the_hubs_modes(phee_program: PheeProgram) -> None:
    found = check_connection(phee_program.session, phee_program.admin, phee_program.program)

    assert found.result is CheckResult.OK
    assert found.warnings == ()
    assert "payment modes at the hub: closedloop, gsma, mojaloop, slcb" in found.message


def test_an_unknown_payment_mode_is_a_warning_and_remembered(phee_program: PheeProgram) -> None:
    phee_program.configure(payment_mode="IMMEDIATE")
    session, admin = phee_program.session, phee_program.admin

    found = check_connection(session, admin, phee_program.program)
    session.commit()

    assert found.result is CheckResult.WARNING
    assert found.ok  # the hub answered
    assert "payment mode 'IMMEDIATE' is not one the hub knows" in found.warnings[0]
    assert "Payment mode not configured" in found.warnings[0]
    (listed,) = list_managers(session, admin)
    assert listed.check_result is CheckResult.WARNING
    assert listed.checked_at is not None
    assert listed.check_message is not None
    assert "IMMEDIATE" in listed.check_message
    assert listed.hub == f"{phee_program.hub.base_url}/batchtransactions"
    assert listed.label == "Payment Hub EE"


def test_a_hub_that_lists_no_modes_says_so(phee_program: PheeProgram) -> None:
    # a hub behind a gateway path: no listing of payment modes there, as at a real PHEE
    base = phee_program.hub.base_url
    phee_program.configure(payment_endpoint_url=f"{base}/gateway/batchtransactions")

    found = check_connection(phee_program.session, phee_program.admin, phee_program.program)

    assert found.result is CheckResult.OK
    assert str(MODES_NOT_LISTED) in found.message
    assert (
        "the hub does not list its payment modes; "
        "a real PHEE refuses an unknown mode per row at processing"
    ) in found.message


def test_a_failed_test_is_remembered_and_the_list_shows_every_program(
    phee_program: PheeProgram,
) -> None:
    session, admin = phee_program.session, phee_program.admin
    phee_program.configure(auth_endpoint_url="http://127.0.0.1:9/oauth/token")
    manual = factories.program(session, admin, name="Manual")
    configure_manager(session, admin, manual, ManagerKind.DEFAULT, {})
    factories.program(session, admin, name="Zeta")
    session.commit()

    found = check_connection(session, admin, phee_program.program)
    session.commit()

    assert found.result is CheckResult.FAILED
    assert found.error is not None
    listed = {m.program.name: m for m in list_managers(session, admin)}
    assert list(listed) == ["Cash Transfer", "Manual", "Zeta"]
    assert listed["Cash Transfer"].check_result is CheckResult.FAILED
    assert "127.0.0.1:9" in (listed["Cash Transfer"].check_message or "")
    assert (listed["Manual"].kind, listed["Manual"].hub) == (ManagerKind.DEFAULT, None)
    assert listed["Manual"].check_result is None
    assert not listed["Zeta"].configured
