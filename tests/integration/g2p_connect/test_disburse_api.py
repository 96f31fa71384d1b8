"""The receiving API against the reference: tokens, acks, records into the domain, statuses."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from g2p_payment_phee.g2p_connect import signature
from g2p_payment_phee.g2p_connect.models import (
    G2PConnectMessage,
    G2PConnectRecord,
    G2PConnectTransaction,
)
from g2p_payment_phee.g2p_connect.senders import disable_sender
from g2p_payment_phee.programs.models import Cycle, Entitlement, Program
from g2p_payment_phee.programs.states import CycleState, EntitlementState
from g2p_payment_phee.registry.models import Phone
from g2p_payment_phee.users.models import User
from tests.integration.g2p_connect.conftest import Mis, record, register


def test_a_disburse_is_acked_and_becomes_a_cycle_waiting_for_approval(
    mis: Mis, session: Session
) -> None:
    answer = mis.disburse(
        "T-1", [record("R1"), record("R2", payee="phone:+254700000002", amount="250.0")]
    )
    assert answer.status_code == 200, answer.text
    ack = answer.json()["message"]
    assert ack["ack_status"] == "ACK"
    assert ack["correlation_id"]
    assert ack["timestamp"].endswith("Z")
    mis.wait_for_jobs()
    session.expire_all()
    txn = session.scalar(select(G2PConnectTransaction))
    assert txn is not None
    assert txn.cycle_id is not None
    cycle = session.get(Cycle, txn.cycle_id)
    assert cycle is not None
    assert cycle.name == "G2P Connect T-1"
    assert cycle.state is CycleState.TO_APPROVE
    amounts = session.scalars(
        select(Entitlement.initial_amount).where(Entitlement.cycle_id == cycle.id)
    ).all()
    assert sorted(str(a) for a in amounts) == ["100.0000", "250.0000"]
    assert set(session.scalars(select(Entitlement.state))) == {EntitlementState.PENDING_VALIDATION}
    assert set(session.scalars(select(Phone.number))) == {"+254700000001", "+254700000002"}
    linked = session.scalar(
        select(func.count()).where(G2PConnectRecord.entitlement_id.is_not(None))
    )
    assert linked == 2


def test_a_token_names_its_scopes_and_expiry(mis: Mis) -> None:
    answer = mis.get_token(scope="disburse something-else")
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "disburse"


def test_wrong_credentials_get_no_token(mis: Mis) -> None:
    mis.secret = "not-the-secret"
    answer = mis.get_token()
    assert answer.status_code == 401
    assert answer.json()["errors"][0]["code"] == "err.request.unauthorized"
    form = {"grant_type": "password", "client_id": mis.sender_id, "client_secret": "x"}
    assert mis.client.post("/g2p-connect/oauth2/client/token", data=form).status_code == 400


def test_a_missing_forged_or_expired_token_is_401(mis: Mis) -> None:
    body = mis.envelope("disburse", {"transaction_id": "T", "disbursements": [record("R1")]})
    for token in ("", "not-a-jwt", _expired_token(mis.sender_id)):
        mis.token = token or "x"
        headers = {"Authorization": f"Bearer {token}"} if token else {"Authorization": ""}
        answer = mis.client.post("/g2p-connect/disburse", json=body, headers=headers)
        assert answer.status_code == 401, answer.text
        error = answer.json()["errors"][0]
        assert error["code"] == "err.request.unauthorized"
    expired = {"Authorization": f"Bearer {_expired_token(mis.sender_id)}"}
    answer = mis.client.post("/g2p-connect/disburse", json=body, headers=expired)
    assert "expired" in answer.json()["errors"][0]["message"]


def _expired_token(sender_id: str) -> str:
    import jwt

    from g2p_payment_phee.config import get_settings
    from g2p_payment_phee.g2p_connect import tokens

    claims = {
        "iss": tokens.ISSUER,
        "aud": tokens.AUDIENCE,
        "sub": sender_id,
        "scope": "disburse",
        "exp": 1_600_000_000,
    }
    return jwt.encode(claims, tokens._key(get_settings().secret()), algorithm="HS256")


def test_a_token_without_the_scope_is_403(mis: Mis) -> None:
    mis.token = mis.get_token(scope="disburse.search").json()["access_token"]
    answer = mis.disburse("T-1", [record("R1")])
    assert answer.status_code == 403
    assert answer.json()["errors"][0]["code"] == "err.request.forbidden"


def test_a_disabled_sender_is_refused(mis: Mis, session: Session, admin: User) -> None:
    mis.login()
    disable_sender(session, admin, mis.sender_id)
    session.commit()
    answer = mis.disburse("T-1", [record("R1")])
    assert answer.status_code == 403
    assert mis.get_token().status_code == 401


def test_malformed_bodies_get_err_never_a_500(mis: Mis, session: Session) -> None:
    bodies: list[bytes] = [
        b"",
        b"not json",
        b"[]",
        b'{"header": 1, "message": {}}',
        b'{"header": {}, "message": []}',
        b'{"header": {"message_id": "m", "message_ts": "x", "action": "disburse"}, "message": {}}',
        b"[" * 5000,
        json.dumps({"header": {"version": "2.0.0"}, "message": {}}).encode(),
    ]
    base = mis.envelope("disburse", {"transaction_id": "T", "disbursements": [record("R1")]})
    for key, value in [
        ("message_id", None),
        ("message_id", "x" * 200),
        ("message_ts", "yesterday"),
        ("action", "search"),
        ("sender_id", "someone-else"),
        ("sender_uri", "ftp://mis"),
        ("is_msg_encrypted", True),
        ("version", 1),
    ]:
        broken = json.loads(json.dumps(base))
        broken["header"][key] = value
        bodies.append(json.dumps(broken).encode())
    for raw in bodies:
        answer = mis.post(
            "/g2p-connect/disburse", raw, headers={"content-type": "application/json"}
        )
        assert answer.status_code == 200, (raw[:80], answer.text)
        ack = answer.json()["message"]
        assert ack["ack_status"] == "ERR", (raw[:80], ack)
        assert ack["error"]["code"].startswith("err."), ack
    codes = {
        json.loads(mis.post("/g2p-connect/disburse", raw).text)["message"]["error"]["code"]
        for raw in bodies[-8:]
    }
    assert {"err.sender_id.invalid", "err.sender_uri.invalid", "err.encryption.invalid"} <= codes
    assert "err.version.not_supported" in codes
    assert session.scalar(select(func.count()).select_from(G2PConnectMessage)) == 0


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=5),
        lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
        max_leaves=12,
    )
)
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_fuzzed_records_are_rejected_not_crashed(mis: Mis, item: Any) -> None:
    message = {"transaction_id": f"F-{uuid.uuid4()}", "disbursements": [item]}
    answer = mis.post("/g2p-connect/disburse/sync/disburse", mis.envelope("disburse", message))
    assert answer.status_code == 200, answer.text
    statuses = answer.json()["message"]["disbursements_status"]
    assert len(statuses) == 1
    assert statuses[0]["status"] == "rjct"


def test_a_wrong_total_count_is_declined(mis: Mis, session: Session) -> None:
    answer = mis.disburse("T-1", [record("R1")], total_count=2)
    ack = answer.json()["message"]
    assert ack["ack_status"] == "NACK"
    assert ack["error"]["code"] == "rjct.total_count.invalid"
    synced = mis.disburse("T-1", [record("R1")], total_count=0, sync=True).json()
    assert synced["header"]["status"] == "rjct"
    assert synced["header"]["status_reason_code"] == "rjct.total_count.invalid"
    assert session.scalar(select(func.count()).select_from(G2PConnectRecord)) == 0


def test_more_records_than_the_limit_are_declined(mis: Mis, monkeypatch: Any) -> None:
    from g2p_payment_phee.g2p_connect import receipt

    monkeypatch.setattr(receipt, "RECORD_LIMIT", 2)
    answer = mis.disburse("T-1", [record("R1"), record("R2"), record("R3")])
    assert answer.json()["message"]["error"]["code"] == "rjct.total_count.limit_exceeded"


def test_a_partly_bad_request_pays_the_good_records_and_rejects_the_others(
    mis: Mis, session: Session
) -> None:
    records = [
        record("OK-1"),
        record("BAD-FA", payee="bank:123@x"),
        record("BAD-AMOUNT", payee="mobile:+254700000003", amount="100"),
        record("NUMBER", payee="mobile:+254700000004", amount=100.0),
        record("FRACTION", payee="mobile:+254700000005", amount="10.005"),
        record("CURRENCY", payee="mobile:+254700000006", currency_code="USD"),
        record("UNKNOWN-CUR", payee="mobile:+254700000007", currency_code="XYZ"),
        record("OK-1", payee="mobile:+254700000008"),
        record("SAME-PAYEE", payee="phone:+254700000001"),
        record("WRONG-KIND", payee="account:12345678@BANK"),
        record("", payee="mobile:+254700000009"),
        record("OK-2", payee="mobile:+254700000010", amount="5.5"),
    ]
    answer = mis.disburse("T-1", records, sync=True)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    found = {
        (s["reference_id"], s.get("status_reason_code"))
        for s in body["message"]["disbursements_status"]
    }
    assert found == {
        ("OK-1", None),
        ("BAD-FA", "rjct.payee_fa.invalid"),
        ("BAD-AMOUNT", "rjct.amount.invalid"),
        ("NUMBER", "rjct.amount.invalid"),
        ("FRACTION", "rjct.amount.invalid"),
        ("CURRENCY", "rjct.currency_code.invalid"),
        ("UNKNOWN-CUR", "rjct.currency_code.invalid"),
        ("OK-1", "rjct.reference_id.duplicate"),
        ("SAME-PAYEE", "rjct.payee_fa.invalid"),
        ("WRONG-KIND", "rjct.payee_fa.invalid"),
        ("", "rjct.reference_id.invalid"),
        ("OK-2", None),
    }
    assert body["header"]["action"] == "on-disburse"
    assert body["header"]["total_count"] == 12
    assert body["header"]["completed_count"] == 10
    mis.wait_for_jobs()
    session.expire_all()
    amounts = sorted(str(a) for a in session.scalars(select(Entitlement.initial_amount)))
    assert amounts == ["100.0000", "5.5000"]


def test_the_same_message_gets_the_same_answer_and_nothing_twice(
    mis: Mis, session: Session
) -> None:
    body = mis.envelope(
        "disburse",
        {
            "transaction_id": "T-1",
            "disbursements": [record("R1"), record("R2", payee="mobile:+254700000002")],
        },
    )
    first = mis.post("/g2p-connect/disburse/sync/disburse", body).json()
    again = mis.post("/g2p-connect/disburse/sync/disburse", body).json()
    assert again == first
    mis.wait_for_jobs()
    # a new message with the same transaction and references: their statuses, nothing new
    resent = mis.disburse(
        "T-1", [record("R1"), record("R2", payee="mobile:+254700000002")], sync=True
    )
    statuses = resent.json()["message"]["disbursements_status"]
    assert [(s["reference_id"], s["status"]) for s in statuses] == [("R1", "rcvd"), ("R2", "rcvd")]
    # a reference reused in another transaction is a duplicate
    other = mis.disburse("T-2", [record("R1", payee="mobile:+254700000009")], sync=True).json()
    [item] = other["message"]["disbursements_status"]
    assert item["status_reason_code"] == "rjct.reference_id.duplicate"
    # new records under a transaction received before are refused
    late = mis.disburse("T-1", [record("R3", payee="mobile:+254700000003")], sync=True).json()
    [item] = late["message"]["disbursements_status"]
    assert item["status_reason_code"] == "rjct.reference_id.invalid"
    mis.wait_for_jobs()
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Entitlement)) == 2
    assert session.scalar(select(func.count()).select_from(Cycle)) == 1
    assert session.scalar(select(func.count()).select_from(G2PConnectTransaction)) == 2


def test_a_0_1_request_is_understood(mis: Mis, session: Session) -> None:
    """0.1: ``timestamp`` without T or zone, ``disburse_request``, no action, no total_count."""
    body = {
        "signature": 'Signature: namespace="g2p", keyId="openg2p-mis|1|ed25519"',
        "header": {
            "version": "0.1.0",
            "message_id": "M-0.1",
            "timestamp": "2024-01-31 10:00:00.123456",
            "sender_id": mis.sender_id,
        },
        "message": {
            "transaction_id": "T-0.1",
            "disburse_request": [record("R-0.1", payee="account_no:1234567890@BANKKEBX")],
        },
    }
    mis_program_pays_by_account(session)
    answer = mis.post("/g2p-connect/disburse/sync/disburse", body)
    assert answer.status_code == 200, answer.text
    [item] = answer.json()["message"]["disbursements_status"]
    assert item["status"] == "rcvd", item


def mis_program_pays_by_account(session: Session) -> None:
    from g2p_payment_phee.payments.models import PaymentManagerConfig

    row = session.scalar(select(PaymentManagerConfig))
    assert row is not None
    row.settings = {**row.settings, "payee_id_type": "bank_acc_no"}
    session.commit()


def test_the_misspelled_disbursements_key_is_read(mis: Mis) -> None:
    message = {"transaction_id": "T-x", "disburemsents": [record("R1")]}
    answer = mis.post("/g2p-connect/disburse/sync/disburse", mis.envelope("disburse", message))
    [item] = answer.json()["message"]["disbursements_status"]
    assert item["status"] == "rcvd"


def test_a_signing_sender_must_sign(
    client: TestClient, session: Session, admin: User, program: Program
) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    _, secret = register(session, admin, program, "signing-mis", public_key_pem=pem)
    mis = Mis(client, "signing-mis", secret, key=key)
    assert mis.disburse("T-1", [record("R1")]).json()["message"]["ack_status"] == "ACK"
    body = mis.envelope("disburse", {"transaction_id": "T-2", "disbursements": [record("R2")]})
    body["message"]["disbursements"][0]["amount"] = "999.00"  # changed after signing
    refused = mis.post("/g2p-connect/disburse", body).json()["message"]
    assert refused["error"]["code"] == "err.signature.invalid"
    del body["signature"]
    missing = mis.post("/g2p-connect/disburse", body).json()["message"]
    assert missing["error"]["code"] == "err.signature.missing"
    other = Ed25519PrivateKey.generate()
    body = mis.envelope("disburse", {"transaction_id": "T-3", "disbursements": [record("R3")]})
    body["signature"] = signature.sign(other, "signing-mis", body["header"], body["message"])
    forged = mis.post("/g2p-connect/disburse", body).json()["message"]
    assert forged["error"]["code"] == "err.signature.invalid"
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(G2PConnectTransaction)) == 1


def test_status_search_and_polling_answer_from_the_records(mis: Mis) -> None:
    mis.disburse("T-1", [record("R1"), record("R2", payee="mobile:+254700000002", amount="7")])
    by_txn = {
        "transaction_id": "Q-1",
        "txnstatus_request": {
            "reference_id": "q1",
            "txn_type": "disburse",
            "attribute_type": "transaction_id",
            "attribute_value": "T-1",
        },
    }
    answer = mis.post(
        "/g2p-connect/disburse/sync/txn/status", mis.envelope("status", by_txn, total_count=1)
    ).json()
    response = answer["message"]["txnstatus_response"]
    assert response["txn_type"] == "on-disburse"
    assert response["txn_status"]["transaction_id"] == "T-1"
    assert [
        (s["reference_id"], s["status"]) for s in response["txn_status"]["disbursements_status"]
    ] == [
        ("R1", "rcvd"),
        ("R2", "rjct"),
    ]
    by_refs = {
        "transaction_id": "Q-2",
        "txnstatus_request": {
            "reference_id": "q2",
            "txn_type": "disburse",
            "attribute_type": "reference_id_list",
            "attribute_value": ["R1", "NOPE"],
        },
    }
    flat = mis.post(
        "/g2p-connect/disburse/sync/txn/status", mis.envelope("status", by_refs, total_count=1)
    ).json()
    items = flat["message"]["txnstatus_response"]["txn_status"]
    assert [(i["reference_id"], i["status"]) for i in items] == [("R1", "rcvd"), ("NOPE", "rjct")]
    unknown = json.loads(json.dumps(by_txn))
    unknown["txnstatus_request"]["attribute_value"] = "T-404"
    missing = mis.post(
        "/g2p-connect/disburse/sync/txn/status", mis.envelope("status", unknown, total_count=1)
    ).json()
    assert missing["header"]["status_reason_code"] == "rjct.transaction_id.invalid"
    acked = mis.post(
        "/g2p-connect/disburse/txn/status", mis.envelope("status", by_txn, total_count=1)
    ).json()
    assert acked["message"]["ack_status"] == "NACK"
    assert acked["message"]["txnstatus_response"]["txn_status"]["transaction_id"] == "T-1"
    search = {
        "transaction_id": "S-1",
        "search_criteria": [
            {
                "reference_id": "s1",
                "request_type": "disburse",
                "attribute_type": "payee_fa",
                "attribute_value": "MOBILE:+254700000001@mpesa",
            }
        ],
    }
    found = mis.post("/g2p-connect/disburse/sync/search", mis.envelope("search", search)).json()
    [hit] = found["message"]["search_response"]
    assert [s["reference_id"] for s in hit["disbursements_status"]] == ["R1"]
    polled = mis.get("/g2p-connect/disburse/search/T-1/false").json()
    assert polled["message"]["txn_status"] == [
        {"reference_id": "R1", "status": "rcvd"},
        {"reference_id": "R2", "status": "rjct"},
    ]
    summary = mis.get("/g2p-connect/disburse/search/T-1/true").json()
    assert summary["header"]["total_count"] == 2
    assert summary["header"]["completed_count"] == 1
    assert "disbursements_status" not in summary["message"]
    one = mis.get("/g2p-connect/disburse/search/R1").json()
    assert one["message"]["transaction_id"] == "T-1"
    assert [s["reference_id"] for s in one["message"]["disbursements_status"]] == ["R1"]


def test_ten_thousand_records_are_acked_then_taken_in_by_the_job(
    mis: Mis, session: Session
) -> None:
    """The limit's worth in one request: the ack comes before any registrant is made (the
    ack's time is measured by benchmarks/g2p_connect_ack.py, not here)."""
    count = 10_000
    records = [record(f"R{i:05d}", payee=f"mobile:+2547{i:08d}") for i in range(count)]
    answer = mis.disburse("BIG", records)
    assert answer.status_code == 200, answer.text[:300]
    assert answer.json()["message"]["ack_status"] == "ACK"
    assert session.scalar(select(func.count()).select_from(G2PConnectRecord)) == count
    mis.wait_for_jobs()
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(Entitlement)) == count
    assert session.scalar(select(func.count()).select_from(Phone)) == count


