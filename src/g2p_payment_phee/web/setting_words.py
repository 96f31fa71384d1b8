"""Words of the Payment Hub EE settings form in the reader's language.

The settings' titles, help texts and choices are declared once, in English, on the settings
models (``phee/settings.py``) where the API's schema reads them too; the form shows them through
the ``setting_word`` filter, which finds each English text here and translates it.
"""

from __future__ import annotations

from typing import Any

from g2p_payment_phee.i18n import lazy_gettext

SETTING_WORDS: dict[str, Any] = {
    "Name": lazy_gettext("Name"),
    "Shown in lists": lazy_gettext("Shown in lists"),
    "Automatically Create Batch": lazy_gettext("Automatically Create Batch"),
    "Create batches at prepare (off: add payments to batches later)": lazy_gettext(
        "Create batches at prepare (off: add payments to batches later)"
    ),
    "Max Batch Size": lazy_gettext("Max Batch Size"),
    "Payments per batch, at least 1": lazy_gettext("Payments per batch, at least 1"),
    "Max File Size (bytes)": lazy_gettext("Max File Size (bytes)"),
    "PHEE refuses files over 100,000 bytes; batches are split earlier": lazy_gettext(
        "PHEE refuses files over 100,000 bytes; batches are split earlier"
    ),
    "Authentication Endpoint URL": lazy_gettext("Authentication Endpoint URL"),
    "PHEE operations app /oauth/token; empty sends no bearer token": lazy_gettext(
        "PHEE operations app /oauth/token; empty sends no bearer token"
    ),
    "Payment Endpoint URL": lazy_gettext("Payment Endpoint URL"),
    "Bulk processor /batchtransactions": lazy_gettext("Bulk processor /batchtransactions"),
    "Status Endpoint URL": lazy_gettext("Status Endpoint URL"),
    "Batch summary: GET <url>/<PHEE batch id>": lazy_gettext(
        "Batch summary: GET <url>/<PHEE batch id>"
    ),
    "Details Endpoint URL": lazy_gettext("Details Endpoint URL"),
    "Per-transfer status, paged": lazy_gettext("Per-transfer status, paged"),
    "Tenant ID": lazy_gettext("Tenant ID"),
    "Platform-TenantId on every request": lazy_gettext("Platform-TenantId on every request"),
    "Username": lazy_gettext("Username"),
    "User of the token request": lazy_gettext("User of the token request"),
    "Grant Type": lazy_gettext("Grant Type"),
    "grant_type of the token request": lazy_gettext("grant_type of the token request"),
    "Payment Mode": lazy_gettext("Payment Mode"),
    "One mode per batch (e.g. mojaloop)": lazy_gettext("One mode per batch (e.g. mojaloop)"),
    "Payer ID Type": lazy_gettext("Payer ID Type"),
    "How the hub identifies the payer": lazy_gettext("How the hub identifies the payer"),
    "Payer ID": lazy_gettext("Payer ID"),
    "The payer's identifier": lazy_gettext("The payer's identifier"),
    "Payee ID Field": lazy_gettext("Payee ID Field"),
    "Which registrant identifier pays": lazy_gettext("Which registrant identifier pays"),
    "Payee DFSP ID Type": lazy_gettext("Payee DFSP ID Type"),
    "The ID type, when the Payee ID Field is Registrant ID": lazy_gettext(
        "The ID type, when the Payee ID Field is Registrant ID"
    ),
    "Payee ID Type Rewritten": lazy_gettext("Payee ID Type Rewritten"),
    "Empty: ACCOUNT_ID, IBAN, MSISDN, EMAIL or the ID type's name": lazy_gettext(
        "Empty: ACCOUNT_ID, IBAN, MSISDN, EMAIL or the ID type's name"
    ),
    "Phone Number Format": lazy_gettext("Phone Number Format"),
    "Phones as digits only (what PHEE's connectors read) or E.164 with +": lazy_gettext(
        "Phones as digits only (what PHEE's connectors read) or E.164 with +"
    ),
    "Batch Transaction Type Header": lazy_gettext("Batch Transaction Type Header"),
    "PHEE accepts only csv": lazy_gettext("PHEE accepts only csv"),
    "Batch Transaction Purpose Header": lazy_gettext("Batch Transaction Purpose Header"),
    "Purpose header of every batch request": lazy_gettext("Purpose header of every batch request"),
    "Filename Prefix": lazy_gettext("Filename Prefix"),
    "File name is <prefix><batch name>.csv": lazy_gettext("File name is <prefix><batch name>.csv"),
    "Batch Request Timeout": lazy_gettext("Batch Request Timeout"),
    "Seconds": lazy_gettext("Seconds"),
    "Make CSV At Prepare": lazy_gettext("Make CSV At Prepare"),
    "When off, the CSV is rendered (and stored) at send time": lazy_gettext(
        "When off, the CSV is rendered (and stored) at send time"
    ),
    "Callback Base URL": lazy_gettext("Callback Base URL"),
    "When set, X-CallbackURL is sent": lazy_gettext("When set, X-CallbackURL is sent"),
    "Registering Institution ID": lazy_gettext("Registering Institution ID"),
    "X-Registering-Institution-ID, when set": lazy_gettext(
        "X-Registering-Institution-ID, when set"
    ),
    "Program ID Header": lazy_gettext("Program ID Header"),
    "X-Program-ID, when set": lazy_gettext("X-Program-ID, when set"),
    "Verify TLS": lazy_gettext("Verify TLS"),
    "Keep on; give a CA file for a self-signed hub certificate": lazy_gettext(
        "Keep on; give a CA file for a self-signed hub certificate"
    ),
    "CA Bundle": lazy_gettext("CA Bundle"),
    "Path of a CA file on the server": lazy_gettext("Path of a CA file on the server"),
    "Amount Format": lazy_gettext("Amount Format"),
    "PHEE parses amounts as integers": lazy_gettext("PHEE parses amounts as integers"),
    "Note Template": lazy_gettext("Note Template"),
    "May use {program} and {cycle}": lazy_gettext("May use {program} and {cycle}"),
    "Password": lazy_gettext("Password"),
    "Password of the token request": lazy_gettext("Password of the token request"),
    "Authorization": lazy_gettext("Authorization"),
    "Authorization header of the token request (Basic …)": lazy_gettext(
        "Authorization header of the token request (Basic …)"
    ),
    "Signing Private Key": lazy_gettext("Signing Private Key"),
    "RSA private key (PEM); when set, X-SIGNATURE is sent": lazy_gettext(
        "RSA private key (PEM); when set, X-SIGNATURE is sent"
    ),
    "Bank Account Number": lazy_gettext("Bank Account Number"),
    "IBAN": lazy_gettext("IBAN"),
    "Phone": lazy_gettext("Phone"),
    "Email": lazy_gettext("Email"),
    "Registrant ID": lazy_gettext("Registrant ID"),
    "Digits only": lazy_gettext("Digits only"),
    "E.164 with +": lazy_gettext("E.164 with +"),
    "Integer": lazy_gettext("Integer"),
    "Decimal": lazy_gettext("Decimal"),
}


def setting_word(text: str | None) -> str:
    """The English title, help or choice of a setting in the language in force."""
    if not text:
        return ""
    found = SETTING_WORDS.get(text)
    return str(found) if found is not None else text
