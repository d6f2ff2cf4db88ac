"""Container lifecycle hooks: postStart and preStop handlers (upstream lifecycle/handlers.go).

A handler is one of ``exec`` (a command run in the container through the runtime), ``httpGet``
(a GET to the pod, built exactly like an HTTP probe's request but with the user agent
``kube-lifecycle/<major.minor>``) or ``sleep`` (wait that many seconds). ``run`` returns ``None``
when the handler succeeded, else the message the kubelet puts in its ``FailedPostStartHook`` or
``FailedPreStopHook`` event, worded as upstream words it (``Exec lifecycle hook ([sh -c exit 3])
for Container "web" in Pod "web_default(uid)" failed - error: command 'sh -c exit 3' exited
with 3: , message: ""``).

Upstream's semantics, kept on purpose:

- an exec hook fails when the command exits non-zero; it has no timeout of its own — the kubelet
  bounds a preStop hook by the grace period by cancelling ``run`` (the runtime kills the command);
- an HTTP hook fails only when no response arrives (refused, reset, timed out): the status code
  is not looked at, so a 500 from the hook endpoint is a success;
- an HTTPS hook that meets a plain HTTP server is retried over HTTP, and a
  ``LifecycleHTTPFallback`` warning says so;
- a sleep hook ends early only by cancellation (the container is being killed).
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from pocketkube.client.clock import Clock, RealClock
from pocketkube.kubelet.prober.events import (
    LIFECYCLE_HTTP_FALLBACK,
    EventPoster,
    format_pod,
    pod_reference,
)
from pocketkube.kubelet.prober.execprobe import ExecRuntime
from pocketkube.kubelet.prober.goerrors import go_quote
from pocketkube.kubelet.prober.httpprobe import HTTPError, HTTPRequest, build_request, http_get
from pocketkube.kubelet.prober.outcome import ProbeError
from pocketkube.runtime import cri

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class LifecycleHooks(Protocol):
    """What the kubelet uses to run hooks (``HookRunner``, ``fake.FakeHookRunner``)."""

    async def run(
        self, handler: Obj, *, pod: Obj, container: Obj, container_id: str, pod_ip: str
    ) -> str | None: ...


class HookRunner:
    def __init__(
        self,
        *,
        runtime: ExecRuntime,
        recorder: EventPoster | None = None,
        clock: Clock | None = None,
        http_timeout: float | None = None,
    ) -> None:
        self._runtime = runtime
        self._recorder = recorder
        self._clock = clock or RealClock()
        self._http_timeout = http_timeout  # None: as upstream, only cancellation ends it

    async def run(
        self, handler: Obj, *, pod: Obj, container: Obj, container_id: str, pod_ip: str
    ) -> str | None:
        """Run one lifecycle handler; ``None`` on success, else the failure message."""
        name = go_quote(str(container.get("name", "")))
        where = f"for Container {name} in Pod {go_quote(format_pod(pod))}"
        if handler.get("exec") is not None:
            command = [str(arg) for arg in handler["exec"].get("command") or []]
            error, output = await self._exec(container_id, tuple(command))
            if error is None:
                return None
            return (
                f"Exec lifecycle hook ([{' '.join(command)}]) {where} failed - error: {error}, "
                f"message: {go_quote(output)}"
            )
        if handler.get("httpGet") is not None:
            http = handler["httpGet"]
            error = await self._http(http, pod, container, pod_ip)
            if error is None:
                return None
            return f"HTTP lifecycle hook ({http.get('path', '')}) {where} failed - error: {error}"
        if handler.get("sleep") is not None:
            await self._clock.sleep(float(handler["sleep"].get("seconds") or 0))
            return None
        return f"Cannot run handler: invalid handler: {handler}"

    async def _exec(self, container_id: str, command: tuple[str, ...]) -> tuple[str | None, str]:
        try:
            response = await self._runtime.exec_sync(container_id, command, 0)
        except cri.RuntimeError_ as err:
            return err.message, ""
        output = (response.stdout + response.stderr).decode("utf-8", errors="replace")
        if response.exit_code == 0:
            return None, output
        stderr = response.stderr.decode("utf-8", errors="replace")
        return f"command '{' '.join(command)}' exited with {response.exit_code}: {stderr}", output

    async def _http(self, http: Obj, pod: Obj, container: Obj, pod_ip: str) -> str | None:
        if not http.get("host") and not pod_ip:
            return "failed to find networking container: the pod has no IP address"
        try:
            request = build_request(http, container, pod_ip=pod_ip, purpose="lifecycle")
        except ProbeError as err:
            return str(err)
        try:
            await http_get(request, timeout_seconds=self._http_timeout)
        except HTTPError as err:
            if not err.plain_http_reply:
                return str(err)
            return await self._http_fallback(request, pod, err)
        return None

    async def _http_fallback(self, request: HTTPRequest, pod: Obj, err: HTTPError) -> str | None:
        """Retry an HTTPS hook over HTTP, without credentials, as upstream does."""
        url = "http://" + request.url.removeprefix("https://")
        headers = tuple((n, v) for n, v in request.headers if n.lower() != "authorization")
        try:
            await http_get(HTTPRequest(url, headers), timeout_seconds=self._http_timeout)
        except HTTPError:
            return str(err)
        if self._recorder is not None:
            host = url.removeprefix("http://").split("/", 1)[0]
            self._recorder.post(
                pod_reference(pod),
                type="Warning",
                reason=LIFECYCLE_HTTP_FALLBACK,
                action="LifecycleHook",
                note=f"request to HTTPS lifecycle hook {host} got HTTP response, "
                "retry with HTTP succeeded",
            )
        return None
