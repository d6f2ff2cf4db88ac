from __future__ import annotations

import pytest

from pocketkube.api.status import StatusError
from pocketkube.apiserver.admission import (
    ORDER,
    PLUGINS,
    Attributes,
    Chain,
    MemoryReader,
    new_chain,
)
from pocketkube.apiserver.admission.interface import NAMESPACES, PRIORITY_CLASSES
from tests.unit.apiserver.admission_helpers import pod, pod_create, priority_class


class Recorder:
    """A plugin that records its calls; mutating, validating or both."""

    def __init__(self, name: str, log: list[str], *, refuse: bool = False) -> None:
        self.name, self.log, self.refuse = name, log, refuse

    async def admit(self, attrs: Attributes) -> None:
        self.log.append(f"admit {self.name}")
        if self.refuse:
            raise StatusError({"code": 403, "message": self.name})


class Validator:
    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log = name, log

    async def validate(self, attrs: Attributes) -> None:
        self.log.append(f"validate {self.name}")


class Both(Recorder, Validator):
    pass


async def test_every_mutating_plugin_runs_before_any_validating_one() -> None:
    log: list[str] = []
    chain = Chain([Validator("v", log), Both("b", log), Recorder("m", log)])
    await chain.admit(pod_create(pod()))
    assert log == ["admit b", "admit m", "validate v", "validate b"]


async def test_the_first_refusal_ends_the_chain() -> None:
    log: list[str] = []
    chain = Chain([Recorder("no", log, refuse=True), Validator("v", log)])
    with pytest.raises(StatusError):
        await chain.admit(pod_create(pod()))
    assert log == ["admit no"]


def test_upstream_order() -> None:
    assert ORDER == ("NamespaceLifecycle", "ServiceAccount", "Priority", "DefaultTolerationSeconds")
    assert set(PLUGINS) == set(ORDER)
    chain = new_chain(MemoryReader())
    assert [p.name for p in chain.mutating] == list(ORDER)
    assert [p.name for p in chain.validating] == ["ServiceAccount", "Priority"]
    assert [p.name for p in new_chain(MemoryReader(), ["Priority"]).mutating] == ["Priority"]


async def test_a_new_pod_through_the_whole_chain() -> None:
    reader = MemoryReader(
        {
            NAMESPACES: [{"metadata": {"name": "default"}}],
            PRIORITY_CLASSES: [priority_class("high", 1000, preemptionPolicy="Never")],
        }
    )
    obj = pod(priorityClassName="high")
    await new_chain(reader).admit(pod_create(obj))
    spec = obj["spec"]
    assert (spec["serviceAccountName"], spec["priority"], spec["preemptionPolicy"]) == (
        "default",
        1000,
        "Never",
    )
    assert [t["key"] for t in spec["tolerations"]] == [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ]


async def test_a_missing_namespace_is_refused_first() -> None:
    obj = pod(priorityClassName="missing")
    with pytest.raises(StatusError) as err:
        await new_chain(MemoryReader()).admit(pod_create(obj, "nowhere"))
    assert err.value.code == 404
    assert "serviceAccountName" not in obj["spec"]
