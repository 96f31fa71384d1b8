"""payment_batches: the callback token's hash is indexed (and unique)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 13:30:00

A PHEE callback finds its batch by the hash of the token in its URL. Without an index every
callback read the whole payment_batches table, which grows by about 2,000 rows per million
payments paid, cycle after cycle. The index is unique: a token names one batch (it is derived
from the batch id, see ``phee.callbacks.callback_token``). Batches prepared before prepare
stored the hash have none until they are claimed for sending.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "uq_payment_batches_callback_token"


def upgrade() -> None:
    op.create_index(INDEX, "payment_batches", ["callback_token_hash"], unique=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="payment_batches")
