"""The kubelet's node side: the Node it registers, the status it keeps, the Lease it renews.

Upstream pkg/kubelet/kubelet_node_status.go, pkg/kubelet/nodestatus and the node lease
controller, in small modules:

- ``machineinfo``: the host's cores, memory, disk, hugepages and ids (cAdvisor's MachineInfo);
- ``capacity``: capacity and allocatable, written as canonical quantities;
- ``pressure``: eviction signals and the Memory/Disk/PID pressure verdicts;
- ``runtimeup``: the container runtime's readiness, as the Ready condition words it;
- ``setters`` and ``conditions``: one function per part of the status;
- ``registration``: the initial Node and the reconcile of an existing one;
- ``patch``: change detection and the minimal patches;
- ``status``: ``NodeStatusManager`` (register, periodic and on-demand updates);
- ``lease``: ``LeaseRenewer``, the heartbeat;
- ``fake``: an in-memory API, recorder and runtime status for unit tests.
"""

from pocketkube.kubelet.node.lease import LeaseRenewer
from pocketkube.kubelet.node.machineinfo import HostPaths, MachineInfo, host_machine_info
from pocketkube.kubelet.node.pressure import EvictionThresholds, HostSignals, read_host_signals
from pocketkube.kubelet.node.status import NodeStatusManager

__all__ = [
    "EvictionThresholds",
    "HostPaths",
    "HostSignals",
    "LeaseRenewer",
    "MachineInfo",
    "NodeStatusManager",
    "host_machine_info",
    "read_host_signals",
]