def test_a_phee_program_takes_whole_amounts_only(
    client: TestClient, session: Session, admin: User, approver: User
) -> None:
    """PHEE writes integer amounts (its default): a fraction other than .0/.00 is refused at
    receipt, before anything is prepared (the hub is never called on receipt)."""
    from tests.integration.web.api.world import build_world

    world = build_world(session, admin, approver)
    program = session.get(Program, uuid.UUID(world.program))
    assert program is not None
    _, secret = register(session, admin, program, "phee-mis")
    mis = Mis(client, "phee-mis", secret)
    answer = mis.disburse(
        "T-phee",
        [
            record("WHOLE", amount="100.0"),
            record("CENTS", payee="mobile:+254700000002", amount="100.50"),
        ],
        sync=True,
    ).json()
    found = {s["reference_id"]: s for s in answer["message"]["disbursements_status"]}
    assert found["WHOLE"]["status"] == "rcvd"
    assert found["CENTS"]["status_reason_code"] == "rjct.amount.invalid"
    assert "whole amounts" in found["CENTS"]["status_reason_message"]


def test_records_sent_again_asynchronously_are_told_again(mis: Mis, session: Session) -> None:
    records = [record("R1"), record("R2", payee="mobile:+254700000002")]
    mis.disburse("T-1", records)
    session.execute(update(G2PConnectRecord).values(notified_status="rcvd"))
    session.commit()
    again = mis.disburse("T-1", records)  # a new message_id, the same records
    assert again.json()["message"]["ack_status"] == "ACK"
    session.expire_all()
    told = session.scalars(select(G2PConnectRecord.notified_status)).all()
    assert told == [None, None]
    assert session.scalar(select(func.count()).select_from(G2PConnectRecord)) == 2


