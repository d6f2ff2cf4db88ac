"""One probe of one container: pick the mechanism, retry errors, record the event, give a result.

This is upstream's prober.go. A probe that *errors* (could not be attempted) is retried up to
three times at once; if it still errors, an ``Unhealthy`` event says so (``Liveness probe errored
and resulted in unknown state: ...``) and the caller gets ``None``: the worker discards it rather
than counting it as a failure. A failure records ``Unhealthy`` with the mechanism's output
(``Readiness probe failed: HTTP probe failed with statuscode: 500``) every time it happens — the
event recorder folds the repeats into one series — and a warning records ``ProbeWarning`` but
counts as success. The worker only decides what the result *means* (thresholds, restarts).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from pocketkube.kubelet.prober.events import (
    PROBE_WARNING,
    UNHEALTHY,
    EventPoster,
    format_pod,
    pod_reference,
)
from pocketkube.kubelet.prober.execprobe import ExecRuntime, exec_probe, static_command
from pocketkube.kubelet.prober.grpcprobe import grpc_probe
from pocketkube.kubelet.prober.httpprobe import build_request, http_probe, user_agent
from pocketkube.kubelet.prober.outcome import Outcome, ProbeError, ProbeOutput
from pocketkube.kubelet.prober.results import Result
from pocketkube.kubelet.prober.spec import ProbeSpec, ProbeType, resolve_port
from pocketkube.kubelet.prober.tcpprobe import tcp_probe

log = logging.getLogger(__name__)

Obj = dict[str, Any]
MAX_RETRIES = 3


class ProbeRunner(Protocol):
    """What a worker needs: one probe, its result, or ``None`` when it errored."""

    async def probe(
        self,
        probe_type: ProbeType,
        spec: ProbeSpec,
        *,
        pod: Obj,
        container: Obj,
        container_id: str,
        pod_ip: str,
    ) -> Result | None: ...


class Prober:
    def __init__(self, *, runtime: ExecRuntime, recorder: EventPoster) -> None:
        self._runtime = runtime
        self._recorder = recorder

    async def probe(
        self,
        probe_type: ProbeType,
        spec: ProbeSpec,
        *,
        pod: Obj,
        container: Obj,
        container_id: str,
        pod_ip: str,
    ) -> Result | None:
        kind = probe_type.value
        try:
            output = await self._with_retries(spec, pod, container, container_id, pod_ip)
        except ProbeError as err:
            name = container.get("name")
            log.debug("%s probe of %s/%s errored: %s", kind, format_pod(pod), name, err)
            note = f"{kind} probe errored and resulted in {Outcome.UNKNOWN.value} state: {err}"
            self._post(pod, container, UNHEALTHY, note)
            return None
        if output.outcome is Outcome.SUCCESS:
            return Result.SUCCESS
        if output.outcome is Outcome.WARNING:
            self._post(pod, container, PROBE_WARNING, f"{kind} probe warning: {output.output}")
            return Result.SUCCESS
        if output.outcome is Outcome.FAILURE:
            name = container.get("name")
            log.debug("%s probe of %s/%s failed: %s", kind, format_pod(pod), name, output.output)
            self._post(pod, container, UNHEALTHY, f"{kind} probe failed: {output.output}")
        return Result.FAILURE

    async def _with_retries(
        self, spec: ProbeSpec, pod: Obj, container: Obj, container_id: str, pod_ip: str
    ) -> ProbeOutput:
        for attempt in range(MAX_RETRIES):
            try:
                return await self.run_action(
                    spec, pod=pod, container=container, container_id=container_id, pod_ip=pod_ip
                )
            except ProbeError:
                if attempt == MAX_RETRIES - 1:
                    raise
        raise AssertionError("unreachable")

    async def run_action(
        self, spec: ProbeSpec, *, pod: Obj, container: Obj, container_id: str, pod_ip: str
    ) -> ProbeOutput:
        """Run the probe's mechanism once."""
        action = spec.action
        if spec.handler == "exec":
            command = static_command(list(action.get("command") or []), container)
            return await exec_probe(
                self._runtime,
                container_id=container_id,
                command=command,
                timeout_seconds=spec.timeout,
            )
        if spec.handler == "httpGet":
            request = build_request(action, container, pod_ip=pod_ip, purpose="probe")
            return await http_probe(request, timeout_seconds=spec.timeout)
        if spec.handler == "tcpSocket":
            host = str(action.get("host") or pod_ip)
            port = resolve_port(action.get("port"), container)
            return await tcp_probe(host=_need_host(host), port=port, timeout_seconds=spec.timeout)
        if spec.handler == "grpc":
            port = resolve_port(int(action.get("port") or 0), container)
            return await grpc_probe(
                host=_need_host(pod_ip),
                port=port,
                service=str(action.get("service") or ""),
                timeout_seconds=spec.timeout,
                user_agent=user_agent("probe"),
            )
        raise ProbeError(f"missing probe handler for {format_pod(pod)}:{container.get('name')}")

    def _post(self, pod: Obj, container: Obj, reason: str, note: str) -> None:
        self._recorder.post(
            pod_reference(pod, container),
            type="Warning",
            reason=reason,
            action="Probing",
            note=note,
        )


def _need_host(host: str) -> str:
    if not host:
        raise ProbeError("the pod has no IP address yet")
    return host
