"""``/metrics``: a few of upstream's kubelet metrics in the Prometheus text format."""

from __future__ import annotations

from collections.abc import Sequence

from pocketkube.client.rest import Obj


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def kubelet_metrics(node_name: str, pods: Sequence[Obj]) -> str:
    running = [p for p in pods if (p.get("status") or {}).get("phase") == "Running"]
    containers = sum(
        1
        for p in running
        for s in (p.get("status") or {}).get("containerStatuses") or []
        if "running" in (s.get("state") or {})
    )
    lines = [
        "# HELP kubelet_node_name [ALPHA] The node's name. The count is always 1.",
        "# TYPE kubelet_node_name gauge",
        f'kubelet_node_name{{node="{_escape(node_name)}"}} 1',
        "# HELP kubelet_running_pods [ALPHA] Number of pods that have a running pod sandbox",
        "# TYPE kubelet_running_pods gauge",
        f"kubelet_running_pods {len(running)}",
        "# HELP kubelet_running_containers [ALPHA] Number of containers currently running",
        "# TYPE kubelet_running_containers gauge",
        f'kubelet_running_containers{{container_state="running"}} {containers}',
    ]
    return "\n".join(lines) + "\n"