def test_a_program_that_cannot_pay_refuses_the_request_and_stores_nothing(
    client: TestClient, session: Session, admin: User, program: Program
) -> None:
    from g2p_payment_phee.programs.models import ProgramState
    from g2p_payment_phee.programs.service import create_program

    bare = create_program(session, admin, name="No manager", currency="KES")
    _, secret = register(session, admin, bare, "bare-mis")
    answer = Mis(client, "bare-mis", secret).disburse("T-1", [record("R1")]).json()["message"]
    assert answer["ack_status"] == "ERR"
    assert answer["error"]["code"] == "err.service.unavailable"
    program.state = ProgramState.ENDED
    session.commit()
    _, secret = register(session, admin, program, "late-mis")
    answer = Mis(client, "late-mis", secret).disburse("T-2", [record("R2")]).json()["message"]
    assert answer["error"]["code"] == "err.service.unavailable"
    assert "ended" in answer["error"]["message"]
    assert session.scalar(select(func.count()).select_from(G2PConnectTransaction)) == 0


def test_the_token_endpoint_takes_basic_credentials_and_refuses_odd_bodies(mis: Mis) -> None:
    path = "/g2p-connect/oauth2/client/token"
    basic = base64.b64encode(f"{mis.sender_id}:{mis.secret}".encode()).decode()
    answer = mis.client.post(
        path, data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["access_token"]
    huge = mis.client.post(path, content=b"grant_type=client_credentials&x=" + b"a" * 20_000)
    assert huge.status_code == 413
    many = "&".join(f"f{i}=1" for i in range(50)) + "&grant_type=client_credentials"
    crowded = mis.client.post(
        path, content=many, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert crowded.status_code == 400
