"""What one probe mechanism reports: a result, and the text a user reads in the ``Unhealthy`` event.

Upstream's mechanisms (pkg/probe: exec, http, tcp, grpc) all return ``(Result, output, error)``:
the result is success, warning (an HTTP redirect to another host: success, but worth an event),
failure or unknown, and ``output`` is the command output or the Go error text
(``HTTP probe failed with statuscode: 500``, ``dial tcp 10.42.0.5:8080: connect: connection
refused``). An *error* is different from a failure: the probe could not even be attempted (a
named port the container does not declare, the runtime refused the exec), so the prober retries
it and the worker throws the result away instead of counting it towards a threshold. Here a
mechanism returns a ``ProbeOutput`` and raises ``ProbeError`` for the second kind.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Outcome(enum.Enum):
    """pkg/probe's Result: the values are upstream's strings (they appear in event notes)."""

    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class ProbeOutput:
    outcome: Outcome
    output: str = ""


class ProbeError(Exception):
    """The probe could not be run; the message is what ``Liveness probe errored ...`` shows."""


MAX_OUTPUT = 10 * 1024  # upstream reads at most 10 KiB of exec output or an HTTP body


def truncate(data: bytes) -> str:
    """At most ``MAX_OUTPUT`` bytes of what a probe read, as text."""
    return data[:MAX_OUTPUT].decode("utf-8", errors="replace")
