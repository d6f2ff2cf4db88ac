"""The controller manager's leader election wiring: unelected it just runs; elected it takes the
Lease named by the options before its controllers start, and gives it up when stopped."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

from pocketkube.controllers.app import election_config, run_elected
from pocketkube.controllers.base import Controller
from pocketkube.controllers.context import Context, Options
from pocketkube.controllers.informers import SharedInformers
from tests.unit.controllers.fakes import FakeClient

LEASE = "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/kube-controller-manager"


class Started(Controller):
    name = "started"

    def __init__(self) -> None:
        super().__init__(informers=[])
        self.running = asyncio.Event()

    async def run(self) -> None:
        self.running.set()
        await asyncio.Event().wait()

    async def sync(self, key: str) -> None:  # pragma: no cover
        pass


async def run_briefly(options: Options) -> tuple[FakeClient, Started]:
    client = FakeClient()
    stored: dict[str, Any] = {}  # the Lease as last written

    def write(body: Any) -> Any:
        stored["lease"] = body
        return body

    client.answers[("PUT", LEASE)] = write
    client.answers[("GET", LEASE)] = lambda _: stored.get("lease", {"metadata": {}})
    ctx = Context(client=client, informers=SharedInformers(client=client), options=options)
    controller = Started()
    task = asyncio.create_task(run_elected(ctx, [controller], identity="host_1"))
    await asyncio.wait_for(controller.running.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return client, controller


async def test_unelected_it_just_runs() -> None:
    client, _ = await run_briefly(Options(leader_elect=False))
    assert client.calls == []


async def test_elected_it_takes_the_lease_first_and_releases_it() -> None:
    client, _ = await run_briefly(Options())
    lease_writes = [c for c in client.writes() if c.path == LEASE]
    assert lease_writes[0].verb == "PUT"
    assert lease_writes[0].body["spec"]["holderIdentity"] == "host_1"
    assert lease_writes[-1].body["spec"]["holderIdentity"] == ""  # released on stop


def test_election_config_follows_the_flags() -> None:
    options = dataclasses.replace(
        Options(),
        leader_elect_lease_duration=3.0,
        leader_elect_renew_deadline=2.0,
        leader_elect_retry_period=0.5,
        leader_elect_resource_name="kcm",
        leader_elect_resource_namespace="system",
    )
    config = election_config(options, "me")
    assert (config.namespace, config.name, config.identity) == ("system", "kcm", "me")
    assert (config.lease_duration, config.renew_deadline, config.retry_period) == (3.0, 2.0, 0.5)
