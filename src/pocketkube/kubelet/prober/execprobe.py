"""The exec probe: run a command in the container through the runtime's ExecSync.

Exit code 0 is success, anything else failure with the command's output (stdout then stderr, at
most 10 KiB) as the event text. A command still running at ``timeoutSeconds`` is killed by the
runtime and fails the probe with ``command "..." timed out`` (upstream's ExecProbeTimeout
behaviour). Any other runtime error (the container is gone, exec unsupported) is an error, not a
failure: it does not count towards the failure threshold.

As upstream (``ExpandContainerCommandOnlyStatic``), ``$(VAR)`` in the command is expanded with the
container's literal ``env`` values only — the probe does not see valueFrom or envFrom variables.
"""

from __future__ import annotations

from typing import Any, Protocol

from pocketkube.kubelet.prober.goerrors import go_quote
from pocketkube.kubelet.prober.outcome import Outcome, ProbeError, ProbeOutput, truncate
from pocketkube.runtime import cri


class ExecRuntime(Protocol):
    """The one CRI call probes and hooks need (``cri.RuntimeService`` provides it)."""

    async def exec_sync(
        self,
        container_id: str,
        cmd: tuple[str, ...],
        timeout: float,  # noqa: ASYNC109 - CRI's ExecSync signature
    ) -> cri.ExecSyncResponse: ...


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: defined names are replaced, ``$$`` is a literal ``$``,
    anything else (undefined names, a lone ``$``) is kept as written."""
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            follower = text[i + 1]
            if follower == "$":
                out.append("$")
                i += 2
                continue
            end = text.find(")", i + 2) if follower == "(" else -1
            if end != -1:
                name = text[i + 2 : end]
                out.append(env[name] if name in env else text[i : end + 1])
                i = end + 1
                continue
        out.append(text[i])
        i += 1
    return "".join(out)


def static_command(command: list[str], container: dict[str, Any]) -> tuple[str, ...]:
    env = {str(e.get("name")): str(e.get("value") or "") for e in container.get("env") or []}
    return tuple(expand(str(arg), env) for arg in command)


async def exec_probe(
    runtime: ExecRuntime, *, container_id: str, command: tuple[str, ...], timeout_seconds: float
) -> ProbeOutput:
    try:
        response = await runtime.exec_sync(container_id, command, timeout_seconds)
    except cri.RuntimeError_ as err:
        if err.code == "DeadlineExceeded":
            return ProbeOutput(Outcome.FAILURE, f"command {go_quote(' '.join(command))} timed out")
        raise ProbeError(err.message) from err
    output = truncate(response.stdout + response.stderr)
    if response.exit_code == 0:
        return ProbeOutput(Outcome.SUCCESS, output)
    return ProbeOutput(Outcome.FAILURE, output)
