"""Container probes: how the kubelet learns that a container is alive, ready and started.

Kubernetes' probes (pkg/kubelet/prober, pkg/probe upstream). Each container may declare a
startup, a readiness and a liveness probe, each one of four mechanisms: ``exec`` (a command run
in the container through the runtime), ``httpGet``, ``tcpSocket`` and ``grpc`` (the gRPC health
protocol), all aimed at the pod's IP from the node. Built as upstream builds it:

- ``manager.ProberManager`` keeps one ``worker.Worker`` per declared probe, fills the ``ready``
  and ``started`` flags of the pod's status, and calls the kubelet back when a liveness or startup
  probe fails (kill and restart the container) or when readiness or startup changes (sync the
  status: the Ready condition takes the pod in and out of its services' endpoints);
- ``worker.Worker`` is the per-probe state machine (initial delay, period, thresholds, startup
  gating, a fresh start for every new container);
- ``prober.Prober`` runs one probe through its mechanism (``execprobe``, ``httpprobe``,
  ``tcpprobe``, ``grpcprobe``) and records the ``Unhealthy``/``ProbeWarning`` events;
- ``results.ResultsCache`` holds the latest result per container ID; ``fake`` has fakes.
"""

from pocketkube.kubelet.prober.manager import FailureCallback, PodProber, ProberManager
from pocketkube.kubelet.prober.results import Result
from pocketkube.kubelet.prober.spec import ProbeType
from pocketkube.kubelet.prober.worker import StatusSource

__all__ = [
    "FailureCallback",
    "PodProber",
    "ProbeType",
    "ProberManager",
    "Result",
    "StatusSource",
]
