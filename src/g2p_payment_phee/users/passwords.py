"""What makes a password acceptable: length bounds, zxcvbn's strength estimate, not the username.

zxcvbn (Dropbox's estimator) scores a password 0-4 by how many guesses its patterns need:
dictionary words, keyboard walks, repeats, dates and the user's own name.  The length cap keeps
an attacker from making the server hash megabytes; it is checked before any hashing, at sign-in
too.
"""

from __future__ import annotations

from zxcvbn import zxcvbn  # type: ignore[import-untyped]

from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.i18n import _
from g2p_payment_phee.security import MIN_PASSWORD_LENGTH

MAX_PASSWORD_LENGTH = 1000
MIN_STRENGTH = 3  # zxcvbn: "safely unguessable", about 10^8 guesses or more
# zxcvbn refuses longer input (its matching is quadratic); a strong prefix is a strong password.
_ZXCVBN_MAX_LENGTH = 72


def within_length(password: str) -> bool:
    """Whether the password may be hashed at all (at most MAX_PASSWORD_LENGTH characters)."""
    return len(password) <= MAX_PASSWORD_LENGTH


def check_new_password(password: str, username: str) -> None:
    """ValidationFailed saying why, when a password may not be set for this username."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            _("password must be at least {MIN_PASSWORD_LENGTH} characters").format(
                MIN_PASSWORD_LENGTH=MIN_PASSWORD_LENGTH
            )
        )
    if not within_length(password):
        raise ValidationFailed(
            _("password must be at most {MAX_PASSWORD_LENGTH} characters").format(
                MAX_PASSWORD_LENGTH=MAX_PASSWORD_LENGTH
            )
        )
    name = username.strip().lower()
    if name and name in password.lower():
        raise ValidationFailed(_("password must not contain the username"))
    estimate = zxcvbn(password[:_ZXCVBN_MAX_LENGTH], user_inputs=[name])
    if estimate["score"] < MIN_STRENGTH:
        feedback = estimate["feedback"]
        hints = [feedback.get("warning") or "", *feedback.get("suggestions", [])]
        advice = " ".join(hint for hint in hints if hint)
        raise ValidationFailed(
            _("password is too easy to guess. {advice}").format(advice=advice).strip()
        )
