"""The server side of a SPDY/3.1 connection as spdystream's clients use it.

The client opens every stream (SYN_STREAM with headers such as ``streamType``); the server
answers each with SYN_REPLY at once (spdystream drops data on streams not yet replied to),
echoes PINGs (kubectl pings every few seconds), and half-closes a stream with an empty DATA
frame carrying FIN. spdystream does no flow control, so WINDOW_UPDATE and SETTINGS are
ignored; like spdystream, a stream's unread data holds up the connection's reader (bounded
queue), which is the back-pressure.
"""

from __future__ import annotations

import asyncio
import contextlib

from pocketkube.runtime.streaming import spdyframes as f
from pocketkube.runtime.streaming.transport import ByteChannel

CHUNK = 32 * 1024


class SpdyStream:
    def __init__(self, conn: SpdyConnection, stream_id: int, headers: f.Headers) -> None:
        self.conn = conn
        self.id = stream_id
        self.headers = headers
        self._data: asyncio.Queue[bytes] = asyncio.Queue(maxsize=64)
        self.remote_closed = False
        self.local_closed = False
        self.reset = False
        self.reset_event = asyncio.Event()

    def header(self, name: str) -> str:
        values = self.headers.get(name.lower(), [])
        return values[0] if values else ""

    async def read(self) -> bytes:
        """The next chunk the client sent; b"" once it half-closed (or reset) the stream."""
        if self.remote_closed and self._data.empty():
            return b""
        chunk = await self._data.get()
        if not chunk:
            self.remote_closed = True
        return chunk

    async def write(self, data: bytes) -> None:
        if self.local_closed or self.reset:
            raise ConnectionError(f"stream {self.id} closed")
        for i in range(0, len(data), CHUNK):
            await self.conn.send(f.DataFrame(self.id, data[i : i + CHUNK]))

    async def close(self) -> None:
        """Half-close: FIN; nothing more is sent on this stream."""
        if self.local_closed or self.reset:
            return
        self.local_closed = True
        with contextlib.suppress(ConnectionError, OSError):
            await self.conn.send(f.DataFrame(self.id, b"", f.FLAG_FIN))

    async def _remote_data(self, data: bytes, fin: bool) -> None:
        if self.remote_closed:
            return
        if data:
            await self._data.put(data)
        if fin:
            await self._data.put(b"")

    def _remote_reset(self) -> None:
        self.reset = True
        self.reset_event.set()
        self.local_closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self._data.put_nowait(b"")


class SpdyConnection:
    def __init__(self, channel: ByteChannel) -> None:
        self._channel = channel
        self._framer = f.Framer()
        self._lock = asyncio.Lock()
        self._streams: dict[int, SpdyStream] = {}
        self._new: asyncio.Queue[SpdyStream | None] = asyncio.Queue()
        self._last_id = 0
        self.closed = False

    async def send(self, frame: f.Frame) -> None:
        async with self._lock:
            if self.closed:
                raise ConnectionError("SPDY connection closed")
            await self._channel.write(self._framer.encode(frame))

    async def accept(self) -> SpdyStream | None:
        """The next stream the client opened; None once the connection ended."""
        return await self._new.get()

    async def serve(self) -> None:
        """Read frames until the client goes away; run this while the handler works."""
        try:
            while True:
                data = await self._channel.read()
                if not data:
                    break
                for frame in self._framer.feed(data):
                    await self._handle(frame)
        except f.ProtocolError:
            with contextlib.suppress(ConnectionError, OSError):
                await self.send(f.ControlFrame(f.GOAWAY, stream_id=self._last_id, status=1))
        except (ConnectionError, OSError):
            pass
        finally:
            for stream in self._streams.values():
                stream._remote_reset()
            self._new.put_nowait(None)

    async def _handle(self, frame: f.Frame) -> None:
        if isinstance(frame, f.DataFrame):
            stream = self._streams.get(frame.stream_id)
            if stream is not None:
                await stream._remote_data(frame.data, bool(frame.flags & f.FLAG_FIN))
            return
        if frame.type == f.SYN_STREAM:
            if frame.stream_id in self._streams or frame.stream_id % 2 == 0:
                await self.send(
                    f.ControlFrame(
                        f.RST_STREAM, stream_id=frame.stream_id, status=f.RST_PROTOCOL_ERROR
                    )
                )
                return
            stream = SpdyStream(self, frame.stream_id, frame.headers)
            self._streams[frame.stream_id] = stream
            self._last_id = frame.stream_id
            await self.send(f.ControlFrame(f.SYN_REPLY, stream_id=frame.stream_id))
            if frame.flags & f.FLAG_FIN:
                await stream._remote_data(b"", True)
            await self._new.put(stream)
        elif frame.type == f.RST_STREAM:
            stream = self._streams.pop(frame.stream_id, None)
            if stream is not None:
                stream._remote_reset()
        elif frame.type == f.PING:
            if frame.ping_id % 2 == 1:  # the client's; ours would be even
                await self.send(frame)
        elif frame.type == f.GOAWAY:
            raise ConnectionError("client sent GOAWAY")

    async def close(self) -> None:
        if self.closed:
            return
        with contextlib.suppress(ConnectionError, OSError):
            await self.send(f.ControlFrame(f.GOAWAY, stream_id=self._last_id))
        self.closed = True
        await self._channel.close()
