"""The README's demo pays some of its beneficiaries through G2P Connect (issue 23 item 5): the
MIS stand-in sends a disburse to the application served in the demo's process, and is told
every record's final status by callbacks."""

from __future__ import annotations

from pathlib import Path

from g2p_payment_phee.demo import run_demo
from g2p_payment_phee.demo_g2p_connect import RECORDS


def test_the_demo_prints_what_the_mis_was_told(tmp_path: Path) -> None:
    lines: list[str] = []
    run_demo(f"sqlite:///{tmp_path / 'demo.sqlite3'}", registrants=120, seed=7, say=lines.append)
    [told] = [line for line in lines if line.startswith("paid through G2P Connect:")]
    words = told.removeprefix("paid through G2P Connect:").replace(",", "").split()
    counts = dict(zip(words[1::2], (int(n) for n in words[::2]), strict=True))
    assert set(counts) == {"succ", "rjct"}
    assert counts["succ"] + counts["rjct"] == RECORDS
    # the demo's closed accounts fail at the hub for the MIS too (every 100th phone)
    assert counts["rjct"] >= 1
    assert counts["succ"] >= RECORDS - 2
