"""user_language_and_time_zone: each user's own language and time zone

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 00:30:00

A user may choose the language of the pages and the zone times are shown in (the account
page). Both stay empty for existing users: they keep the browser's language and the
deployment's zone (G2P_TIME_ZONE) until they choose.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("language", sa.String(length=8), nullable=True))
        batch.add_column(sa.Column("time_zone", sa.String(length=64), nullable=True))


def downgrade() -> None:
    # not a batch: on SQLite that copies ``users`` to a new table, and dropping the old one is
    # refused while other tables' foreign keys name it; SQLite >= 3.35 drops a plain column
    op.drop_column("users", "time_zone")
    op.drop_column("users", "language")
