"""Creating and deleting an owner's pods with upstream's events (``RealPodControl``)."""

from __future__ import annotations

import copy
from typing import Any

from pocketkube.client import resources
from pocketkube.client.resources import Resource
from pocketkube.client.rest import ApiError, Obj
from pocketkube.controllers.base import ApiClient
from pocketkube.controllers.context import Recorder
from pocketkube.controllers.podcontrol.state import controller_ref_for, describe

# events (upstream's reasons and messages)
SUCCESSFUL_CREATE = "SuccessfulCreate"
FAILED_CREATE = "FailedCreate"
SUCCESSFUL_DELETE = "SuccessfulDelete"
FAILED_DELETE = "FailedDelete"


def pod_from_template(template: Obj, owner: Obj, resource: Resource) -> Obj:
    """The pod ``owner`` creates from ``template`` (upstream's GetPodFromTemplate)."""
    meta = template.get("metadata") or {}
    pod_meta: Obj = {
        "generateName": f"{owner['metadata']['name']}-",
        "namespace": owner["metadata"].get("namespace"),
        "labels": dict(meta.get("labels") or {}),
        "ownerReferences": [controller_ref_for(owner, resource)],
    }
    if meta.get("annotations"):
        pod_meta["annotations"] = dict(meta["annotations"])
    if meta.get("finalizers"):
        pod_meta["finalizers"] = list(meta["finalizers"])
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": pod_meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def _is_namespace_terminating(err: ApiError) -> bool:
    causes = ((err.body or {}).get("details") or {}).get("causes") or ()
    return any(c.get("reason") == "NamespaceTerminating" for c in causes if isinstance(c, dict))


class PodControl:
    """Creates and deletes an owner's pods, recording upstream's events on the owner."""

    def __init__(self, *, client: ApiClient, recorder: Recorder) -> None:
        self._client = client
        self._recorder = recorder

    async def create_pod(self, pod: Obj, owner: Obj) -> Obj:
        """Create ``pod`` (see ``pod_from_template``) for ``owner``; raises the API's error."""
        namespace = pod["metadata"].get("namespace") or owner["metadata"].get("namespace")
        if not (pod["metadata"].get("labels") or {}):
            raise ValueError("unable to create pods, no labels")
        try:
            created = await self._client.create(resources.PODS.path(namespace=namespace), pod)
        except ApiError as err:
            if not _is_namespace_terminating(err):
                self._event(
                    owner, "Warning", FAILED_CREATE, "Create", f"Error creating: {describe(err)}"
                )
            raise
        name = created.get("metadata", {}).get("name") or pod["metadata"].get("name", "")
        self._event(owner, "Normal", SUCCESSFUL_CREATE, "Create", f"Created pod: {name}")
        return created

    async def create_pod_from_template(self, template: Obj, owner: Obj, resource: Resource) -> Obj:
        return await self.create_pod(pod_from_template(template, owner, resource), owner)

    async def delete_pod(self, namespace: str, name: str, owner: Obj) -> None:
        """Delete a pod of ``owner``; a pod already gone raises its 404 without an event."""
        try:
            await self._client.delete(resources.PODS.path(namespace=namespace, name=name))
        except ApiError as err:
            if not err.not_found:
                self._event(
                    owner, "Warning", FAILED_DELETE, "Delete", f"Error deleting: {describe(err)}"
                )
            raise
        self._event(owner, "Normal", SUCCESSFUL_DELETE, "Delete", f"Deleted pod: {name}")

    def _event(self, owner: Obj, type_: Any, reason: str, action: str, note: str) -> None:
        self._recorder.post(owner, type=type_, reason=reason, action=action, note=note)
