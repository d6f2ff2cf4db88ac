"""Sandboxes of the process runtime (no process is started by these calls)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pocketkube.runtime import cri
from pocketkube.runtime.process.runtime import ProcessRuntime
from tests.unit.runtime.process_fakes import FakeCgroups, FakeNetwork


def config(name: str, **kwargs: object) -> cri.PodSandboxConfig:
    meta = cri.PodSandboxMetadata(name=name, uid=f"uid-{name}", namespace="default")
    return cri.PodSandboxConfig(metadata=meta, labels={"app": name}, **kwargs)  # type: ignore[arg-type]


def make(tmp_path: Path, network: FakeNetwork, cgroups: FakeCgroups) -> ProcessRuntime:
    return ProcessRuntime(root_dir=tmp_path, network=network, cgroups=cgroups, node_ip="192.0.2.1")


async def test_run_status_stop_remove(tmp_path: Path) -> None:
    net, cg = FakeNetwork(), FakeCgroups()
    rt = make(tmp_path, net, cg)
    resources = cri.LinuxContainerResources(memory_limit_in_bytes=1 << 30)
    sid = await rt.run_pod_sandbox(config("a", resources=resources))
    status = await rt.pod_sandbox_status(sid)
    assert status.state == cri.SandboxState.READY
    assert status.ip == "10.0.0.2"
    assert status.netns_path == f"/ns/{sid}"
    assert status.metadata.name == "a"
    assert cg.created["pocketkube/poduid-a"] == resources

    await rt.stop_pod_sandbox(sid)
    assert (await rt.pod_sandbox_status(sid)).state == cri.SandboxState.NOTREADY
    assert sid in net.torn_down
    await rt.stop_pod_sandbox(sid)  # idempotent

    await rt.remove_pod_sandbox(sid)
    assert "pocketkube/poduid-a" in cg.removed
    with pytest.raises(cri.RuntimeError_) as err:
        await rt.pod_sandbox_status(sid)
    assert err.value.code == "NotFound"
    await rt.remove_pod_sandbox(sid)  # idempotent
    await rt.stop_pod_sandbox("missing")


async def test_host_network_uses_the_node_ip_without_the_network(tmp_path: Path) -> None:
    net = FakeNetwork()
    rt = make(tmp_path, net, FakeCgroups())
    sid = await rt.run_pod_sandbox(config("h", host_network=True, cgroup_parent="custom/pod"))
    status = await rt.pod_sandbox_status(sid)
    assert (status.ip, status.netns_path, status.host_network) == ("192.0.2.1", "", True)
    assert net.active == {}
    await rt.remove_pod_sandbox(sid)
    assert net.torn_down == []


async def test_failed_network_leaves_nothing(tmp_path: Path) -> None:
    cg = FakeCgroups()
    rt = make(tmp_path, FakeNetwork(fail=True), cg)
    with pytest.raises(cri.RuntimeError_, match="no luck"):
        await rt.run_pod_sandbox(config("a"))
    assert await rt.list_pod_sandbox() == []
    assert cg.created == {}
    assert list((tmp_path / "sandboxes").iterdir()) == []


async def test_list_filters(tmp_path: Path) -> None:
    rt = make(tmp_path, FakeNetwork(), FakeCgroups())
    a = await rt.run_pod_sandbox(config("a"))
    b = await rt.run_pod_sandbox(config("b"))
    await rt.stop_pod_sandbox(b)

    async def ids(f: cri.PodSandboxFilter | None = None) -> set[str]:
        return {s.id for s in await rt.list_pod_sandbox(f)}

    assert await ids() == {a, b}
    assert await ids(cri.PodSandboxFilter(id=a)) == {a}
    assert await ids(cri.PodSandboxFilter(id=b[:12])) == {b}  # a truncated id, as crictl takes
    assert await ids(cri.PodSandboxFilter(state=cri.SandboxState.READY)) == {a}
    assert await ids(cri.PodSandboxFilter(state=cri.SandboxState.NOTREADY)) == {b}
    assert await ids(cri.PodSandboxFilter(label_selector={"app": "b"})) == {b}
    assert await ids(cri.PodSandboxFilter(label_selector={"app": "c"})) == set()


async def test_a_new_runtime_sees_the_sandboxes_and_lost_networks(tmp_path: Path) -> None:
    net = FakeNetwork()
    first = make(tmp_path, net, FakeCgroups())
    kept = await first.run_pod_sandbox(config("kept"))
    lost = await first.run_pod_sandbox(config("lost"))
    del net.active[lost]  # e.g. a reboot emptied /run/netns
    second = make(tmp_path, net, FakeCgroups())
    assert (await second.pod_sandbox_status(kept)).state == cri.SandboxState.READY
    assert (await second.pod_sandbox_status(lost)).state == cri.SandboxState.NOTREADY
    assert (await second.pod_sandbox_status(kept)).ip == "10.0.0.2"


async def test_containers_need_a_ready_sandbox_and_a_command(tmp_path: Path) -> None:
    rt = make(tmp_path, FakeNetwork(), FakeCgroups())
    sid = await rt.run_pod_sandbox(config("a"))
    bare = cri.ContainerConfig(metadata=cri.ContainerMetadata("c"), image=cri.ImageSpec("nginx"))
    with pytest.raises(cri.RuntimeError_) as err:
        await rt.create_container(sid, bare, config("a"))
    assert err.value.code == "InvalidArgument"
    assert "container has no command" in err.value.message
    with pytest.raises(cri.RuntimeError_) as err:
        await rt.create_container("missing", bare, config("a"))
    assert err.value.code == "NotFound"
    await rt.stop_pod_sandbox(sid)
    good = cri.ContainerConfig(
        metadata=cri.ContainerMetadata("c"), image=cri.ImageSpec("i"), command=("true",)
    )
    with pytest.raises(cri.RuntimeError_) as err:
        await rt.create_container(sid, good, config("a"))
    assert err.value.code == "FailedPrecondition"


async def test_status_and_version(tmp_path: Path) -> None:
    rt = make(tmp_path, FakeNetwork(note="pods share the host's network"), FakeCgroups())
    rt.launcher.ensure = _nothing  # type: ignore[method-assign]  # no fork server in unit tests
    status = await rt.status()
    assert [(c.type, c.status) for c in status.conditions] == [
        ("RuntimeReady", True),
        ("NetworkReady", True),
    ]
    assert "pods share the host's network" in status.notes
    version = await rt.version()
    assert (version.version, version.runtime_name, version.runtime_api_version) == (
        "0.1.0",
        "process",
        "v1",
    )


async def _nothing() -> None:
    return None
