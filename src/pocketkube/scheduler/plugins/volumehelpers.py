"""What the volume plugins ask of claims, volumes and classes (upstream's storage helpers).

Claims and volumes are plain dicts from the scheduler's informers. The rules here are the ones
the PersistentVolume controller and the scheduler share upstream (``FindMatchingVolume``,
``CheckNodeAffinity``, ``IsDelayBindingMode``): a claim is bound once it names a volume and
carries ``pv.kubernetes.io/bind-completed``; an unbound claim is matched with the smallest
available volume of its class that is big enough, offers its access modes and volume mode,
satisfies its selector and whose node affinity admits the node.

A PV's node affinity is checked for every node of every cycle, so it is parsed once per cycle
into a ``NodeSelector`` (the same matcher NodeAffinity uses) rather than once per node.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from pocketkube.api.labels import LabelSelector
from pocketkube.api.quantity import QuantityError, parse_quantity
from pocketkube.scheduler.plugins.nodehelpers import NodeSelector

Obj = dict[str, Any]

ANN_BIND_COMPLETED = "pv.kubernetes.io/bind-completed"
ANN_BOUND_BY_CONTROLLER = "pv.kubernetes.io/bound-by-controller"
ANN_SELECTED_NODE = "volume.kubernetes.io/selected-node"
ANN_BETA_STORAGE_CLASS = "volume.beta.kubernetes.io/storage-class"
NO_PROVISIONER = "kubernetes.io/no-provisioner"
WAIT_FOR_FIRST_CONSUMER = "WaitForFirstConsumer"


def meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("metadata") or {}


def name_of(obj: Mapping[str, Any]) -> str:
    return str(meta(obj).get("name", ""))


def annotations_of(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return meta(obj).get("annotations") or {}


def spec(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return obj.get("spec") or {}


def claim_key(claim: Mapping[str, Any]) -> str:
    return f"{meta(claim).get('namespace', '')}/{name_of(claim)}"


def pod_claims(pod: Mapping[str, Any]) -> list[tuple[str, bool]]:
    """(claim name, is generic ephemeral) for each volume backed by a claim, in spec order.

    A generic ephemeral volume's claim is named ``<pod>-<volume>`` and created by the
    ephemeral volume controller, so it may not exist yet right after the pod is."""
    result = []
    pod_name = name_of(pod)
    for volume in spec(pod).get("volumes") or ():
        source = volume.get("persistentVolumeClaim")
        if source is not None:
            result.append((str(source.get("claimName") or ""), False))
        elif volume.get("ephemeral") is not None:
            result.append((f"{pod_name}-{volume.get('name', '')}", True))
    return result


def is_controlled_by(obj: Mapping[str, Any], owner: Mapping[str, Any]) -> bool:
    uid = meta(owner).get("uid")
    return any(
        ref.get("controller") and ref.get("uid") == uid
        for ref in meta(obj).get("ownerReferences") or ()
    )


def claim_problem(
    pod: Mapping[str, Any], claim_name: str, claim: Mapping[str, Any] | None, ephemeral: bool
) -> str:
    """Why the pod cannot use this claim at all (the claim has to change first), or ''."""
    if claim is None:
        if ephemeral:
            return (
                "waiting for ephemeral volume controller to create the persistentvolumeclaim "
                f'"{claim_name}"'
            )
        return f'persistentvolumeclaim "{claim_name}" not found'
    if (claim.get("status") or {}).get("phase") == "Lost":
        volume_name = spec(claim).get("volumeName") or ""
        return (
            f'persistentvolumeclaim "{claim_name}" bound to non-existent persistentvolume '
            f'"{volume_name}"'
        )
    if meta(claim).get("deletionTimestamp"):
        return f'persistentvolumeclaim "{claim_name}" is being deleted'
    if ephemeral and not is_controlled_by(claim, pod):
        pod_ref = f"{meta(pod).get('namespace', '')}/{name_of(pod)}"
        return f"PVC {claim_key(claim)} was not created for pod {pod_ref} (pod is not owner)"
    return ""


def claim_class(claim: Mapping[str, Any]) -> str:
    """The beta annotation wins over spec.storageClassName, as everywhere upstream."""
    beta = annotations_of(claim).get(ANN_BETA_STORAGE_CLASS)
    if beta is not None:
        return beta
    return str(spec(claim).get("storageClassName") or "")


def volume_class(volume: Mapping[str, Any]) -> str:
    beta = annotations_of(volume).get(ANN_BETA_STORAGE_CLASS)
    if beta is not None:
        return beta
    return str(spec(volume).get("storageClassName") or "")


def is_fully_bound(claim: Mapping[str, Any]) -> bool:
    return bool(spec(claim).get("volumeName")) and ANN_BIND_COMPLETED in annotations_of(claim)


def is_mutually_bound(claim: Mapping[str, Any], volume: Mapping[str, Any] | None) -> bool:
    """A claim naming a volume whose claimRef names the claim back: the state the PV
    controller completes with its annotations. pocketkube has no PV controller yet, so a
    user's pre-bound pair counts as bound."""
    if volume is None or not spec(claim).get("volumeName"):
        return False
    ref = spec(volume).get("claimRef") or {}
    meta = claim.get("metadata") or {}
    if (ref.get("namespace"), ref.get("name")) != (meta.get("namespace"), meta.get("name")):
        return False
    return not ref.get("uid") or ref.get("uid") == meta.get("uid")


