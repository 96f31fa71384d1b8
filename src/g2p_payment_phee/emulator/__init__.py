"""A local Payment Hub EE emulator that behaves like PHEE on the wire.

It imports nothing from the rest of ``g2p_payment_phee`` and nothing there may import it
(tests may use both): a bug shared between the client and its emulator would hide itself.

Start it in-process with :class:`EmulatorServer`, build the ASGI app with :func:`create_app`,
or run it standalone with ``python -m g2p_payment_phee.emulator``.
"""

from .app import create_app
from .config import EmulatorConfig, FaultConfig, FaultRule, OutcomeConfig
from .server import EmulatorServer

__all__ = [
    "EmulatorConfig",
    "EmulatorServer",
    "FaultConfig",
    "FaultRule",
    "OutcomeConfig",
    "create_app",
]
