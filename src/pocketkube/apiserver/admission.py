"""Admission: checks and changes every write passes before it is stored.

For now the one plugin every cluster has, NamespaceLifecycle: nothing can be created in a
namespace that does not exist (404, as upstream) or is being terminated (403).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from pocketkube.api import status
from pocketkube.api.status import StatusError
from pocketkube.storage.interface import Obj

GetNamespace = Callable[[str], Awaitable[Obj | None]]


async def namespace_lifecycle(namespace: str, get_namespace: GetNamespace) -> None:
    found = await get_namespace(namespace)
    if found is None:
        raise StatusError(status.not_found("namespaces", namespace))
    if found.get("metadata", {}).get("deletionTimestamp") or (
        found.get("status", {}).get("phase") == "Terminating"
    ):
        raise StatusError(
            status.make_status(
                code=403,
                reason="Forbidden",
                message=(
                    f"unable to create new content in namespace {namespace} because it is being "
                    "terminated"
                ),
                kind="namespaces",
                name=namespace,
            )
        )
