"""``pods/<name>/binding`` and the legacy ``bindings`` resource: assigning a pod to a node.

This is how the scheduler's Bind step lands: a ``v1`` Binding names the pod and a target node.
As upstream's ``BindingREST``, the write goes straight to storage (a pod's spec is otherwise
immutable, so the pod strategy's update validation does not apply), sets ``spec.nodeName`` only
if it is still empty, copies the Binding's annotations onto the pod and marks the pod
``PodScheduled=True``. A pod already bound, being deleted or still gated is a 409 Conflict on
``pods/binding``; the answer to a bind is ``201`` with a Success Status.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from pocketkube.api import status
from pocketkube.api.status import StatusError
from pocketkube.api.validation import FieldError, not_supported, required
from pocketkube.apiserver import extensions
from pocketkube.apiserver.errors import status_error_from_storage
from pocketkube.apiserver.extensions import SpecialRequest
from pocketkube.apiserver.query import dry_run
from pocketkube.apiserver.registry import ResourceRegistry
from pocketkube.apiserver.resources import Resource
from pocketkube.apiserver.resources_builtin import BUILTIN_RESOURCES
from pocketkube.apiserver.specialbody import read_object, reply
from pocketkube.apiserver.subresources.podstatus import update_pod_condition
from pocketkube.storage.errors import NotFound, StorageError
from pocketkube.storage.interface import Obj, Preconditions
from pocketkube.storage.store import check_preconditions

PODS: Resource = next(r for r in BUILTIN_RESOURCES if r.gvr == ("", "v1", "pods"))
BINDINGS = ("", "v1", "bindings")


def _validate(binding: Obj) -> None:
    """Upstream's ValidatePodBinding: the target is a node, by name."""
    target = binding.get("target") if isinstance(binding.get("target"), dict) else {}
    assert isinstance(target, dict)
    errors: list[FieldError] = []
    kind = target.get("kind") or ""
    if kind and kind != "Node":
        errors.append(not_supported("target.kind", kind, ["Node", "<empty>"]))
    if not target.get("name"):
        errors.append(required("target.name"))
    if errors:
        name = str(binding["metadata"].get("name", ""))
        raise StatusError(status.invalid("Binding", name, errors))


def _conflict(name: str, message: str) -> StatusError:
    return StatusError(status.conflict("pods/binding", name, message))


async def assign_pod(
    pods: ResourceRegistry,
    namespace: str,
    name: str,
    node: str,
    *,
    annotations: dict[str, str] | None = None,
    preconditions: Preconditions | None = None,
    dry_run: bool = False,
) -> Obj:
    """Bind pod ``namespace/name`` to ``node``; the pod as (it would be) stored."""
    result: dict[str, Obj] = {}

    async def bind(pod: Obj | None) -> Obj:
        if pod is None:
            raise NotFound(f"{name} not found")
        meta, spec = pod["metadata"], pod.setdefault("spec", {})
        if meta.get("deletionTimestamp"):
            raise _conflict(name, f"pod {name} is being deleted, cannot be assigned to a host")
        if spec.get("nodeName"):
            raise _conflict(name, f'pod {name} is already assigned to node "{spec["nodeName"]}"')
        if spec.get("schedulingGates"):
            raise _conflict(name, f"pod {name} has non-empty .spec.schedulingGates")
        spec["nodeName"] = node
        if annotations:
            meta["annotations"] = {**(meta.get("annotations") or {}), **annotations}
        update_pod_condition(pod, "PodScheduled", "True")
        result["pod"] = pod
        return pod

    key = pods.key(namespace, name)
    try:
        if dry_run:
            current = await pods.storage.get(key)
            check_preconditions(key, current, preconditions)
            return await bind(current)
        await pods.storage.guaranteed_update(key, bind, preconditions=preconditions)
    except StorageError as err:
        raise status_error_from_storage(err, resource="pods", name=name) from None
    return result["pod"]


async def _bind(special: SpecialRequest, name: str | None) -> web.StreamResponse:
    pods = special.registry_for(PODS)
    if pods is None:
        raise StatusError(status.internal_error("pods are not served"))
    binding = await read_object(special, api_version="v1", kind="Binding")
    meta: dict[str, Any] = binding["metadata"]
    namespace = special.info.namespace
    if meta.get("namespace") and meta["namespace"] != namespace:
        raise StatusError(
            status.bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        )
    if name is None:  # the legacy resource names the pod in the body
        name = str(meta.get("name") or "")
    elif meta.get("name", "") != name:
        raise StatusError(status.bad_request("name in URL does not match name in Binding object"))
    _validate(binding)
    if not name:
        raise StatusError(
            status.invalid("Binding", "", [required("metadata.name", "name or generateName")])
        )
    uid, rv = meta.get("uid"), meta.get("resourceVersion")
    await assign_pod(
        pods,
        namespace,
        name,
        str(binding["target"]["name"]),
        annotations={str(k): str(v) for k, v in (meta.get("annotations") or {}).items()},
        preconditions=Preconditions(uid=uid, resource_version=rv) if uid or rv else None,
        dry_run=dry_run(special.request.query),
    )
    return reply(status.success(code=201), 201)


async def handle_subresource(special: SpecialRequest) -> web.StreamResponse:
    """``POST /api/v1/namespaces/<ns>/pods/<name>/binding``."""
    if special.info.verb != "create" or special.resource.gvr != PODS.gvr:
        raise StatusError(status.method_not_supported("pods/binding", special.info.verb))
    return await _bind(special, special.info.name)


async def handle_legacy(special: SpecialRequest) -> web.StreamResponse:
    """``POST /api/v1/namespaces/<ns>/bindings`` (the pod is named in the body)."""
    if special.info.verb != "create" or special.info.name:
        raise StatusError(status.method_not_supported("bindings", special.info.verb))
    return await _bind(special, None)


def install() -> None:
    extensions.SUBRESOURCES["binding"] = handle_subresource
    extensions.VIRTUAL[BINDINGS] = handle_legacy
