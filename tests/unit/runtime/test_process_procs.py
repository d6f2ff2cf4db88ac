"""Processes are known by pid and start time, and never signalled when those do not match."""

from __future__ import annotations

import os
import signal

from pocketkube.runtime.process import procs


def test_alive_needs_the_same_start_time() -> None:
    me = os.getpid()
    ticks = procs.start_ticks(me)
    assert ticks > 0
    assert procs.alive(me, ticks)
    assert not procs.alive(me, ticks + 1)  # a pid reused by another process
    assert not procs.alive(0, 0)
    assert procs.start_ticks(2**22 + 1) == 0  # above pid_max: no such process
    assert not procs.alive(2**22 + 1, 5)


def test_no_signal_to_a_process_that_is_not_ours() -> None:
    me = os.getpid()
    # would kill the test run if it were sent
    assert not procs.signal_group(me, procs.start_ticks(me) + 1, signal.SIGKILL)
