"""PrioritySort: higher priority first, then the earlier timestamp."""

from __future__ import annotations

import pytest

from pocketkube.scheduler.framework.fake import FakeHandle, make_pod
from pocketkube.scheduler.framework.interface import QueuedPodInfo
from pocketkube.scheduler.framework.types import PodInfo
from pocketkube.scheduler.plugins import prioritysort


def queued(priority: int | None, timestamp: float) -> QueuedPodInfo:
    return QueuedPodInfo(PodInfo(make_pod("p", priority=priority)), timestamp)


@pytest.mark.parametrize(
    ("a", "b", "less"),
    [
        (queued(10, 2.0), queued(5, 1.0), True),
        (queued(5, 1.0), queued(10, 2.0), False),
        (queued(5, 1.0), queued(5, 2.0), True),
        (queued(5, 2.0), queued(5, 1.0), False),
        (queued(5, 1.0), queued(5, 1.0), False),
        (queued(None, 1.0), queued(0, 2.0), True),
        (queued(-1, 1.0), queued(None, 2.0), False),
    ],
)
def test_less(a: QueuedPodInfo, b: QueuedPodInfo, less: bool) -> None:
    assert prioritysort.new({}, FakeHandle()).less(a, b) is less
