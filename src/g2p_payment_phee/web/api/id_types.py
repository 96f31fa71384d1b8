"""``/id-types``: the kinds of registrant ID (list, create, disable)."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, status
from pydantic import BaseModel, Field

from g2p_payment_phee.registry import service
from g2p_payment_phee.web.api.schemas import PublicModel
from g2p_payment_phee.web.deps import ApiUser, DbSession

router = APIRouter(prefix="/id-types", tags=["registrants"])


class IdTypeCreate(BaseModel):
    """A new ID type; ``validation_regex`` must compile and is matched against whole values."""

    name: str = Field(min_length=1, max_length=100)
    validation_regex: str | None = Field(
        default=None, max_length=500, description="e.g. [0-9]{8}; empty: any value"
    )
    description: str = Field(default="", max_length=500)


class IdTypePublic(PublicModel):
    """An ID type; a disabled one (``disabled_at`` set) takes no new registrant IDs."""

    id: uuid.UUID
    name: str
    validation_regex: str | None
    description: str
    enabled: bool
    disabled_at: datetime | None
    created_at: datetime


class IdTypesPublic(BaseModel):
    """Every ID type, by name (a short list: not paginated)."""

    items: list[IdTypePublic]


@router.get("")
def list_id_types(user: ApiUser, session: DbSession) -> IdTypesPublic:
    """Every ID type, enabled or not."""
    rows = service.list_id_types(session, user)
    return IdTypesPublic(items=[IdTypePublic.model_validate(t) for t in rows])


@router.post("", status_code=status.HTTP_201_CREATED)
def create_id_type(body: IdTypeCreate, user: ApiUser, session: DbSession) -> IdTypePublic:
    """Create an ID type (admins and program managers); 409 when the name is taken."""
    created = service.create_id_type(
        session,
        user,
        name=body.name,
        validation_regex=body.validation_regex,
        description=body.description,
    )
    return IdTypePublic.model_validate(created)


@router.post("/{name:path}/disable")
def disable_id_type(name: str, user: ApiUser, session: DbSession) -> IdTypePublic:
    """Refuse new registrant IDs of the type; the IDs it has stay (admins and program
    managers). Disabling a disabled type changes nothing."""
    return IdTypePublic.model_validate(service.disable_id_type(session, user, name))
