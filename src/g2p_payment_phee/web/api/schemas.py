"""Shapes every API resource shares: the error answer, a page of items, paging parameters.

Resource schemas live beside their routes and follow the FastAPI full-stack template's names:
``XCreate`` (a request body), ``XPublic`` (one item answered), ``XsPublic`` (a page of them).
Money is ``Decimal`` and answered as ``Amount``: a JSON string, never a float, with no
trailing zeros (``"400"``, ``"12.5"``) whatever the column's scale. Money comes in as
``AmountIn``: a JSON string of plain ASCII decimal text (``"1500"``, ``"12.50"``) or a JSON
integer; JSON floats, exponents, signs, separators and non-ASCII digits are a 422.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

from g2p_payment_phee.errors import ValidationFailed
from g2p_payment_phee.money import decimal_of
from g2p_payment_phee.pagination import MAX_LIMIT, Page

T = TypeVar("T")


def amount_text(value: Decimal) -> str:
    """An amount as plain decimal text without trailing zeros (never an exponent)."""
    text = format(value, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text or "0"


Amount = Annotated[
    Decimal,
    PlainSerializer(amount_text, return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^-?\d+(\.\d+)?$", "examples": ["1500.5"]}),
]


def _amount_in(value: object) -> Decimal:
    try:
        return decimal_of(value)
    except ValidationFailed as error:
        raise ValueError(error.message) from None


AmountIn = Annotated[
    Decimal,
    BeforeValidator(_amount_in),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?$", "examples": ["1500.50"]},
                {"type": "integer", "minimum": 0},
            ]
        }
    ),
]


class FieldErrorPublic(BaseModel):
    """One problem with one field (and, for imports, one row)."""

    field: str
    reason: str
    row: int | None = None


class ErrorDetail(BaseModel):
    """A stable ``code`` for programs, a ``message`` for people."""

    code: str
    message: str
    fields: list[FieldErrorPublic] = []


class ErrorPublic(BaseModel):
    """Every error answer of the API."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorPublic, "description": "No valid API token"},
    403: {"model": ErrorPublic, "description": "The token's user may not do this"},
    404: {"model": ErrorPublic, "description": "No such resource"},
    409: {"model": ErrorPublic, "description": "Refused by a state or business rule"},
    422: {"model": ErrorPublic, "description": "The request is not valid"},
}


class PublicModel(BaseModel):
    """Answers read from ORM rows."""

    model_config = ConfigDict(from_attributes=True)


class Paginated(BaseModel, Generic[T]):
    """A page of items; pass ``next_cursor`` as ``cursor`` for the next page (null: last)."""

    items: list[T]
    next_cursor: str | None = None


def page_of(model: type[BaseModel], page: Page[Any]) -> dict[str, Any]:
    """A service page as the body of a ``Paginated`` answer."""
    return {
        "items": [model.model_validate(item) for item in page.items],
        "next_cursor": page.next_cursor,
    }


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"Page size, 1..{MAX_LIMIT}")]
Cursor = Annotated[
    str | None,
    Query(max_length=1000, description="The next_cursor of the previous page"),
]


class Message(BaseModel):
    """A short answer for actions that return nothing else."""

    message: str
