"""The KubeSchedulerConfiguration's ``leaderElection`` block."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.scheduler.config import (
    API_VERSION,
    KIND,
    ConfigError,
    LeaderElection,
    SchedulerConfig,
    parse_config,
)


def parse(block: Any = None) -> LeaderElection:
    obj: dict[str, Any] = {"apiVersion": API_VERSION, "kind": KIND}
    if block is not None:
        obj["leaderElection"] = block
    return parse_config(obj).leader_election


def test_a_file_gets_upstreams_defaults_and_no_file_runs_unelected() -> None:
    assert parse() == LeaderElection(
        leader_elect=True,
        lease_duration=15.0,
        renew_deadline=10.0,
        retry_period=2.0,
        resource_name="kube-scheduler",
        resource_namespace="kube-system",
    )
    assert SchedulerConfig().leader_election.leader_elect is False


def test_the_block_is_read() -> None:
    election = parse(
        {
            "leaderElect": True,
            "leaseDuration": "3s",
            "renewDeadline": "2s",
            "retryPeriod": "500ms",
            "resourceLock": "leases",
            "resourceName": "my-scheduler",
            "resourceNamespace": "sched",
        }
    )
    assert (election.lease_duration, election.renew_deadline, election.retry_period) == (
        3.0,
        2.0,
        0.5,
    )
    assert (election.resource_name, election.resource_namespace) == ("my-scheduler", "sched")
    assert parse({"leaderElect": False}).leader_elect is False
    assert parse({"leaseDuration": "1m30s"}).lease_duration == 90.0


@pytest.mark.parametrize(
    ("block", "message"),
    [
        ({"leaseDuration": "soon"}, "leaseDuration: invalid duration"),
        ({"retryPeriod": "0s"}, "retryPeriod: invalid duration"),
        ({"leaderElect": "yes"}, "must be true or false"),
        ({"resourceLock": "endpoints"}, "not supported"),
        ({"leaseDuration": "10s"}, "greater than renewDeadline"),
        ({"renewDeadline": "1s", "retryPeriod": "2s"}, "greater than or equal to retryPeriod"),
        ("on", "must be an object"),
    ],
)
def test_bad_blocks_are_refused(block: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(block)
