"""Port-forward: a TCP connection to a port of a pod, from inside the pod's network.

As containerd does for ``kubectl port-forward``, the connection is made to ``localhost:<port>``
*inside the pod's network namespace*, so a server that listens only on the pod's loopback is
reached too: the sockets are created by a short-lived thread that has entered the namespace
(``setns`` changes only the calling thread's namespace, and a socket stays in the namespace it
was created in), then connected from the event loop. IPv4 is tried first, then IPv6, and a
failure is reported in containerd's words, which kubectl shows on its error stream::

    failed to execute portforward in network namespace "/run/netns/pk-…": failed to connect
    to localhost:8080 inside namespace "<sandbox id>", IPv4: dial tcp4 127.0.0.1:8080:
    connect: connection refused IPv6 dial tcp6 [::1]:8080: connect: connection refused

A pod on the host's network (and every pod when the runtime is not root) is reached on the
host's loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import threading

from pocketkube.runtime import cri
from pocketkube.runtime.process.shimchild import StartError, enter_netns

TARGETS = ((socket.AF_INET, "127.0.0.1", "tcp4"), (socket.AF_INET6, "::1", "tcp6"))
CONNECT_TIMEOUT = 10.0


def _go_error(err: OSError) -> str:
    """An errno's text as Go's syscall package spells it (lower case)."""
    text = os.strerror(err.errno) if err.errno else str(err)
    return text[:1].lower() + text[1:]


def _sockets_in(netns_path: str) -> list[socket.socket | OSError]:
    """One TCP socket per address family, created inside the namespace (or the error)."""
    made: list[socket.socket | OSError] = []
    failure: list[BaseException] = []

    def work() -> None:
        try:
            if netns_path:
                enter_netns(netns_path)  # this thread only; it ends right after
            for family, _, _ in TARGETS:
                try:
                    made.append(socket.socket(family, socket.SOCK_STREAM))
                except OSError as err:
                    made.append(err)
        except BaseException as err:  # reported by the caller's thread
            failure.append(err)

    thread = threading.Thread(target=work, name="pk-portforward-netns", daemon=True)
    thread.start()
    thread.join()
    if failure:
        for item in made:
            if isinstance(item, socket.socket):
                item.close()
        raise failure[0]
    return made


async def _connect(sock: socket.socket, host: str, port: int) -> None:
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    async with asyncio.timeout(CONNECT_TIMEOUT):
        await loop.sock_connect(sock, (host, port))


async def connect(
    *, sandbox_id: str, netns_path: str, port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to ``localhost:port`` in the sandbox's network (the host's when
    ``netns_path`` is empty); raises ``cri.RuntimeError_`` in containerd's words."""
    where = netns_path or "host"
    if not 0 < port < 65536:
        raise cri.RuntimeError_("InvalidArgument", f"invalid port {port}")
    try:
        sockets = await asyncio.to_thread(_sockets_in, netns_path)
    except (StartError, OSError) as err:
        raise cri.RuntimeError_(
            "Unknown", f'failed to execute portforward in network namespace "{where}": {err}'
        ) from None
    errors: list[str] = []
    chosen: socket.socket | None = None
    try:
        for (_, host, network), sock in zip(TARGETS, sockets, strict=True):
            shown = f"[{host}]" if ":" in host else host
            if isinstance(sock, OSError):
                errors.append(f"dial {network} {shown}:{port}: socket: {_go_error(sock)}")
                continue
            try:
                await _connect(sock, host, port)
            except TimeoutError:
                errors.append(f"dial {network} {shown}:{port}: i/o timeout")
                continue
            except OSError as err:
                errors.append(f"dial {network} {shown}:{port}: connect: {_go_error(err)}")
                continue
            chosen = sock
            return await asyncio.open_connection(sock=sock)
    except BaseException:
        chosen = None  # not handed over: closed with the rest
        raise
    finally:
        for other in sockets:
            if isinstance(other, socket.socket) and other is not chosen:
                with contextlib.suppress(OSError):
                    other.close()
    raise cri.RuntimeError_(
        "Unknown",
        f'failed to execute portforward in network namespace "{where}": failed to connect to '
        f'localhost:{port} inside namespace "{sandbox_id}", IPv4: {errors[0]} IPv6 {errors[1]} ',
    )
