"""Run an exec or attach on the provider with streams a protocol handler supplies.

The protocol handler sends the Status once ``run`` returned, so the outputs close then: a write
a runtime still makes afterwards (a task of its own that outlived the command) would land
after the Status, on a stream the client has let go. Empty writes send nothing: an empty
message is not data to any client.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from pocketkube.runtime import cri
from pocketkube.runtime.streaming import status
from pocketkube.runtime.streaming.provider import Output, Provider, TerminalSize


async def _drain(queue: asyncio.Queue[Any]) -> AsyncIterator[Any]:
    while (item := await queue.get()) is not None:
        yield item


@dataclass
class CommandStreams:
    """What a protocol hands the command: queues it fills from the client, outputs to it."""

    stdin: asyncio.Queue[bytes | None] | None
    stdout: Output | None
    stderr: Output | None
    resize: asyncio.Queue[TerminalSize | None] | None = field(default=None)


class _Gate:
    """Lets a command's output through until the command returned."""

    def __init__(self) -> None:
        self.open = True

    def guard(self, output: Output | None) -> Output | None:
        if output is None:
            return None

        async def write(data: bytes) -> None:
            if not self.open:
                raise ConnectionError("the command has returned: its streams are closed")
            if data:
                await output(data)

        return write


async def run(
    provider: Provider, kind: str, request: cri.StreamRequest, streams: CommandStreams
) -> dict[str, Any]:
    """Run it; return the Status to send (success, non-zero exit code, or the error)."""
    stdin = _drain(streams.stdin) if streams.stdin is not None else None
    resize = _drain(streams.resize) if streams.resize is not None else None
    gate = _Gate()
    stdout, stderr = gate.guard(streams.stdout), gate.guard(streams.stderr)
    try:
        if kind == "exec":
            await provider.exec(
                request.container_id,
                request.cmd,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                tty=request.tty,
                resize=resize,
            )
        else:
            await provider.attach(
                request.container_id,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                tty=request.tty,
                resize=resize,
            )
    except Exception as e:  # ExitCode, cri.RuntimeError_, or the client gone mid-write
        return status.from_exception(e)
    finally:
        gate.open = False
    return status.success()
