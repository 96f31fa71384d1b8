"""payments: a third of each page filled, so that a payment's three versions share its page

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26 10:15:00

A payment row is written three times: issued (prepare), sent (send), reconciled (sync), and the
reconciled version is the widest (status, amount paid, PHEE's transaction id, settle time).
With half of each page free (0004) the sent versions fitted, but the reconciled ones often did
not: PostgreSQL must first prune the dead issued versions, and even then the wider rows
overflowed, so about a third of the sync's updates left the page and wrote an entry in every
index. With a third of each page filled, all three versions fit on the page even before
anything is pruned, and the updates stay HOT. The table grows on disk (a million payments sent:
558 MB instead of 355 MB); the sync's database work fell by a third.

Only pages written from now on are filled this way (a ``VACUUM FULL`` or ``CLUSTER`` rewrites
older ones, if wanted).
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FILLFACTOR = 33
PREVIOUS = 50


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE payments SET (fillfactor = {FILLFACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"ALTER TABLE payments SET (fillfactor = {PREVIOUS})")
