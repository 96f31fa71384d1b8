"""The emulator and a program paid through it, for the commands that talk to PHEE."""

from tests.integration.phee.conftest import _emulator, hub, phee_program  # noqa: F401
