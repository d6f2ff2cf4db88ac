"""The grpc probe: ``grpc.health.v1.Health/Check`` on the pod's IP, success when SERVING.

The health protocol's two messages are tiny (``HealthCheckRequest{string service = 1}``,
``HealthCheckResponse{ServingStatus status = 1}``), so they are encoded by hand and sent through
grpcio's raw-bytes calls instead of generating protobuf modules for them. The timeout covers
connecting and the call together, and every failure — no connection within the timeout, a
server without the health service, a status other than SERVING — is a probe failure with the text
upstream's prober (modelled on grpc_health_probe) gives it. No TLS and no proxy: upstream
probes in plaintext, and a probe must never leave the machine through an ``http_proxy``.
"""

from __future__ import annotations

import asyncio

import grpc
import grpc.aio

from pocketkube.kubelet.prober.goerrors import go_duration, go_quote, join_host_port
from pocketkube.kubelet.prober.outcome import Outcome, ProbeOutput

HEALTH_CHECK = "/grpc.health.v1.Health/Check"
SERVING = 1
STATUS_NAMES = {0: "UNKNOWN", 1: "SERVING", 2: "NOT_SERVING", 3: "SERVICE_UNKNOWN"}


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data):
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def encode_request(service: str) -> bytes:
    """A HealthCheckRequest (an empty service is the default field value: no bytes at all)."""
    raw = service.encode()
    return b"\x0a" + _varint(len(raw)) + raw if raw else b""


def encode_response(status: int) -> bytes:
    """A HealthCheckResponse (for test servers)."""
    return b"\x08" + _varint(status) if status else b""


def decode_request(message: bytes) -> str:
    """The service a HealthCheckRequest names (for test servers)."""
    return _field_one(message, wire_type=2).decode() if message else ""


def decode_status(message: bytes) -> int:
    """The ServingStatus of a HealthCheckResponse (UNKNOWN when absent)."""
    raw = _field_one(message, wire_type=0)
    return _read_varint(raw, 0)[0] if raw else 0


def _field_one(message: bytes, *, wire_type: int) -> bytes:
    """The raw value of field 1 (its varint bytes, or its length-delimited payload)."""
    pos, found = 0, b""
    while pos < len(message):
        key, pos = _read_varint(message, pos)
        field, wire = key >> 3, key & 7
        start = pos
        if wire == 0:
            _, pos = _read_varint(message, pos)
            value = message[start:pos]
        elif wire == 2:
            length, start = _read_varint(message, pos)
            pos = start + length
            value = message[start:pos]
        elif wire in (1, 5):
            pos += 8 if wire == 1 else 4
            value = message[start:pos]
        else:
            raise ValueError(f"unsupported wire type {wire}")
        if field == 1 and wire == wire_type:
            found = value  # the last occurrence wins, as in protobuf
    return found


def go_code(code: grpc.StatusCode) -> str:
    """grpc-go's name of a status code (``NOT_FOUND`` -> ``NotFound``)."""
    if code == grpc.StatusCode.CANCELLED:
        return "Canceled"
    return "".join(part.capitalize() for part in str(code.name).split("_"))


async def grpc_probe(
    *, host: str, port: int, service: str, timeout_seconds: float, user_agent: str
) -> ProbeOutput:
    timeout = timeout_seconds
    addr = join_host_port(host, port)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    options = [("grpc.primary_user_agent", user_agent), ("grpc.enable_http_proxy", 0)]
    channel = grpc.aio.insecure_channel(addr, options=options)
    try:
        try:
            await asyncio.wait_for(channel.channel_ready(), timeout)
        except TimeoutError:
            return ProbeOutput(
                Outcome.FAILURE,
                f"timeout: failed to connect service {go_quote(addr)} within "
                f"{go_duration(timeout)}: context deadline exceeded",
            )
        check = channel.unary_unary(HEALTH_CHECK)  # no (de)serializers: bytes in, bytes out
        try:
            reply = await check(encode_request(service), timeout=max(deadline - loop.time(), 1e-3))
        except grpc.aio.AioRpcError as err:
            return ProbeOutput(Outcome.FAILURE, _rpc_failure(err, timeout))
    finally:
        await channel.close()
    try:
        status = decode_status(reply)
    except ValueError as err:
        return ProbeOutput(Outcome.FAILURE, f"error: health rpc probe failed: {err}")
    if status != SERVING:
        name = STATUS_NAMES.get(status, str(status))
        return ProbeOutput(Outcome.FAILURE, f"service unhealthy (responded with {go_quote(name)})")
    return ProbeOutput(Outcome.SUCCESS, "service healthy")


def _rpc_failure(err: grpc.aio.AioRpcError, timeout: float) -> str:
    code = err.code()
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return (
            "error: this server does not implement the grpc health protocol "
            f"(grpc.health.v1.Health): {err.details()}"
        )
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return f"timeout: health rpc did not complete within {go_duration(timeout)}"
    status = f"rpc error: code = {go_code(code)} desc = {err.details()}"
    return f"error: health rpc probe failed: {status}"
