"""Which role may do what: one table, checked server-side by every service."""

from __future__ import annotations

from enum import StrEnum

from g2p_payment_phee.errors import PermissionDenied
from g2p_payment_phee.i18n import _
from g2p_payment_phee.users.models import Role, User


class Permission(StrEnum):
    """Actions that need more than a viewer's rights."""

    VIEW = "view"
    MANAGE_USERS = "manage_users"
    MANAGE_SETTINGS = "manage_settings"
    MANAGE_REGISTRY = "manage_registry"
    MANAGE_PROGRAMS = "manage_programs"
    PREPARE_PAYMENTS = "prepare_payments"
    APPROVE = "approve"
    SEND_PAYMENTS = "send_payments"


_ALL = frozenset(Role)
GRANTS: dict[Permission, frozenset[Role]] = {
    Permission.VIEW: _ALL,
    Permission.MANAGE_USERS: frozenset({Role.ADMIN}),
    Permission.MANAGE_SETTINGS: frozenset({Role.ADMIN}),
    Permission.MANAGE_REGISTRY: frozenset({Role.ADMIN, Role.PROGRAM_MANAGER}),
    Permission.MANAGE_PROGRAMS: frozenset({Role.ADMIN, Role.PROGRAM_MANAGER}),
    Permission.PREPARE_PAYMENTS: frozenset({Role.ADMIN, Role.PROGRAM_MANAGER}),
    Permission.APPROVE: frozenset({Role.ADMIN, Role.APPROVER}),
    Permission.SEND_PAYMENTS: frozenset({Role.ADMIN, Role.APPROVER}),
}


def can(user: User, permission: Permission) -> bool:
    """Whether an active user's role grants the permission."""
    return user.active and user.role in GRANTS[permission]


def authorize(user: User | None, permission: Permission) -> User:
    """The user, if allowed; PermissionDenied with the reason otherwise."""
    if user is None:
        raise PermissionDenied(
            _("{permission} needs a signed-in user").format(permission=permission)
        )
    if not user.active:
        raise PermissionDenied(_("user {username!r} is disabled").format(username=user.username))
    if user.role not in GRANTS[permission]:
        allowed = ", ".join(sorted(GRANTS[permission]))
        raise PermissionDenied(
            _("user {username!r} ({role}) may not {action}; needs one of: {allowed}").format(
                username=user.username,
                role=user.role,
                action=permission.replace("_", " "),
                allowed=allowed,
            )
        )
    return user
