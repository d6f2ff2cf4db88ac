"""Whether the container runtime is up: the errors that make the node NotReady.

Upstream's kubelet polls CRI ``Status`` (``updateRuntimeUp``) and keeps the answer in a
``runtimeState`` that the Ready condition reads. The same rules, with the same words, so that
``kubectl describe node`` explains a NotReady node as upstream does:

- before the first successful poll: "container runtime status check may not have completed yet"
  and, for the network, "network state unknown";
- no successful poll for ``sync_threshold`` seconds (30 s): "container runtime is down";
- ``RuntimeReady`` false or missing: "container runtime not ready: RuntimeReady=false reason:…
  message:…"; ``NetworkReady`` likewise "container runtime network not ready: …";
- a failing health check (the lead's PLEG, for one): "<name> is not healthy: <error>".

The runtime's ``notes`` (how pods run here, e.g. without root) travel to the Ready message.
"""

from __future__ import annotations

from collections.abc import Callable

from pocketkube.runtime import cri

RUNTIME_SYNC_THRESHOLD = 30.0  # upstream maxWaitForContainerRuntime
NOT_CHECKED = "container runtime status check may not have completed yet"
RUNTIME_DOWN = "container runtime is down"
NETWORK_UNKNOWN = "network state unknown"

HealthCheck = Callable[[], str | None]  # None when healthy, else why not


def describe(condition: cri.RuntimeCondition | None) -> str:
    """A runtime condition as upstream prints it (``RuntimeCondition.String``)."""
    if condition is None:
        return "<nil>"
    status = "true" if condition.status else "false"
    return f"{condition.type}={status} reason:{condition.reason} message:{condition.message}"


class RuntimeReadiness:
    """The runtime's last known state, fed by polls, read by the Ready condition."""

    def __init__(
        self, *, clock: Callable[[], float], sync_threshold: float = RUNTIME_SYNC_THRESHOLD
    ) -> None:
        self._clock = clock
        self._sync_threshold = sync_threshold
        self._last_sync: float | None = None
        self._runtime_error: str | None = None
        self._network_error: str | None = NETWORK_UNKNOWN
        self._health_checks: list[tuple[str, HealthCheck]] = []
        self.notes: tuple[str, ...] = ()

    def add_health_check(self, name: str, check: HealthCheck) -> None:
        self._health_checks.append((name, check))

    def record(self, status: cri.RuntimeStatus) -> None:
        """A successful ``Status`` call."""
        conditions = {condition.type: condition for condition in status.conditions}
        network = conditions.get("NetworkReady")
        runtime = conditions.get("RuntimeReady")
        self._network_error = (
            None
            if network is not None and network.status
            else f"container runtime network not ready: {describe(network)}"
        )
        self._runtime_error = (
            None
            if runtime is not None and runtime.status
            else f"container runtime not ready: {describe(runtime)}"
        )
        self.notes = status.notes
        self._last_sync = self._clock()

    def runtime_errors(self) -> list[str]:
        errors: list[str] = []
        if self._last_sync is None:
            errors.append(NOT_CHECKED)
        elif self._clock() - self._last_sync >= self._sync_threshold:
            errors.append(RUNTIME_DOWN)
        for name, check in self._health_checks:
            problem = check()
            if problem is not None:
                errors.append(f"{name} is not healthy: {problem}")
        if self._runtime_error is not None:
            errors.append(self._runtime_error)
        return errors

    def network_errors(self) -> list[str]:
        return [self._network_error] if self._network_error is not None else []

    def errors(self) -> list[str]:
        return self.runtime_errors() + self.network_errors()
