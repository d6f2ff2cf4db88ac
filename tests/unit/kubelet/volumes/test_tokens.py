"""The token manager's renewal rule: 80% of the lifetime or 24 hours, whichever comes first."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.kubelet.volumes.fake import FakeVolumeSource
from pocketkube.kubelet.volumes.tokens import TokenManager

POD: dict[str, Any] = {"metadata": {"name": "p", "namespace": "default", "uid": "u1"}}


class Clock:
    now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("seconds", "after", "jitter", "renewed"),
    [
        (3600, 2879, 0.0, False),  # 80% of an hour is 2880 s
        (3600, 2881, 0.0, True),
        (3600, 2875, 10.0, True),  # jitter renews up to 10 s early
        (7 * 86400, 86399, 0.0, False),  # a week-long token is renewed after a day
        (7 * 86400, 86401, 0.0, True),
    ],
)
async def test_renewal(seconds: int, after: float, jitter: float, renewed: bool) -> None:
    clock = Clock()
    source = FakeVolumeSource(now=clock)
    tokens = TokenManager(source=source, now=clock, jitter=lambda: jitter)
    first = await tokens.get("default", "default", "", seconds, POD)
    clock.now += after
    second = await tokens.get("default", "default", "", seconds, POD)
    assert (second != first) is renewed
    assert source.tokens_issued == (2 if renewed else 1)


async def test_tokens_are_per_audience_and_pod() -> None:
    source = FakeVolumeSource()
    tokens = TokenManager(source=source, jitter=lambda: 0.0)
    other = {"metadata": {**POD["metadata"], "uid": "u2"}}
    for pod, audience in ((POD, ""), (POD, "vault"), (other, ""), (POD, "")):
        await tokens.get("default", "default", audience, 3600, pod)
    assert source.tokens_issued == 3
    tokens.forget_pod("u1")
    assert len(tokens) == 1
