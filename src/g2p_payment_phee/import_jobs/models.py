"""An uploaded import file waiting for its job (kept in the database, so that any worker of
either mode can read it; deleted once the job has read it to the end)."""

from __future__ import annotations

from sqlalchemy import Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from g2p_payment_phee.db import Base


class ImportFile(Base):
    """The bytes of one uploaded import file and what the import needs to know about it."""

    __tablename__ = "import_files"

    kind: Mapped[str] = mapped_column(String(30))
    file_name: Mapped[str] = mapped_column(String(255))
    format: Mapped[str] = mapped_column(String(10))
    size: Mapped[int] = mapped_column(Integer)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_by: Mapped[str] = mapped_column(String(150))
