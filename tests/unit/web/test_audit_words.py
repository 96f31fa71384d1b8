"""The audit log in words: every action has a sentence, filled from the event's details."""

from __future__ import annotations

from g2p_payment_phee.audit import AuditAction
from g2p_payment_phee.web import audit_words


def test_every_audit_action_has_a_sentence() -> None:
    assert set(audit_words.SENTENCES) == set(AuditAction)


def test_every_sentence_reads_without_its_details() -> None:
    """An older event may lack a detail: the sentence still reads, with … in its place."""
    for action in AuditAction:
        text = audit_words.sentence(action.value, {})
        assert text, action
        assert "{" not in text, action


def test_a_sentence_is_filled_from_the_details() -> None:
    data = {"count": 3, "amount": "1500.00", "fee": "0"}
    text = audit_words.sentence("entitlements.generated", data)
    assert text == "added 3 entitlements of 1500.00 each"
    assert audit_words.sentence("user.signed_in", {"client_ip": "10.0.0.1"}) == "signed in"
    assert audit_words.sentence("cycle.created", {"start": "2027-01-01"}) == (
        "created the cycle (2027-01-01 to …)"
    )


def test_an_unknown_code_reads_as_itself() -> None:
    assert audit_words.sentence("thing.went_away", {}) == "thing: went away"


def test_details_are_labelled_rows_in_words() -> None:
    rows = audit_words.details(
        {
            "web_sessions_ended": 2,
            "dry_run": False,
            "changed": {"base_url": "https://hub"},
            "fields": ["name", "phone"],
            "note": None,
        }
    )
    assert rows == [
        ("Web sessions ended", "2"),
        ("Dry run", "no"),
        ("Changed", "base url: https://hub"),
        ("Fields", "name, phone"),
        ("Note", "—"),
    ]


def test_a_subject_is_named_and_linked_when_it_has_a_page() -> None:
    cycle = audit_words.subject("cycles", "abc")
    assert cycle == audit_words.Subject("cycle", "/cycles/abc")
    assert audit_words.subject("users", "u1") == audit_words.Subject("user", None)
    assert audit_words.subject(None, None) is None
