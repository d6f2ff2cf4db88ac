"""The default node name, shared by ``pocketkube server`` and ``pocketkube kubelet``.

Its own module so that starting the kubelet does not import the API server.
"""

from __future__ import annotations

import socket


def default_node_name() -> str:
    """The host's name, lowercased, as the kubelet names its node by default."""
    return socket.gethostname().lower()