def binds_late(storage_class: Mapping[str, Any] | None) -> bool:
    """WaitForFirstConsumer: the scheduler picks the volume. A missing class, or a class
    without a mode, binds immediately (the API server defaults the mode to Immediate)."""
    return (storage_class or {}).get("volumeBindingMode") == WAIT_FOR_FIRST_CONSUMER


def can_provision(storage_class: Mapping[str, Any] | None) -> bool:
    provisioner = (storage_class or {}).get("provisioner") or ""
    return bool(provisioner) and provisioner != NO_PROVISIONER


def _quantity(value: Any) -> Fraction:
    if value is None:
        return Fraction(0)
    try:
        return parse_quantity(value)
    except QuantityError:
        return Fraction(0)


def storage_request(claim: Mapping[str, Any]) -> Fraction:
    requests = (spec(claim).get("resources") or {}).get("requests") or {}
    return _quantity(requests.get("storage"))


def volume_capacity(volume: Mapping[str, Any]) -> Fraction:
    return _quantity((spec(volume).get("capacity") or {}).get("storage"))


def is_volume_bound_to_claim(volume: Mapping[str, Any], claim: Mapping[str, Any]) -> bool:
    """Pre-bound or bound to this claim: same namespace and name, and same uid when set."""
    ref = spec(volume).get("claimRef")
    if not ref:
        return False
    if ref.get("name") != name_of(claim) or ref.get("namespace") != meta(claim).get("namespace"):
        return False
    return not ref.get("uid") or ref.get("uid") == meta(claim).get("uid")


def claim_reference(claim: Mapping[str, Any]) -> Obj:
    """The ObjectReference the PV controller writes into a volume's spec.claimRef."""
    claim_meta = meta(claim)
    return {
        "kind": "PersistentVolumeClaim",
        "apiVersion": "v1",
        "namespace": claim_meta.get("namespace", ""),
        "name": claim_meta.get("name", ""),
        "uid": claim_meta.get("uid", ""),
        "resourceVersion": claim_meta.get("resourceVersion", ""),
    }


def volume_node_selector(volume: Mapping[str, Any]) -> NodeSelector | None:
    """The PV's spec.nodeAffinity.required, parsed; None when the volume fits every node."""
    required = (spec(volume).get("nodeAffinity") or {}).get("required")
    if required is None:
        return None
    return NodeSelector(required)


def topology_allows(terms: Iterable[Mapping[str, Any]] | None, labels: Mapping[str, str]) -> bool:
    """A StorageClass's allowedTopologies: no terms allow every node; an empty term none."""
    term_list = list(terms or ())
    if not term_list:
        return True
    for term in term_list:
        expressions = term.get("matchLabelExpressions") or []
        if expressions and all(
            expr.get("key") in labels and labels[expr["key"]] in (expr.get("values") or ())
            for expr in expressions
        ):
            return True
    return False


