"""Request-scoped dependencies: the session factory of the running application."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker


def session_factory(request: Request) -> sessionmaker[Session]:
    """The application's session factory (set by ``create_app``)."""
    factory: sessionmaker[Session] = request.app.state.session_factory
    return factory


SessionFactory = Annotated[sessionmaker[Session], Depends(session_factory)]
