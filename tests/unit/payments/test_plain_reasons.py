"""pydantic's messages about settings come out in plain words."""

from __future__ import annotations

from typing import Annotated, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from g2p_payment_phee.payments.config_service import field_errors


class _Settings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    size: Annotated[int, Field(ge=1, le=5000)]
    name: Annotated[str, Field(min_length=2)] = "ok"
    kind: Literal["phone", "email"] = "phone"


@pytest.mark.parametrize(
    ("values", "field", "reason"),
    [
        ({"size": 0}, "size", "must be at least 1"),
        ({"size": 9000}, "size", "must be at most 5000"),
        ({"size": "many"}, "size", "must be a whole number"),
        ({}, "size", "required"),
        ({"size": 1, "name": "x"}, "name", "must be at least 2 characters"),
        ({"size": 1, "kind": "fax"}, "kind", "must be one of: 'phone' or 'email'"),
        ({"size": 1, "colour": "red"}, "colour", "not a setting of this kind"),
    ],
)
def test_pydantic_problems_read_as_plain_words(
    values: dict[str, object], field: str, reason: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        _Settings.model_validate(values)
    found = {problem.field: problem.reason for problem in field_errors(refused.value, "settings")}
    assert found == {field: reason}
