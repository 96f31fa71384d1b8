"""``/users``: the admin's user management (list, create, disable, enable)."""

from __future__ import annotations

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from g2p_payment_phee.users import service
from g2p_payment_phee.users.models import Role
from g2p_payment_phee.users.permissions import Permission, authorize
from g2p_payment_phee.web.api.me import UserPublic
from g2p_payment_phee.web.deps import ApiUser, DbSession

router = APIRouter(prefix="/users", tags=["users"])


class UserCreate(BaseModel):
    """A new user (the password is checked for strength by the service, then only hashed)."""

    username: str = Field(min_length=1, max_length=150)
    password: str = Field(min_length=1, max_length=1000)
    role: Role
    full_name: str = Field(default="", max_length=200)


class PasswordReset(BaseModel):
    """The new password an admin sets for a user."""

    password: str = Field(min_length=1, max_length=1000)


class UsersPublic(BaseModel):
    """Every user, by name (a short list: not paginated)."""

    items: list[UserPublic]


@router.get("")
def list_users(user: ApiUser, session: DbSession) -> UsersPublic:
    """Every user with role and status (admins only)."""
    authorize(user, Permission.MANAGE_USERS)
    return UsersPublic(
        items=[UserPublic.model_validate(u) for u in service.list_users(session, user)]
    )


@router.post("", status_code=status.HTTP_201_CREATED)
def create_user(body: UserCreate, user: ApiUser, session: DbSession) -> UserPublic:
    """Create a user with a role."""
    created = service.create_user(
        session,
        user,
        username=body.username,
        password=body.password,
        role=body.role,
        full_name=body.full_name,
    )
    return UserPublic.model_validate(created)


@router.post("/{username}/disable")
def disable_user(username: str, user: ApiUser, session: DbSession) -> UserPublic:
    """Disable a user: their web sessions end and API tokens are revoked for good."""
    return UserPublic.model_validate(service.set_active(session, user, username, active=False))


@router.post("/{username}/enable")
def enable_user(username: str, user: ApiUser, session: DbSession) -> UserPublic:
    """Enable a disabled user again (old web sessions and tokens stay revoked)."""
    return UserPublic.model_validate(service.set_active(session, user, username, active=True))


@router.post("/{username}/password")
def reset_password(
    username: str, body: PasswordReset, user: ApiUser, session: DbSession
) -> UserPublic:
    """Set a new password for a user (admins only); that user's web sessions end."""
    return UserPublic.model_validate(service.reset_password(session, user, username, body.password))
