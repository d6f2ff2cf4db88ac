"""The controller manager: --controllers selection, building, and the shared queue loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from pocketkube.client import resources
from pocketkube.client.resources import CERTIFICATE_SIGNING_REQUESTS
from pocketkube.controllers import manager
from pocketkube.controllers.base import Controller
from pocketkube.controllers.informers import SharedInformers
from tests.unit.controllers.fakes import FakeClient, make_ca

ALL = ["csrapproving", "csrsigning", "bootstrapsigner", "tokencleaner"]


@pytest.mark.parametrize(
    ("flag", "enabled"),
    [
        ("*", ["csrapproving", "csrsigning"]),
        ("*,bootstrapsigner,tokencleaner", ALL),
        ("*,-csrsigning", ["csrapproving"]),
        ("*,-csrsigning,csrsigning", ["csrapproving"]),  # the first mention wins
        ("csrsigning", ["csrsigning"]),
        ("", []),
    ],
)
def test_is_enabled(flag: str, enabled: list[str]) -> None:
    names = manager.parse_controllers(flag)
    assert [n for n in ALL if manager.is_enabled(n, names)] == enabled


@pytest.mark.parametrize("flag", ["nope", "*,-nope"])
def test_unknown_controllers_are_refused(flag: str) -> None:
    with pytest.raises(manager.ConfigError, match="is not in the list of known controllers"):
        manager.parse_controllers(flag)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("8760h", 8760 * 3600), ("1h30m", 5400), ("90s", 90), ("1.5h", 5400), ("500ms", 0.5)],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert manager.parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "0", "10", "1d", "h", "-1h", "1h x"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(manager.ConfigError, match="invalid duration"):
        manager.parse_duration(text)


def build(client: FakeClient, options: manager.Options) -> tuple[SharedInformers, list[str]]:
    informers = SharedInformers(client=client)
    ctx = manager.Context(client=client, informers=informers, options=options)
    return informers, [c.name for c in manager.build(ctx)]


def test_build_shares_informers_and_skips_the_signer_without_a_ca(tmp_path: Path) -> None:
    client = FakeClient()
    # the seed's four, named: "*" also turns on every controller registered since
    everything = ("csrapproving", "csrsigning", "bootstrapsigner", "tokencleaner")
    informers, names = build(client, manager.Options(controllers=everything))
    assert names == ["csrapproving", "bootstrapsigner", "tokencleaner"]
    assert len(informers) == 3  # CSRs, cluster-info, token Secrets (shared by two)
    cert, key = make_ca(tmp_path)
    informers, names = build(
        client,
        manager.Options(
            controllers=everything, cluster_signing_cert_file=cert, cluster_signing_key_file=key
        ),
    )
    assert names == ALL
    assert len(informers) == 3


def test_shared_informers_return_one_informer_per_view() -> None:
    informers = SharedInformers(client=FakeClient())
    a = informers.informer(resources.SECRETS, namespace="kube-system", field_selector="type=x")
    assert (
        informers.informer(resources.SECRETS, namespace="kube-system", field_selector="type=x") is a
    )
    assert informers.informer(resources.SECRETS, namespace="kube-system") is not a


class Recorder(Controller):
    name = "recorder"

    def __init__(self, *, fail: set[str], **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.fail = fail
        self.synced: list[str] = []

    async def sync(self, key: str) -> None:
        self.synced.append(key)
        if key in self.fail:
            raise RuntimeError("boom")


async def test_process_forgets_successes_and_requeues_failures() -> None:
    ctrl = Recorder(fail={"bad"}, informers=[])
    ctrl.queue.add("good")
    ctrl.queue.add("bad")
    await ctrl.process(ctrl.queue.get_nowait())
    await ctrl.process(ctrl.queue.get_nowait())
    assert ctrl.synced == ["good", "bad"]
    assert ctrl.queue.waiting == 1
    assert ctrl.queue.num_requeues("bad") == 1
    assert ctrl.queue.num_requeues("good") == 0


async def test_run_waits_for_the_informers_then_syncs_what_they_list() -> None:
    client = FakeClient(
        lists={
            "/apis/certificates.k8s.io/v1/certificatesigningrequests": [{"metadata": {"name": "a"}}]
        }
    )
    informers = SharedInformers(client=client)
    csr_informer = informers.informer(CERTIFICATE_SIGNING_REQUESTS)
    ctrl = Recorder(fail=set(), informers=[csr_informer], workers=2)
    csr_informer.add_handler(on_add=ctrl.enqueue)
    async with asyncio.TaskGroup() as group:
        task = group.create_task(
            manager.run(
                manager.Context(client=client, informers=informers, options=manager.Options()),
                [ctrl],
            )
        )
        for _ in range(100):
            if ctrl.synced:
                break
            await asyncio.sleep(0.01)
        task.cancel()
    assert ctrl.synced == ["a"]
    assert ctrl.queue.shutting_down


def test_each_controller_gets_a_client_named_after_it() -> None:
    asked: list[str] = []

    class Named(FakeClient):
        config = type("Config", (), {"user_agent": "kube-controller-manager/v1.33.0"})()

        def with_user_agent(self, user_agent: str) -> FakeClient:
            asked.append(user_agent)
            return FakeClient()

    client = Named()
    ctx = manager.Context(
        client=client,
        informers=SharedInformers(client=client),
        options=manager.Options(controllers=("job", "garbagecollector")),
    )
    manager.build(ctx)
    assert asked == [
        "kube-controller-manager/v1.33.0/generic-garbage-collector",
        "kube-controller-manager/v1.33.0/job-controller",
    ]
    assert set(manager.CLIENT_NAMES) == set(manager.REGISTRY)
