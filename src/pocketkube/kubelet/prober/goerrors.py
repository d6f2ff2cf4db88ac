"""Network errors worded as Go's net and net/http packages word them.

Users and tools grep events for upstream's texts (``connect: connection refused``, ``i/o
timeout``, ``context deadline exceeded (Client.Timeout exceeded while awaiting headers)``), and
runbooks quote them, so the probes and hooks report Python's socket errors in those words rather
than as ``ConnectionRefusedError(111, ...)``.
"""

from __future__ import annotations

import errno
import json
import ssl

# errno -> the text Go's syscall package prints for it (the ones a dial meets).
_ERRNO_TEXT = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset by peer",
    errno.EHOSTUNREACH: "no route to host",
    errno.ENETUNREACH: "network is unreachable",
    errno.ETIMEDOUT: "connection timed out",
    errno.EADDRNOTAVAIL: "cannot assign requested address",
    errno.EPIPE: "broken pipe",
}

HTTP_TO_HTTPS = "http: server gave HTTP response to HTTPS client"
CLIENT_TIMEOUT = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
BODY_TIMEOUT = (
    "context deadline exceeded (Client.Timeout or context cancellation while reading body)"
)


def join_host_port(host: str, port: int) -> str:
    """net.JoinHostPort: IPv6 literals in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def go_quote(text: str) -> str:
    """Go's ``%q`` for ordinary strings (a double-quoted, backslash-escaped literal)."""
    return json.dumps(text, ensure_ascii=False)


def go_duration(seconds: float) -> str:
    """time.Duration's String for the probe timeouts we print: ``1s``, ``1.5s``, ``500ms``."""
    if seconds >= 1 or seconds == 0:
        return f"{seconds:g}s"
    return f"{seconds * 1000:g}ms"


def os_error_text(err: OSError) -> str:
    if err.errno in _ERRNO_TEXT:
        return _ERRNO_TEXT[err.errno]
    return err.strerror.lower() if err.strerror else str(err)


def dial_error(addr: str, err: BaseException) -> str:
    """What ``net.Dial("tcp", addr)`` reports for a failed connect."""
    if isinstance(err, TimeoutError):
        return f"dial tcp {addr}: i/o timeout"
    if isinstance(err, OSError) and err.errno is not None:
        return f"dial tcp {addr}: connect: {os_error_text(err)}"
    return f"dial tcp {addr}: {err}"


_PLAIN_HTTP_MARKERS = ("WRONG_VERSION_NUMBER", "RECORD LAYER FAILURE", "HTTP_REQUEST")


def is_plain_http_reply(err: BaseException) -> bool:
    """A TLS handshake that met an HTTP server (Go: ``server gave HTTP response to HTTPS
    client``); the lifecycle hook retries those over HTTP, as upstream does."""
    if not isinstance(err, ssl.SSLError):
        return False
    text = f"{err.reason} {err}".upper()
    return any(marker in text for marker in _PLAIN_HTTP_MARKERS)
