"""What a runtime gives the streaming server: exec, attach and port-forward primitives.

The streaming server speaks the protocols; a runtime implements only this. Streams are plain
callables and iterators so that the protocol side (WebSocket channels, SPDY streams) and the
process side (pipes, a pseudo-terminal, a socket in a network namespace) know nothing of each
other.

- ``stdin`` yields what the client sends and ends when the client half-closes its stdin (the
  process then reads EOF); ``None`` when the client asked for no stdin.
- ``stdout``/``stderr`` are awaited for each chunk (back-pressure reaches the process);
  ``None`` when not asked for. With ``tty`` everything comes on ``stdout``, as upstream merges
  a terminal's output.
- ``resize`` yields terminal sizes (only with ``tty``).
- ``exec``/``attach`` return when the command (container) finished or its streams ended;
  an exit code other than 0 is raised as ``ExitCode``; other failures as ``cri.RuntimeError_``
  (its message reaches the client in the error stream's Status).
- ``port_forward`` opens one connection to ``port`` inside the sandbox's network; it raises
  ``cri.RuntimeError_`` with the text the client should see when the port refuses.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class TerminalSize:
    width: int
    height: int


class ExitCode(Exception):
    """The command ran and exited with ``code`` (not 0)."""

    def __init__(self, code: int) -> None:
        super().__init__(f"command terminated with non-zero exit code: {code}")
        self.code = code


Output = Callable[[bytes], Awaitable[None]]


class Provider(Protocol):
    async def exec(
        self,
        container_id: str,
        cmd: Sequence[str],
        *,
        stdin: AsyncIterator[bytes] | None,
        stdout: Output | None,
        stderr: Output | None,
        tty: bool,
        resize: AsyncIterator[TerminalSize] | None,
    ) -> None: ...

    async def attach(
        self,
        container_id: str,
        *,
        stdin: AsyncIterator[bytes] | None,
        stdout: Output | None,
        stderr: Output | None,
        tty: bool,
        resize: AsyncIterator[TerminalSize] | None,
    ) -> None: ...

    async def port_forward(
        self, sandbox_id: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]: ...
