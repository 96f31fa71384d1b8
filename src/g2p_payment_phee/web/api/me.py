"""``/me``: who the token belongs to, and that user's personal API tokens."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Request, status
from pydantic import AwareDatetime, BaseModel, Field

from g2p_payment_phee.errors import WrongPassword
from g2p_payment_phee.users import auth
from g2p_payment_phee.users.auth import change_own_password
from g2p_payment_phee.users.models import Role
from g2p_payment_phee.users.permissions import GRANTS
from g2p_payment_phee.web.api.schemas import PublicModel
from g2p_payment_phee.web.deps import ApiUser, DbSession, client_ip

router = APIRouter(tags=["me"])


class UserPublic(PublicModel):
    """A user, without anything secret."""

    id: uuid.UUID
    username: str
    full_name: str
    email: str | None
    role: Role
    active: bool
    created_at: datetime
    disabled_at: datetime | None


class MePublic(UserPublic):
    """The token's user and what the role allows."""

    permissions: list[str]


class ApiTokenCreate(BaseModel):
    """A new token: a name to recognise it by, and optionally when it stops working.

    ``expires_at`` must carry its timezone (``2030-01-01T00:00:00Z``): a naive time is a 422,
    not a guess at which clock was meant.
    """

    name: str = Field(min_length=1, max_length=100)
    expires_at: AwareDatetime | None = None


class ApiTokenPublic(PublicModel):
    """A token as listed: its first characters only, never the token or its hash."""

    id: uuid.UUID
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiTokenCreated(ApiTokenPublic):
    """The token just created: ``token`` is shown this once and cannot be read again."""

    token: str


class ApiTokensPublic(BaseModel):
    """The user's tokens, newest first."""

    items: list[ApiTokenPublic]


@router.get("/me")
def read_me(user: ApiUser) -> MePublic:
    """The user the API token belongs to."""
    allowed = sorted(str(p) for p, roles in GRANTS.items() if user.role in roles)
    return MePublic.model_validate(
        {**UserPublic.model_validate(user).model_dump(), "permissions": allowed}
    )


@router.post("/me/tokens", status_code=status.HTTP_201_CREATED)
def create_token(body: ApiTokenCreate, user: ApiUser, session: DbSession) -> ApiTokenCreated:
    """A new personal API token acting as this user (shown once)."""
    created = auth.create_api_token(session, user, body.name, expires_at=body.expires_at)
    public = ApiTokenPublic.model_validate(created.api_token).model_dump()
    return ApiTokenCreated.model_validate({**public, "token": created.token})


@router.get("/me/tokens")
def list_tokens(user: ApiUser, session: DbSession) -> ApiTokensPublic:
    """This user's tokens (revoked ones included, marked)."""
    rows = auth.list_api_tokens(session, user)
    return ApiTokensPublic(items=[ApiTokenPublic.model_validate(row) for row in rows])


@router.delete("/me/tokens/{token_id}")
def revoke_token(token_id: uuid.UUID, user: ApiUser, session: DbSession) -> ApiTokenPublic:
    """Revoke one of this user's tokens (an admin may revoke anyone's)."""
    return ApiTokenPublic.model_validate(auth.revoke_api_token(session, user, token_id))


class PasswordChange(BaseModel):
    """The current password and the new one (checked for strength, then only hashed)."""

    current_password: str = Field(max_length=1000)
    new_password: str = Field(min_length=1, max_length=1000)


@router.post("/me/password")
def change_password(
    body: PasswordChange, user: ApiUser, session: DbSession, request: Request
) -> UserPublic:
    """Change this user's password; their web sessions end, their API tokens keep working.
    A wrong current password counts as a failed sign-in (429 after too many)."""
    try:
        changed = change_own_password(
            session,
            user,
            current=body.current_password,
            new=body.new_password,
            client_ip=client_ip(request),
        )
    except WrongPassword:
        session.commit()  # the failed attempt counts towards the sign-in throttle
        raise
    return UserPublic.model_validate(changed)
