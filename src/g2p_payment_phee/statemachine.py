"""Explicit state machines: a ``StrEnum``, a table of allowed transitions, terminal states.

Each domain's ``states.py`` declares its machine and the one function that writes the state;
this module only knows how to check a move and say clearly why it is refused.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from g2p_payment_phee.errors import InvalidTransition
from g2p_payment_phee.i18n import _

S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True)
class StateMachine(Generic[S]):
    """The allowed moves of one entity's state; states with no move out are final."""

    entity: str
    transitions: Mapping[S, frozenset[S]]

    def is_final(self, state: S) -> bool:
        """Whether nothing may move an entity out of ``state``."""
        return not self.transitions.get(state)

    def allowed(self, current: S, target: S) -> bool:
        """Whether ``current → target`` is in the table."""
        return target in self.transitions.get(current, frozenset())

    def check(self, current: S, target: S) -> None:
        """Raise InvalidTransition naming the entity and both states unless the move is allowed."""
        if self.allowed(current, target):
            return
        if self.is_final(current):
            raise InvalidTransition(
                _("{entity} is {current}, a final state: cannot become {target}").format(
                    entity=self.entity, current=current, target=target
                )
            )
        options = ", ".join(sorted(self.transitions.get(current, frozenset())))
        raise InvalidTransition(
            _("{entity} cannot go from {current} to {target} (allowed: {options})").format(
                entity=self.entity, current=current, target=target, options=options
            )
        )

    def sources_of(self, target: S) -> frozenset[S]:
        """Every state from which ``target`` may be reached (for set-based updates)."""
        return frozenset(s for s, targets in self.transitions.items() if target in targets)
