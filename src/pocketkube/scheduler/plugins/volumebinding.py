"""VolumeBinding: schedule a pod where its claims' volumes can be, and bind them on the way.

A pod's claims are sorted in PreFilter: bound claims (their volume's node affinity must admit
the node), unbound WaitForFirstConsumer claims (the scheduler picks a volume, or lets the
class's provisioner create one on the chosen node) and unbound Immediate claims (the PV
controller should have bound them already: the pod waits). Filter matches, for each node, every
unbound claim with the smallest fitting volume; Reserve remembers those choices in memory so the
next pod, scheduled before the API shows the binding, cannot take the same volume; PreBind writes
the bindings.

pocketkube has no PersistentVolume controller yet, so PreBind also does the binding half of that
controller's work: it sets the volume's ``claimRef``, the claim's ``volumeName`` with the
``bind-completed``/``bound-by-controller`` annotations, and ``Bound`` phases on both, and for a
claim left to a provisioner it marks ``volume.kubernetes.io/selected-node``, waits (up to
``bindTimeoutSeconds``) for the provisioner's volume and binds it the same way. Every step is
idempotent, so a later PV controller doing the same finds nothing left to do.

Upstream's capacity-based scoring (StorageCapacityScoring) is off by default and not done here;
CSIStorageCapacity is not consulted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pocketkube.api.labels import LabelSelector, SelectorError, selector_from_label_selector
from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.interface import (
    ActionType,
    ClusterEvent,
    Handle,
    PreFilterResult,
)
from pocketkube.scheduler.framework.status import Status, error, skip, unresolvable
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo
from pocketkube.scheduler.plugins import volumehelpers as vh
from pocketkube.scheduler.plugins.nodehelpers import NodeSelector

NAME = "VolumeBinding"
STATE_KEY = "PreFilter" + NAME
DEFAULT_BIND_TIMEOUT_SECONDS = 600

ERR_BIND_CONFLICT = "node(s) didn't find available persistent volumes to bind"
ERR_NODE_CONFLICT = "node(s) had volume node affinity conflict"
ERR_PV_NOT_EXIST = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)"
ERR_UNBOUND_IMMEDIATE = "pod has unbound immediate PersistentVolumeClaims"

Obj = dict[str, Any]


@dataclass(slots=True)
class _BoundClaim:
    claim: Obj
    found: bool  # its volume exists
    node_selector: NodeSelector | None


@dataclass(slots=True)
class _PendingClaim:
    """An unbound WaitForFirstConsumer claim and what Filter needs to place it."""

    claim: Obj
    storage_class: Obj
    selector: LabelSelector | None
    selected_node: str | None
    candidates: list[vh.Candidate]


@dataclass(slots=True)
class PodVolumes:
    """What Filter decided for one node: volumes to bind, claims to provision there."""

    static: list[tuple[Obj, str]] = field(default_factory=list)  # (claim, volume name)
    provision: list[Obj] = field(default_factory=list)


@dataclass(slots=True)
class _State:
    bound: list[_BoundClaim] = field(default_factory=list)
    pending: list[_PendingClaim] = field(default_factory=list)
    by_node: dict[str, PodVolumes] = field(default_factory=dict)
    all_bound: bool = True

    def clone(self) -> _State:
        # Filter fills by_node for whichever copy runs; preemption's copies share it.
        return self


@dataclass(slots=True)
class _Assumed:
    """A choice Reserve made and the API does not show yet, and the pods relying on it."""

    value: Obj | str  # a volume's claimRef, or the node a claim is provisioned on
    pods: set[str]


class VolumeBinding:
    name = NAME

    def __init__(self, args: Mapping[str, Any], handle: Handle) -> None:
        timeout = args.get("bindTimeoutSeconds", DEFAULT_BIND_TIMEOUT_SECONDS)
        if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 0:
            raise ValueError(
                f"bindTimeoutSeconds: Invalid value: {timeout!r}: "
                "invalid BindTimeoutSeconds, should not be a negative value"
            )
        self.bind_timeout = float(timeout)
        self.poll_interval = 1.0
        self._handle = handle
        self._volumes: dict[str, _Assumed] = {}  # volume name → claimRef it is assumed bound to
        self._claims: dict[str, _Assumed] = {}  # claim key → node it is provisioned on

    # -- PreFilter -----------------------------------------------------------------------------
    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None]:
        claims_lister = self._handle.lister("persistentvolumeclaims")
        claims: dict[str, Obj] = {}
        for claim_name, ephemeral in vh.pod_claims(pod.pod):
            claim = claims_lister.get(f"{pod.namespace}/{claim_name}")
            problem = vh.claim_problem(pod.pod, claim_name, claim, ephemeral)
            if problem:
                return None, unresolvable(problem)
            assert claim is not None
            claims.setdefault(claim_name, claim)
        if not claims:
            state.write(STATE_KEY, _State())
            return None, skip()
        self._forget_visible()
        data = _State()
        classes = self._handle.lister("storageclasses")
        volumes = self._handle.lister("persistentvolumes")
        immediate = False
        late: list[tuple[Obj, Obj]] = []
        for claim in claims.values():
            named = volumes.get(str(vh.spec(claim).get("volumeName") or ""))
            if vh.is_fully_bound(claim) or vh.is_mutually_bound(claim, named):
                volume = named
                affinity = vh.volume_node_selector(volume) if volume is not None else None
                data.bound.append(_BoundClaim(claim, volume is not None, affinity))
                continue
            class_name = vh.claim_class(claim)
            storage_class = classes.get(class_name) if class_name else None
            if storage_class is None or not vh.binds_late(storage_class):
                immediate = True
            elif vh.spec(claim).get("volumeName"):
                immediate = True  # pre-bound by the user: the PV controller finishes it
            else:
                late.append((claim, storage_class))
        if immediate:
            return None, unresolvable(ERR_UNBOUND_IMMEDIATE)
        if late:
            by_class = self._candidates_by_class()
            late.sort(key=lambda pair: vh.storage_request(pair[0]))
            for claim, storage_class in late:
                try:
                    selector_obj = vh.spec(claim).get("selector")
                    selector = (
                        None if selector_obj is None else selector_from_label_selector(selector_obj)
                    )
                except SelectorError as exc:
                    key = vh.claim_key(claim)
                    return None, error(
                        f"error creating internal label selector for claim: {key}: {exc}"
                    )
                selected = vh.annotations_of(claim).get(vh.ANN_SELECTED_NODE)
                if selected is None and (assumed := self._claims.get(vh.claim_key(claim))):
                    selected = str(assumed.value)
                candidates = by_class.get(vh.claim_class(claim), [])
                data.pending.append(
                    _PendingClaim(claim, storage_class, selector, selected, candidates)
                )
        state.write(STATE_KEY, data)
        return None, None

    def _candidates_by_class(self) -> dict[str, list[vh.Candidate]]:
        """Every volume by class, seen as bound where Reserve assumed it bound."""
        result: dict[str, list[vh.Candidate]] = {}
        for volume in self._handle.lister("persistentvolumes").list():
            assumed = self._volumes.get(vh.name_of(volume))
            if assumed is not None:
                volume = {**volume, "spec": {**vh.spec(volume), "claimRef": assumed.value}}
            result.setdefault(vh.volume_class(volume), []).append(vh.Candidate.of(volume))
        return result

    def _forget_visible(self) -> None:
        """Drop assumptions the informers have caught up with (or that lost their object)."""
        volumes = self._handle.lister("persistentvolumes")
        for name, assumed in list(self._volumes.items()):
            volume = volumes.get(name)
            ref = vh.spec(volume or {}).get("claimRef") or {}
            wanted = assumed.value if isinstance(assumed.value, dict) else {}
            if volume is None or (
                ref.get("name") == wanted.get("name")
                and ref.get("namespace") == wanted.get("namespace")
            ):
                del self._volumes[name]
        claims = self._handle.lister("persistentvolumeclaims")
        for key, assumed in list(self._claims.items()):
            claim = claims.get(key)
            if claim is None or vh.annotations_of(claim).get(vh.ANN_SELECTED_NODE) == assumed.value:
                del self._claims[key]

    # -- Filter --------------------------------------------------------------------------------
    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None:
        data: _State | None = state.get(STATE_KEY)
        if data is None:
            return error(f'reading "{STATE_KEY}" from cycleState: not found')
        node_obj = node.node or {}
        node_conflict = pv_missing = False
        for bound in data.bound:
            if not bound.found:
                pv_missing = True
                break
            if bound.node_selector is not None and not bound.node_selector.matches(node_obj):
                node_conflict = True
                break
        result, bind_conflict = _place_pending(data.pending, node_obj, node.name)
        reasons = [
            reason
            for reason, failed in (
                (ERR_NODE_CONFLICT, node_conflict),
                (ERR_BIND_CONFLICT, bind_conflict),
                (ERR_PV_NOT_EXIST, pv_missing),
            )
            if failed
        ]
        if reasons:
            return unresolvable(*reasons)
        data.by_node[node.name] = result
        return None

    # -- Reserve -------------------------------------------------------------------------------
    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        data: _State | None = state.get(STATE_KEY)
        if data is None:
            return None
        volumes = data.by_node.get(node_name)
        data.all_bound = volumes is None or not (volumes.static or volumes.provision)
        if volumes is None:
            return None
        for claim, volume_name in volumes.static:
            assumed = self._volumes.get(volume_name)
            ref = vh.claim_reference(claim)
            if assumed is not None and not _same_claim(assumed.value, ref):
                self._release(pod.key, volumes)
                other = _ref_key(assumed.value)
                return error(f'volume "{volume_name}" is already assumed for claim "{other}"')
            self._volumes.setdefault(volume_name, _Assumed(ref, set())).pods.add(pod.key)
        for claim in volumes.provision:
            key = vh.claim_key(claim)
            assumed = self._claims.get(key)
            if assumed is not None and assumed.value != node_name:
                self._release(pod.key, volumes)
                return error(f'claim "{key}" is already assumed for node "{assumed.value}"')
            self._claims.setdefault(key, _Assumed(node_name, set())).pods.add(pod.key)
        return None

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None:
        data: _State | None = state.get(STATE_KEY)
        if data is None:
            return
        volumes = data.by_node.get(node_name)
        if volumes is not None:
            self._release(pod.key, volumes)

    def _release(self, pod_key: str, volumes: PodVolumes) -> None:
        for _, volume_name in volumes.static:
            _drop(self._volumes, volume_name, pod_key)
        for claim in volumes.provision:
            _drop(self._claims, vh.claim_key(claim), pod_key)

    def assumed_volumes(self) -> dict[str, str]:
        """Volume name → ``namespace/claim`` it is assumed bound to (for tests and debugging)."""
        return {name: _ref_key(a.value) for name, a in self._volumes.items()}

    # -- PreBind -------------------------------------------------------------------------------
    async def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None:
        data: _State | None = state.get(STATE_KEY)
        if data is None or data.all_bound:
            return None
        volumes = data.by_node.get(node_name)
        if volumes is None:
            return error(f'no pod volumes found for node "{node_name}"')
        if self._handle.client is None:
            return error("binding volumes: no API client")
        binder = vh.VolumeBinder(
            client=self._handle.client,
            volumes=self._handle.lister("persistentvolumes"),
            node=getattr(self._handle.snapshot.get(node_name), "node", None),
        )
        try:
            for claim, volume_name in volumes.static:
                await binder.bind(claim, volume_name)
            for claim in volumes.provision:
                await binder.select_node(claim, node_name)
            await self._wait_provisioned(binder, volumes.provision, node_name)
        except Exception as exc:  # the API refused or could not be reached: retry the pod
            return error(str(exc))
        return None

    async def _wait_provisioned(
        self, binder: vh.VolumeBinder, claims: list[Obj], node_name: str
    ) -> None:
        deadline = asyncio.get_running_loop().time() + self.bind_timeout
        waiting = list(claims)
        while waiting:
            waiting = [c for c in waiting if not await binder.provisioned(c, node_name)]
            if not waiting:
                return
            if asyncio.get_running_loop().time() >= deadline:
                raise TimeoutError("binding volumes: context deadline exceeded")
            await asyncio.sleep(self.poll_interval)

    def events_to_register(self) -> list[ClusterEvent]:
        # A class, claim or volume appearing or changing may offer a volume; a node appearing
        # or relabelled may satisfy a volume's node affinity or a class's allowedTopologies.
        add_or_update = ActionType.ADD | ActionType.UPDATE
        return [
            ClusterEvent("StorageClass", add_or_update),
            ClusterEvent("PersistentVolumeClaim", add_or_update),
            ClusterEvent("PersistentVolume", add_or_update),
            ClusterEvent("Node", add_or_update),
        ]


def _place_pending(
    pending: list[_PendingClaim], node: Mapping[str, Any], node_name: str
) -> tuple[PodVolumes, bool]:
    """What to do with the unbound claims on one node, and whether some claim cannot be
    placed there (upstream's FindPodVolumes for unbound claims)."""
    result = PodVolumes()
    to_provision: list[_PendingClaim] = []
    chosen: set[str] = set()
    for item in pending:
        if item.selected_node is not None:
            if item.selected_node != node_name:
                return result, True
            to_provision.append(item)
            continue
        match = vh.find_matching_volume(item.claim, item.selector, item.candidates, node, chosen)
        if match is None:
            to_provision.append(item)
        else:
            chosen.add(match.name)
            result.static.append((item.claim, match.name))
    for item in to_provision:
        if not vh.can_provision(item.storage_class):
            return result, True
        labels = (node.get("metadata") or {}).get("labels") or {}
        if not vh.topology_allows(item.storage_class.get("allowedTopologies"), labels):
            return result, True
        result.provision.append(item.claim)
    return result, False


def _same_claim(a: Obj | str, b: Obj) -> bool:
    return isinstance(a, dict) and _ref_key(a) == _ref_key(b) and a.get("uid") == b.get("uid")


def _ref_key(ref: Obj | str) -> str:
    if isinstance(ref, str):
        return ref
    return f"{ref.get('namespace', '')}/{ref.get('name', '')}"


def _drop(assumptions: dict[str, _Assumed], key: str, pod_key: str) -> None:
    assumed = assumptions.get(key)
    if assumed is not None:
        assumed.pods.discard(pod_key)
        if not assumed.pods:
            del assumptions[key]


def new(args: Mapping[str, Any], handle: Handle) -> VolumeBinding:
    return VolumeBinding(args, handle)
