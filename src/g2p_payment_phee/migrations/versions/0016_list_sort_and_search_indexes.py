"""list_sort_and_search_indexes: lists sorted and searched through indexes at a million rows

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 00:40:00

The lists of payments and entitlements are searched by a registrant's name (its start, any
case), phone number or ID, and a cycle's entitlements are sorted by code; the jobs list is
newest first. Each of these now has an index, so no list reads a whole table:

- ``registrants (lower(name))``, on PostgreSQL only, ``text_pattern_ops`` so that a
  ``LIKE 'abc%'`` is an index range in any collation (SQLite cannot reflect an index on an
  expression, so the schema check could not hold; SQLite deployments are small);
- ``phones (number)``: a number's registrants (the unique key leads with the registrant);
- ``payments (registrant_id)``: a person's payments (the column never changes, so updates of
  payments stay HOT, see 0004);
- ``entitlements (cycle_id, code)`` and ``jobs (created_at, id)``: those sort orders.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(
            "ix_registrants_name_prefix",
            "registrants",
            [sa.literal_column("lower(name)").label("lower_name")],
            unique=False,
            postgresql_ops={"lower_name": "text_pattern_ops"},
        )
    op.create_index("ix_phones_number", "phones", ["number"], unique=False)
    op.create_index("ix_payments_registrant", "payments", ["registrant_id"], unique=False)
    op.create_index(
        "ix_entitlements_cycle_code", "entitlements", ["cycle_id", "code"], unique=False
    )
    op.create_index("ix_jobs_created", "jobs", ["created_at", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_jobs_created", table_name="jobs")
    op.drop_index("ix_entitlements_cycle_code", table_name="entitlements")
    op.drop_index("ix_payments_registrant", table_name="payments")
    op.drop_index("ix_phones_number", table_name="phones")
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index("ix_registrants_name_prefix", table_name="registrants")
