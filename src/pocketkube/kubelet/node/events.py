"""The kubelet's events about its own node, worded as upstream words them.

``kubectl describe node`` lists events whose ``involvedObject`` is the node; the kubelet refers
to its node with the node's *name* as uid (upstream's ``nodeRef``, which kubectl mirrors when it
looks the events up), so the reference is built from the name alone and works before the Node
exists. Status changes read "Node <name> status is now: <reason>" (``recordNodeStatusEvent``).
"""

from __future__ import annotations

from pocketkube.kubelet.node.protocols import EventType, Obj, Recorder

STARTING = "Starting"
STARTING_NOTE = "Starting kubelet."
NODE_READY = "NodeReady"
NODE_NOT_READY = "NodeNotReady"
NODE_REBOOTED = "NodeRebooted"
NODE_SCHEDULABLE = "NodeSchedulable"
NODE_NOT_SCHEDULABLE = "NodeNotSchedulable"

# events.k8s.io/v1 wants an action; upstream's kubelet still uses the core/v1 recorder, which has
# none, so these name what the kubelet was doing when it noticed.
ACTION_START = "StartKubelet"
ACTION_STATUS = "NodeStatusUpdate"


def node_ref(node_name: str) -> Obj:
    """The object events about the node regard (uid = name, as upstream's nodeRef)."""
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": node_name, "uid": node_name}}


class NodeEvents:
    """Posts events about one node through a recorder."""

    def __init__(self, *, recorder: Recorder, node_name: str) -> None:
        self._recorder = recorder
        self.node_name = node_name
        self._ref = node_ref(node_name)

    def status(self, type: EventType, reason: str) -> None:
        """A node status change: "Node <name> status is now: <reason>"."""
        note = f"Node {self.node_name} status is now: {reason}"
        self.post(type, reason, note, action=ACTION_STATUS)

    def post(self, type: EventType, reason: str, note: str, *, action: str = ACTION_STATUS) -> None:
        self._recorder.post(self._ref, type=type, reason=reason, action=action, note=note)

    def starting(self) -> None:
        self.post("Normal", STARTING, STARTING_NOTE, action=ACTION_START)
