"""namespaces/finalize: finalizer name validation, the strategy (status stays as stored) and the
registry that deletes a finalized namespace (over the in-memory datastore)."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.api.status import StatusError
from pocketkube.apiserver.registry import DeleteOptions, ResourceInfo, ResourceRegistry
from pocketkube.apiserver.subresources.finalize import (
    FinalizeRegistry,
    finalize_update,
    validate_finalizers,
)
from pocketkube.storage.interface import ListOptions
from pocketkube.storage.memory import MemoryBackend
from pocketkube.storage.store import KVStorage

NAMESPACES = ResourceInfo(
    group="",
    version="v1",
    kind="Namespace",
    plural="namespaces",
    namespaced=False,
    storage_prefix="/namespaces/",
)
NOT_QUALIFIED = "name is neither a standard finalizer name nor is it fully qualified"


@pytest.mark.parametrize(
    ("finalizers", "messages"),
    [
        ([], []),
        (["kubernetes", "orphan", "foregroundDeletion", "example.com/x"], []),
        (["custom"], [f'spec.finalizers[0]: Invalid value: "custom": {NOT_QUALIFIED}']),
        (
            ["kubernetes", "-bad"],
            [
                'spec.finalizers[1]: Invalid value: "-bad": name part must consist of '
                "alphanumeric characters, '-', '_' or '.', and must start and end with an "
                "alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used "
                "for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')",
                f'spec.finalizers[1]: Invalid value: "-bad": {NOT_QUALIFIED}',
            ],
        ),
        (
            ["Example.com/x"],
            [
                'spec.finalizers[0]: Invalid value: "Example.com/x": prefix part a lowercase '
                "RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                "'.', and must start and end with an alphanumeric character (e.g. "
                "'example.com', regex used for validation is "
                "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ],
        ),
        ("kubernetes", ['spec.finalizers: Invalid value: "kubernetes": must be of type array']),
    ],
)
def test_validate_finalizers(finalizers: Any, messages: list[str]) -> None:
    assert [e.message for e in validate_finalizers(finalizers)] == messages


def test_finalize_update_keeps_the_stored_status() -> None:
    current = {"metadata": {"name": "ns"}, "spec": {}, "status": {"phase": "Terminating"}}
    wanted = {"metadata": {"name": "ns"}, "spec": {"finalizers": ["kubernetes"]}}
    assert finalize_update({**wanted, "status": {"phase": "Active"}}, current) == {
        **wanted,
        "status": {"phase": "Terminating"},
    }
    # no finalizers is an empty list, which the Namespace defaults leave alone
    assert finalize_update({"metadata": {"name": "ns"}}, current)["spec"] == {"finalizers": []}
    with pytest.raises(StatusError) as caught:
        finalize_update({"metadata": {}, "spec": {"finalizers": ["x"]}}, current)
    assert caught.value.status["message"].startswith('Namespace "ns" is invalid: ')


@pytest.fixture
async def namespaces() -> ResourceRegistry:
    backend = MemoryBackend()
    await backend.start()
    return ResourceRegistry(info=NAMESPACES, storage=KVStorage(backend))


async def _deleted(registry: ResourceRegistry) -> None:
    """A namespace held by a metadata finalizer and deleted: it waits with a
    deletionTimestamp (and its default spec finalizer, ``kubernetes``)."""
    await registry.create("", {"metadata": {"name": "ns", "finalizers": ["example.com/hold"]}})
    marked, deleted_now = await registry.delete("", "ns", DeleteOptions())
    assert not deleted_now
    assert marked["metadata"]["deletionTimestamp"]
    assert marked["spec"]["finalizers"] == ["kubernetes"]


def _finalize(spec_finalizers: list[str], meta_finalizers: list[str]) -> Any:
    async def mutate(current: dict[str, Any]) -> dict[str, Any]:
        current["metadata"]["finalizers"] = meta_finalizers
        return finalize_update({**current, "spec": {"finalizers": spec_finalizers}}, current)

    return mutate


@pytest.mark.parametrize(
    ("spec_finalizers", "meta_finalizers", "remains"),
    [
        (["kubernetes"], [], True),
        ([], ["example.com/hold"], True),
        ([], [], False),
    ],
)
async def test_a_finalized_namespace_is_deleted(
    namespaces: ResourceRegistry,
    spec_finalizers: list[str],
    meta_finalizers: list[str],
    remains: bool,
) -> None:
    await _deleted(namespaces)
    finalize = FinalizeRegistry(info=namespaces.info, storage=namespaces.storage)
    await finalize.update("", "ns", _finalize(spec_finalizers, meta_finalizers), dry_run=False)
    listed = await namespaces.list("", ListOptions())
    assert [o["metadata"]["name"] for o in listed.items] == (["ns"] if remains else [])


async def test_a_namespace_not_being_deleted_stays(namespaces: ResourceRegistry) -> None:
    await namespaces.create("", {"metadata": {"name": "ns"}})
    finalize = FinalizeRegistry(info=namespaces.info, storage=namespaces.storage)
    updated = await finalize.update("", "ns", _finalize([], []), dry_run=False)
    assert updated["spec"] == {"finalizers": []}
    assert (await namespaces.get("", "ns"))["spec"] == {"finalizers": []}
