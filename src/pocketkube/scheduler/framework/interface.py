"""The extension points, one small Protocol each (upstream's framework/interface.go).

A plugin is an object with a ``name`` and the methods of the points it extends; the framework
looks the methods up once when it builds a profile. Filter and Score run for many nodes per
pod, so they are plain functions of the cycle state, the pod and one node; points that talk to
the API (PostFilter for preemption, PreBind, Bind) are coroutines.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Flag, auto
from typing import Any, Literal, Protocol

from pocketkube.scheduler.framework.cyclestate import CycleState
from pocketkube.scheduler.framework.status import Status
from pocketkube.scheduler.framework.types import NodeInfo, PodInfo

MAX_NODE_SCORE = 100
MIN_NODE_SCORE = 0
MAX_TOTAL_SCORE = 2**63 - 1


@dataclass(slots=True)
class NodeScore:
    name: str
    score: int


@dataclass(slots=True)
class PreFilterResult:
    """Nodes a PreFilter already knows are the only candidates (None: all nodes)."""

    node_names: set[str] | None = None

    def merge(self, other: PreFilterResult | None) -> PreFilterResult:
        if other is None or other.node_names is None:
            return self
        if self.node_names is None:
            return PreFilterResult(set(other.node_names))
        return PreFilterResult(self.node_names & other.node_names)


@dataclass(slots=True)
class PostFilterResult:
    nominated_node_name: str = ""


class ActionType(Flag):
    ADD = auto()
    DELETE = auto()
    UPDATE = auto()
    ALL = ADD | DELETE | UPDATE


@dataclass(frozen=True, slots=True)
class ClusterEvent:
    """A change in the cluster that may make a rejected pod schedulable."""

    resource: str  # "Node", "Pod" (assigned pods), "PersistentVolume", ...
    action: ActionType
    label: str = ""

    def covers(self, other: ClusterEvent) -> bool:
        return (self.resource in ("*", other.resource)) and bool(self.action & other.action)


@dataclass(slots=True)
class QueuedPodInfo:
    """A pod waiting in the scheduling queue, with its history there."""

    pod_info: PodInfo
    timestamp: float
    attempts: int = 0
    initial_attempt_timestamp: float | None = None
    unschedulable_plugins: set[str] = field(default_factory=set)
    pending_plugins: set[str] = field(default_factory=set)
    gated: bool = False

    @property
    def pod(self) -> dict[str, Any]:
        return self.pod_info.pod


class Snapshot(Protocol):
    """The cluster as one scheduling cycle sees it: nodes and the pods on them."""

    def list(self) -> Sequence[NodeInfo]: ...

    def get(self, node_name: str) -> NodeInfo | None: ...

    def have_pods_with_affinity(self) -> Sequence[NodeInfo]: ...

    def have_pods_with_required_anti_affinity(self) -> Sequence[NodeInfo]: ...

    @property
    def image_names(self) -> Collection[str]:
        """Every (normalized) image name some node reports."""
        ...

    @property
    def prefer_no_schedule_nodes(self) -> int:
        """How many nodes carry a PreferNoSchedule taint."""
        ...


class Lister(Protocol):
    """Read access to objects the scheduler's informers hold (``namespace/name`` keys)."""

    def get(self, key: str) -> dict[str, Any] | None: ...

    def list(self) -> list[dict[str, Any]]: ...


class EventPoster(Protocol):
    """Queues an events.k8s.io/v1 Event about an object; never blocks, never raises."""

    def post(
        self,
        regarding: dict[str, Any],
        *,
        type: Literal["Normal", "Warning"],
        reason: str,
        action: str,
        note: str,
        related: dict[str, Any] | None = None,
    ) -> None: ...


class Handle(Protocol):
    """What plugins may use beyond their arguments (upstream's framework.Handle)."""

    @property
    def snapshot(self) -> Snapshot: ...

    @property
    def client(self) -> Any: ...

    @property
    def recorder(self) -> EventPoster: ...

    def lister(self, resource: str) -> Lister: ...

    def framework(self) -> Any:
        """The profile's Framework, for plugins that rerun filters (preemption)."""
        ...

    def nominated_pods_for_node(self, node_name: str) -> list[PodInfo]: ...


class Plugin(Protocol):
    name: str


class PreEnqueuePlugin(Plugin, Protocol):
    def pre_enqueue(self, pod: PodInfo) -> Status | None: ...


class QueueSortPlugin(Plugin, Protocol):
    def less(self, a: QueuedPodInfo, b: QueuedPodInfo) -> bool: ...


class PreFilterPlugin(Plugin, Protocol):
    def pre_filter(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> tuple[PreFilterResult | None, Status | None]: ...


class PreFilterExtensions(Protocol):
    """Incremental updates of PreFilter state when preemption adds or removes a pod."""

    def add_pod(
        self, state: CycleState, pod: PodInfo, to_add: PodInfo, node: NodeInfo
    ) -> Status | None: ...

    def remove_pod(
        self, state: CycleState, pod: PodInfo, to_remove: PodInfo, node: NodeInfo
    ) -> Status | None: ...


class FilterPlugin(Plugin, Protocol):
    def filter(self, state: CycleState, pod: PodInfo, node: NodeInfo) -> Status | None: ...


class PostFilterPlugin(Plugin, Protocol):
    async def post_filter(
        self, state: CycleState, pod: PodInfo, statuses: Mapping[str, Status]
    ) -> tuple[PostFilterResult | None, Status]: ...


class PreScorePlugin(Plugin, Protocol):
    def pre_score(
        self, state: CycleState, pod: PodInfo, nodes: Sequence[NodeInfo]
    ) -> Status | None: ...


class ScorePlugin(Plugin, Protocol):
    def score(
        self, state: CycleState, pod: PodInfo, node: NodeInfo
    ) -> tuple[int, Status | None]: ...


class ScoreExtensions(Protocol):
    def normalize_score(
        self, state: CycleState, pod: PodInfo, scores: list[NodeScore]
    ) -> Status | None: ...


class ReservePlugin(Plugin, Protocol):
    def reserve(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None: ...

    def unreserve(self, state: CycleState, pod: PodInfo, node_name: str) -> None: ...


class PermitPlugin(Plugin, Protocol):
    def permit(
        self, state: CycleState, pod: PodInfo, node_name: str
    ) -> tuple[Status | None, float]: ...


class PreBindPlugin(Plugin, Protocol):
    async def pre_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None: ...


class BindPlugin(Plugin, Protocol):
    async def bind(self, state: CycleState, pod: PodInfo, node_name: str) -> Status | None: ...


class PostBindPlugin(Plugin, Protocol):
    def post_bind(self, state: CycleState, pod: PodInfo, node_name: str) -> None: ...


class EnqueueExtensions(Protocol):
    def events_to_register(self) -> list[ClusterEvent]: ...


PluginFactory = Callable[[Mapping[str, Any], Handle], Plugin]
