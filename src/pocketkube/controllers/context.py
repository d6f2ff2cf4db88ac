"""What a controller is built from: the process's options, client, shared informers and event
recorders.

``Options`` holds kube-controller-manager's flags (upstream names and defaults, durations in
seconds); ``Context`` is handed to each controller's factory (``build(ctx)`` in the
controller's module), which asks it for informers (shared: one watch per view for the process)
and for an event recorder under the controller's upstream component name (``kubectl describe``
shows it as *From*, e.g. ``deployment-controller``). The manager runs the informers and the
recorders beside the controllers.
"""

from __future__ import annotations

import datetime as dt
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from pocketkube.client.clock import Clock
from pocketkube.client.events import EventRecorder, EventType
from pocketkube.client.rest import Obj
from pocketkube.controllers.base import ApiClient
from pocketkube.controllers.informers import SharedInformers

DEFAULT_SIGNING_DURATION = dt.timedelta(hours=8760)  # --cluster-signing-duration


class ConfigError(ValueError):
    """A bad flag: the command reports it as a usage error."""


@dataclass(frozen=True, kw_only=True)
class Options:
    """kube-controller-manager's flags; durations in seconds."""

    controllers: tuple[str, ...] = ("*",)
    # csrsigning
    cluster_signing_cert_file: Path | None = None
    cluster_signing_key_file: Path | None = None
    cluster_signing_duration: dt.timedelta = DEFAULT_SIGNING_DURATION
    # leader election (a Lease in kube-system)
    leader_elect: bool = True
    leader_elect_lease_duration: float = 15.0
    leader_elect_renew_deadline: float = 10.0
    leader_elect_retry_period: float = 2.0
    leader_elect_resource_name: str = "kube-controller-manager"
    leader_elect_resource_namespace: str = "kube-system"
    # node lifecycle
    node_monitor_period: float = 5.0
    node_monitor_grace_period: float = 50.0
    node_startup_grace_period: float = 60.0
    node_eviction_rate: float = 0.1
    secondary_node_eviction_rate: float = 0.01
    large_cluster_size_threshold: int = 50
    unhealthy_zone_threshold: float = 0.55
    # pod GC
    terminated_pod_gc_threshold: int = 12500
    # serviceaccount / root CA publisher
    root_ca_file: Path | None = None
    # node IPAM
    allocate_node_cidrs: bool = False
    cluster_cidr: str = ""
    node_cidr_mask_size: int = 24
    service_cluster_ip_range: str = ""
    # workers per controller (upstream's --concurrent-*-syncs)
    concurrent_deployment_syncs: int = 5
    concurrent_replicaset_syncs: int = 5
    concurrent_rc_syncs: int = 5
    concurrent_endpoint_syncs: int = 5
    concurrent_service_endpoint_syncs: int = 5
    concurrent_gc_syncs: int = 20
    concurrent_namespace_syncs: int = 10
    concurrent_job_syncs: int = 5
    concurrent_cron_job_syncs: int = 5
    concurrent_daemonset_syncs: int = 2
    concurrent_statefulset_syncs: int = 5
    concurrent_serviceaccount_syncs: int = 1
    concurrent_ttl_after_finished_syncs: int = 5
    concurrent_resource_quota_syncs: int = 5
    concurrent_disruption_syncs: int = 1
    # endpointslice / endpointslicemirroring
    max_endpoints_per_slice: int = 100
    mirroring_concurrent_service_endpoint_syncs: int = 5
    mirroring_max_endpoints_per_subset: int = 1000


class Recorder(Protocol):
    """What controllers record events with; ``client.events.EventRecorder`` is one."""

    def post(
        self,
        regarding: Obj,
        *,
        type: EventType,
        reason: str,
        action: str,
        note: str,
        related: Obj | None = None,
    ) -> None: ...


@dataclass(kw_only=True)
class Context:
    """What a controller is built from."""

    client: ApiClient
    informers: SharedInformers
    options: Options
    clock: Clock | None = None
    instance: str = field(default_factory=socket.gethostname)
    recorders: dict[str, EventRecorder] = field(default_factory=dict)

    def recorder(self, component: str) -> EventRecorder:
        """The event recorder reporting as ``component`` (one per name, run by the manager)."""
        recorder = self.recorders.get(component)
        if recorder is None:
            recorder = EventRecorder(
                client=self.client,
                reporting_controller=component,
                reporting_instance=self.instance,
            )
            self.recorders[component] = recorder
        return recorder
