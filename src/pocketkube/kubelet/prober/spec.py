"""A container's probe as the prober reads it: the API's ``Probe`` dict with its defaults applied.

The API server defaults every field (periodSeconds 10, timeoutSeconds 1, successThreshold 1,
failureThreshold 3), but the kubelet also runs pods it was handed directly in tests, so missing
fields get the same defaults here instead of failing. Ports resolve as upstream's
``probe.ResolveContainerPort`` does: a number, or the name of one of the container's ports, or as
a last resort a number written as a string — with Go's error text when none of those works.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from pocketkube.kubelet.prober.outcome import ProbeError

Obj = dict[str, Any]

HANDLERS = ("exec", "httpGet", "tcpSocket", "grpc")


class ProbeType(enum.Enum):
    """The value is the word events start with (``Liveness probe failed: ...``)."""

    LIVENESS = "Liveness"
    READINESS = "Readiness"
    STARTUP = "Startup"

    @property
    def field(self) -> str:
        """The container field holding this probe (``livenessProbe``...)."""
        return f"{self.value.lower()}Probe"


@dataclass(frozen=True, kw_only=True)
class ProbeSpec:
    handler: str  # one of HANDLERS, or "" when the probe names none
    action: Obj  # the handler's own fields, e.g. {"path": "/healthz", "port": 8080}
    initial_delay: float = 0
    period: float = 10
    timeout: float = 1
    success_threshold: int = 1
    failure_threshold: int = 3
    # Probe-level terminationGracePeriodSeconds: the grace period of the kill a liveness or
    # startup failure causes (None: the pod's).
    termination_grace_period: int | None = None


def _positive(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) and value > 0 else default


def parse_probe(probe: Obj) -> ProbeSpec:
    handler = next((name for name in HANDLERS if probe.get(name) is not None), "")
    grace = probe.get("terminationGracePeriodSeconds")
    return ProbeSpec(
        handler=handler,
        action=dict(probe.get(handler) or {}) if handler else {},
        initial_delay=max(float(probe.get("initialDelaySeconds") or 0), 0.0),
        period=_positive(probe.get("periodSeconds"), 10),
        timeout=_positive(probe.get("timeoutSeconds"), 1),
        success_threshold=int(_positive(probe.get("successThreshold"), 1)),
        failure_threshold=int(_positive(probe.get("failureThreshold"), 3)),
        termination_grace_period=int(grace) if isinstance(grace, int) else None,
    )


def container_probe(container: Obj, probe_type: ProbeType) -> ProbeSpec | None:
    probe = container.get(probe_type.field)
    return parse_probe(probe) if isinstance(probe, dict) else None


def resolve_port(port: Any, container: Obj) -> int:
    """A probe's or hook's ``port`` (number or port name) as a number; ``ProbeError`` with
    upstream's wording when it names nothing usable."""
    number: int
    if isinstance(port, bool) or not isinstance(port, int | str):
        raise ProbeError(f"intOrString had no kind: {port!r}")
    if isinstance(port, int):
        number = port
    else:
        named = [p for p in container.get("ports") or [] if p.get("name") == port]
        if named:
            number = int(named[0].get("containerPort") or 0)
        else:
            try:
                number = int(port, 10)
            except ValueError:
                raise ProbeError(f'strconv.Atoi: parsing "{port}": invalid syntax') from None
    if 0 < number < 65536:
        return number
    raise ProbeError(f"invalid port number: {number}")
