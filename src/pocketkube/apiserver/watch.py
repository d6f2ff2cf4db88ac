"""Serving a watch: newline-delimited JSON events over one chunked HTTP response.

Each line is ``{"type": ..., "object": ...}``; BOOKMARK objects carry only kind, apiVersion and
resourceVersion; a resourceVersion that is too old becomes an ERROR event holding a 410 Status,
as kube-apiserver sends it. ``timeoutSeconds`` ends the stream cleanly, as does a watch the cache
dropped for being too slow (the client resumes from its last resourceVersion).

A client that stops reading leaves its watch waiting for the socket to drain; the cache then drops
the watcher when its queue fills, but that alone would not wake a write that waits for a client
that never reads, so the connection (and what it buffers) would stay forever. A watcher dropped
while its write waits has its connection aborted instead, as has a stream whose end (its
``timeoutSeconds``) cannot be sent within a few seconds; and a watch's connection is closed after
it rather than kept for another request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web

from pocketkube.api import status
from pocketkube.storage.errors import Expired, StorageError, Unavailable
from pocketkube.storage.interface import Event, EventType, WatchStream

EncodeObject = Callable[[Event], Any]
MAX_TIMEOUT_SECONDS = 3600
# How long the end of a stream may wait for the client to take what was sent before it.
END_TIMEOUT_SECONDS = 5
# Events coalesced into one write at most (bounds the write, not the queue), and their bytes: a
# write is copied (joined, encrypted) and, to a client that has stopped reading, stays buffered
# until the watch is dropped; 256 events of 1 MiB ConfigMaps would make one 256 MiB write.
MAX_BATCH = 256
MAX_BATCH_BYTES = 64 * 1024


def watch_line(event_type: str, obj: Any) -> bytes:
    return orjson.dumps({"type": event_type, "object": obj}) + b"\n"


def _event_line(event: Event, encode: EncodeObject) -> bytes:
    obj = encode(event)
    if obj is event.object and event.raw is not None:  # the cache's encoding, made once
        return b"".join(
            (b'{"type":"', event.type.value.encode(), b'","object":', event.raw, b"}\n")
        )
    return watch_line(event.type.value, obj)


async def _write_events(
    request: web.Request, response: web.StreamResponse, stream: WatchStream, encode: EncodeObject
) -> None:
    """Write the stream's events, those already queued together in one write: each write is
    a TLS record and a send, which per event and watcher dominated fan-out."""
    writing = False

    def dropped(_: object) -> None:
        # Only a write waiting for the client to read can be pending when the watcher ends.
        if writing and request.transport is not None:
            request.transport.abort()

    # The watch cache's watchers say when they are dropped (``closing``); others do not.
    closing = getattr(stream, "closing", None)
    if closing is not None:
        closing().add_done_callback(dropped)
    events = aiter(stream)
    async for event in events:
        lines = [_event_line(event, encode)]
        size = len(lines[0])
        failed: Exception | None = None
        # The watch cache's watchers say how many events they hold (``queued``); others do not.
        while (
            len(lines) < MAX_BATCH and size < MAX_BATCH_BYTES and getattr(stream, "queued", 0) > 0
        ):
            try:  # queued events are handed out without suspending
                event = await anext(events)
            except StopAsyncIteration:
                break
            except Exception as err:  # raised once the lines before it are sent
                failed = err
                break
            lines.append(_event_line(event, encode))
            size += len(lines[-1])
        writing = True
        try:
            await response.write(b"".join(lines) if len(lines) > 1 else lines[0])
        finally:
            writing = False
        if failed is not None:
            raise failed


async def serve_watch(
    request: web.Request,
    stream: WatchStream,
    *,
    encode: EncodeObject,
    timeout_seconds: float,
    content_type: str = "application/json",
) -> web.StreamResponse:
    response = web.StreamResponse(
        status=200, headers={"Content-Type": content_type, "Cache-Control": "no-cache"}
    )
    response.enable_chunked_encoding()
    # Not kept alive: a client that stopped reading may leave data in the connection, which
    # closing it (bounded by the TLS shutdown timeout) gets rid of.
    response.force_close()
    async with stream:
        try:
            await response.prepare(request)
        except ConnectionResetError:
            # The client left before the first byte: nothing to send, nothing to log (aiohttp
            # meets the closed connection again when finishing the response, and stays quiet).
            return response
        try:
            async with asyncio.timeout(min(timeout_seconds, MAX_TIMEOUT_SECONDS)):
                await _write_events(request, response, stream, encode)
        except TimeoutError:
            pass
        except Expired as err:
            body = status.expired(err.message)
            await response.write(watch_line(EventType.ERROR.value, body))
        except Unavailable:
            pass  # dropped (too slow, or the datastore went away): the client re-watches
        except StorageError as err:
            await response.write(
                watch_line(EventType.ERROR.value, status.internal_error(err.message))
            )
        except (ConnectionResetError, asyncio.CancelledError):
            raise
    try:
        async with asyncio.timeout(END_TIMEOUT_SECONDS):
            await response.write_eof()
    except TimeoutError:
        # The stream ended (timeoutSeconds) while a client that stopped reading held up a write:
        # its end cannot be sent either, and waiting for that would keep the connection forever.
        if request.transport is not None:
            request.transport.abort()
    except ConnectionResetError:
        pass
    return response
