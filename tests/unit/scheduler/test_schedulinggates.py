"""SchedulingGates: PreEnqueue holds a pod back while it carries scheduling gates."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.scheduler.framework.fake import FakeHandle, make_pod
from pocketkube.scheduler.framework.status import Code
from pocketkube.scheduler.framework.types import PodInfo
from pocketkube.scheduler.plugins import schedulinggates


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        pytest.param({}, None, id="no-gates"),
        pytest.param({"schedulingGates": []}, None, id="empty-gates"),
        pytest.param(
            {"schedulingGates": [{"name": "foo"}, {"name": "bar"}]},
            "waiting for scheduling gates: [foo bar]",
            id="two-gates",
        ),
        pytest.param(
            {"schedulingGates": [{"name": "example.com/quota"}]},
            "waiting for scheduling gates: [example.com/quota]",
            id="one-gate",
        ),
    ],
)
def test_pre_enqueue(spec: dict[str, Any], message: str | None) -> None:
    plugin = schedulinggates.new({}, FakeHandle())
    status = plugin.pre_enqueue(PodInfo(make_pod("p", spec=spec)))
    if message is None:
        assert status is None
    else:
        assert status is not None
        assert status.code == Code.UNSCHEDULABLE_AND_UNRESOLVABLE
        assert status.reasons == [message]


def test_registration() -> None:
    plugin = schedulinggates.new({}, FakeHandle())
    assert plugin.name == schedulinggates.NAME == "SchedulingGates"
    assert plugin.events_to_register() == []
