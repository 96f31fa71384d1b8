"""Every table of the product, for Alembic and the tests: importing each package's models
registers its tables on ``Base.metadata``. It sits above every package (the core ``db`` module
knows none of them).
"""

from __future__ import annotations


def load_models() -> None:
    """Import every models module so ``Base.metadata`` knows all tables (Alembic, tests)."""
    import g2p_payment_phee.audit
    import g2p_payment_phee.g2p_connect.models
    import g2p_payment_phee.g2p_connect.outbox_models
    import g2p_payment_phee.import_jobs.models
    import g2p_payment_phee.jobs.models
    import g2p_payment_phee.payments.models
    import g2p_payment_phee.phee.models
    import g2p_payment_phee.programs.models
    import g2p_payment_phee.registry.models
    import g2p_payment_phee.users.models  # noqa: F401