# -- matching unbound claims with volumes ------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Candidate:
    """A volume an unbound claim might take, with what matching needs parsed once."""

    volume: Obj
    name: str
    capacity: Fraction
    node_selector: NodeSelector | None

    @classmethod
    def of(cls, volume: Obj) -> Candidate:
        return cls(volume, name_of(volume), volume_capacity(volume), volume_node_selector(volume))

    def fits(self, node: Mapping[str, Any]) -> bool:
        return self.node_selector is None or self.node_selector.matches(node)


def _available(volume: Mapping[str, Any]) -> bool:
    """Upstream only offers volumes the PV controller marked Available. pocketkube has no PV
    controller yet, so a volume no controller has looked at (no phase, or Pending) counts too."""
    return (volume.get("status") or {}).get("phase") in (None, "", "Pending", "Available")


def find_matching_volume(
    claim: Mapping[str, Any],
    selector: LabelSelector | None,
    candidates: Iterable[Candidate],
    node: Mapping[str, Any],
    excluded: set[str],
) -> Candidate | None:
    """The volume pre-bound to ``claim`` if it fits the node, else the smallest that fits."""
    requested = storage_request(claim)
    requested_class = claim_class(claim)
    claim_spec = spec(claim)
    mode = claim_spec.get("volumeMode") or "Filesystem"
    access_modes = claim_spec.get("accessModes") or ()
    best: Candidate | None = None
    for candidate in candidates:
        volume = candidate.volume
        volume_spec = spec(volume)
        if candidate.name in excluded:
            continue
        bound_here = is_volume_bound_to_claim(volume, claim)
        if volume_spec.get("claimRef") and not bound_here:
            continue
        if candidate.capacity < requested:
            continue
        if (volume_spec.get("volumeMode") or "Filesystem") != mode:
            continue
        if meta(volume).get("deletionTimestamp"):
            continue
        fits = candidate.fits(node)
        if bound_here:
            return candidate if fits else None
        if not _available(volume):
            continue
        if selector is not None and not selector.matches(meta(volume).get("labels") or {}):
            continue
        if volume_class(volume) != requested_class or not fits:
            continue
        if not set(access_modes) <= set(volume_spec.get("accessModes") or ()):
            continue
        if best is None or candidate.capacity < best.capacity:
            best = candidate
    return best


# -- writing bindings: the PersistentVolume controller's binding half ---------------------------
class BindError(Exception):
    """A binding the API state no longer allows; the scheduler retries the pod."""


def volume_path(name: str) -> str:
    return f"/api/v1/persistentvolumes/{name}"


def claim_path(claim: Mapping[str, Any]) -> str:
    claim_meta = meta(claim)
    return f"/api/v1/namespaces/{claim_meta.get('namespace', '')}/persistentvolumeclaims/" + str(
        claim_meta.get("name", "")
    )


