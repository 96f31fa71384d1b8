"""The worker process's side of a send's shared state (``send_worker``), without a process: the
copies of one send's state that arrive with its calls all stand for the first one."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

from g2p_payment_phee.phee import send_worker


@dataclass
class _Counter(send_worker.PerSend):
    given_up: bool = False


def _arrives(state: _Counter) -> send_worker.PerSend:
    copy = pickle.loads(pickle.dumps(state))  # noqa: S301 (our own bytes, as a call carries them)
    return send_worker._per_send_copy(copy)


def test_the_calls_of_one_send_share_its_state_in_the_child() -> None:
    state = _Counter()
    first = _arrives(state)
    assert isinstance(first, _Counter)
    first.given_up = True  # one record gave up waiting for the database
    later = _arrives(state)  # a later record of the same send, pickled before that happened
    assert later is first
    assert isinstance(later, _Counter)
    assert later.given_up
    other = _arrives(_Counter())
    assert other is not first


def test_the_child_remembers_a_bounded_number_of_sends() -> None:
    for _ in range(send_worker.PER_SEND_KEPT * 3):
        _arrives(_Counter())
    assert len(send_worker._per_send) <= send_worker.PER_SEND_KEPT
