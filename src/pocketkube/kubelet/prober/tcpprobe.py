"""The tcpSocket probe: success when a TCP connection to host:port opens within the timeout.

The connection is closed at once without sending anything, as upstream's ``DoTCPProbe`` does; a
refused or timed-out connect fails the probe with Go's dial error text.
"""

from __future__ import annotations

import asyncio
import contextlib

from pocketkube.kubelet.prober.goerrors import dial_error, join_host_port
from pocketkube.kubelet.prober.outcome import Outcome, ProbeOutput


async def tcp_probe(*, host: str, port: int, timeout_seconds: float) -> ProbeOutput:
    addr = join_host_port(host, port)
    try:
        async with asyncio.timeout(timeout_seconds):
            _, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError) as err:
        return ProbeOutput(Outcome.FAILURE, dial_error(addr, err))
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return ProbeOutput(Outcome.SUCCESS, "")
