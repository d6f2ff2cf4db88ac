"""The kubelet's HTTPS server: logs, exec, attach, port-forward, pods, stats and metrics."""

from pocketkube.kubelet.server.app import DEFAULT_PORT, KubeletServer, TLSFiles
from pocketkube.kubelet.server.handlers import Host

__all__ = ["DEFAULT_PORT", "Host", "KubeletServer", "TLSFiles"]