class VolumeBinder:
    """Writes one pod's volume bindings through the API client (duck-typed: ``get`` and
    ``patch(path, patch, patch_type=...)``, errors raised). Objects are re-read before each
    write because the informers may not show this scheduler's own earlier writes yet."""

    def __init__(self, *, client: Any, volumes: Any, node: Mapping[str, Any] | None) -> None:
        self.client = client
        self.volumes = volumes  # the PersistentVolume lister
        self.node = node

    async def bind(self, claim: Mapping[str, Any], volume_name: str) -> None:
        """Bind ``claim`` to the volume Filter chose for it."""
        fresh_claim = await self.client.get(claim_path(claim))
        current = spec(fresh_claim).get("volumeName")
        if current and current != volume_name:
            raise BindError(
                f'persistentvolumeclaim "{name_of(claim)}" is already bound to '
                f'persistentvolume "{current}"'
            )
        volume = await self.client.get(volume_path(volume_name))
        if spec(volume).get("claimRef") and not is_volume_bound_to_claim(volume, fresh_claim):
            raise BindError(f'persistentvolume "{volume_name}" is already bound to another claim')
        await self._complete(volume, fresh_claim)

    async def select_node(self, claim: Mapping[str, Any], node_name: str) -> None:
        """Ask the class's provisioner for a volume reachable from ``node_name``."""
        patch = {"metadata": {"annotations": {ANN_SELECTED_NODE: node_name}}}
        await self.client.patch(claim_path(claim), patch, patch_type="merge")

    async def provisioned(self, claim: Mapping[str, Any], node_name: str) -> bool:
        """Whether the provisioned claim is bound now, binding it once its volume exists."""
        fresh = await self.client.get(claim_path(claim))
        if annotations_of(fresh).get(ANN_SELECTED_NODE) != node_name:
            # A provisioner that gives up removes the annotation to have the pod rescheduled.
            raise BindError(f'binding volumes: provisioning failed for PVC "{name_of(claim)}"')
        if is_fully_bound(fresh):
            return True
        volume = self._provisioned_volume(fresh)
        if volume is None:
            return False
        selector = volume_node_selector(volume)
        if self.node is not None and selector is not None and not selector.matches(self.node):
            raise BindError(
                f'binding volumes: pv "{name_of(volume)}" node affinity doesn\'t match node '
                f'"{name_of(self.node)}": no matching NodeSelectorTerms'
            )
        await self._complete(await self.client.get(volume_path(name_of(volume))), fresh)
        return True

    def _provisioned_volume(self, claim: Mapping[str, Any]) -> Obj | None:
        volume_name = spec(claim).get("volumeName")
        if volume_name:
            found: Obj | None = self.volumes.get(str(volume_name))
            return found
        uid = meta(claim).get("uid")
        for volume in self.volumes.list():
            ref = spec(volume).get("claimRef") or {}
            if uid and ref.get("uid") == uid and is_volume_bound_to_claim(volume, claim):
                return dict(volume)
        return None

    async def _complete(self, volume: Obj, claim: Obj) -> None:
        """The volume's claimRef and phase, then the claim's volumeName and phase."""
        name, path = name_of(volume), volume_path(name_of(volume))
        ref = spec(volume).get("claimRef") or {}
        if not is_volume_bound_to_claim(volume, claim) or ref.get("uid") != meta(claim).get("uid"):
            volume_meta: Obj = {}
            if meta(volume).get("resourceVersion"):  # a conflict if someone else bound it since
                volume_meta["resourceVersion"] = meta(volume)["resourceVersion"]
            if not is_volume_bound_to_claim(volume, claim) and (
                ANN_BOUND_BY_CONTROLLER not in annotations_of(volume)
            ):
                volume_meta["annotations"] = {ANN_BOUND_BY_CONTROLLER: "yes"}
            patch = {"metadata": volume_meta, "spec": {"claimRef": claim_reference(claim)}}
            volume = await self.client.patch(path, patch, patch_type="merge")
        if (volume.get("status") or {}).get("phase") != "Bound":
            status = {"status": {"phase": "Bound"}}
            await self.client.patch(f"{path}/status", status, patch_type="merge")
        if spec(claim).get("volumeName") != name or ANN_BIND_COMPLETED not in annotations_of(claim):
            claim_annotations = {ANN_BIND_COMPLETED: "yes"}
            if not spec(claim).get("volumeName"):
                claim_annotations[ANN_BOUND_BY_CONTROLLER] = "yes"
            patch = {"metadata": {"annotations": claim_annotations}, "spec": {"volumeName": name}}
            await self.client.patch(claim_path(claim), patch, patch_type="merge")
        if (claim.get("status") or {}).get("phase") != "Bound":
            claim_status = {
                "phase": "Bound",
                "accessModes": list(spec(volume).get("accessModes") or ()),
                "capacity": dict(spec(volume).get("capacity") or {}),
            }
            patch = {"status": claim_status}
            await self.client.patch(f"{claim_path(claim)}/status", patch, patch_type="merge")
