"""A container for the kubelet's probe e2e tests: HTTP, TCP and gRPC health on three ports.

Run with the test's Python (``sys.executable``); it needs only the standard library and grpcio.
Its three answers — live, ready, started — are driven by the time since it started and by files:

- started: ``--start-after S`` seconds have passed;
- ready:   ``--ready-after S`` seconds have passed, and (with ``--fail-ready-after S``) not yet
  that many, and no ``unready`` file in ``--state-dir``, and no SIGTERM received when
  ``--unready-on-term`` is given;
- live:    (with ``--fail-live-after S``) fewer than that many seconds have passed, and no
  ``unhealthy`` file in ``--state-dir``.

What it serves:

- HTTP on ``--http-port``: ``GET /healthz``, ``/ready``, ``/started`` answer 200 or 500 (body
  ``ok``/``not ok``). With ``--require-header NAME=VALUE`` a request without that header gets 400
  (to test a probe's ``httpHeaders``).
- TCP on ``--tcp-port``: a listener that accepts and closes, opened once started and closed
  while not live (so a tcpSocket probe of any type follows liveness after startup).
- gRPC ``grpc.health.v1.Health/Check`` on ``--grpc-port``: service ``""`` is liveness,
  ``ready`` readiness, ``started`` startup, anything else NOT_FOUND. The protobuf messages are
  encoded by hand (one field each) so no generated code is needed.

Paths (``--state-dir``, ``--log-file``) may use ``$POCKETKUBE_ROOT``, which the script
expands (a container's command is not run by a shell). With ``--state-dir`` it also keeps files
``live``, ``ready`` and ``started`` there, present while the answer is yes (for exec probes:
``test -f $DIR/ready``). Every change of an answer, every request and every signal is logged to
stdout (and ``--log-file``) with a UTC timestamp. SIGTERM logs ``TERM at <t>`` and exits 0
``--exit-delay`` seconds later (at once by default) unless ``--ignore-term``; with
``--unready-on-term`` the readiness answer turns false on SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import http.server
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

START = time.monotonic()
LOCK = threading.Lock()
TERMINATED = threading.Event()


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


LOG_FILE: list[Path] = []


def say(message: str) -> None:
    line = f"{now()} {message}\n"
    with LOCK:
        sys.stdout.write(line)
        sys.stdout.flush()
        for path in LOG_FILE:
            with path.open("a") as out:
                out.write(line)


class Health:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.state_dir = Path(args.state_dir) if args.state_dir else None

    def _elapsed(self) -> float:
        return time.monotonic() - START

    def _file(self, name: str) -> bool:
        return self.state_dir is not None and (self.state_dir / name).exists()

    def started(self) -> bool:
        return self._elapsed() >= float(self.args.start_after)

    def ready(self) -> bool:
        elapsed = self._elapsed()
        if elapsed < self.args.ready_after or self._file("unready"):
            return False
        if self.args.fail_ready_after is not None and elapsed >= self.args.fail_ready_after:
            return False
        return not (bool(self.args.unready_on_term) and TERMINATED.is_set())

    def live(self) -> bool:
        if self._file("unhealthy"):
            return False
        return self.args.fail_live_after is None or self._elapsed() < self.args.fail_live_after

    def answers(self) -> dict[str, bool]:
        return {"live": self.live(), "ready": self.ready(), "started": self.started()}


def watch(health: Health, tcp: TCPListener | None) -> None:
    """Log every change of an answer, keep the state files and the TCP listener in step."""
    last: dict[str, bool] = {}
    while True:
        answers = health.answers()  # live and ready are written before started
        for name, value in answers.items():
            if last.get(name) != value:
                say(f"{name} -> {value}")
                if health.state_dir is not None:
                    path = health.state_dir / name
                    if value:
                        path.touch()
                    else:
                        path.unlink(missing_ok=True)
        last = answers
        if tcp is not None:
            tcp.set_open(answers["started"] and answers["live"])
        time.sleep(0.05)


class TCPListener:
    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None

    def set_open(self, should: bool) -> None:
        if should and self.sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("0.0.0.0", self.port))
            sock.listen(16)
            self.sock = sock
            threading.Thread(target=self._accept, args=(sock,), daemon=True).start()
            say(f"tcp listening on {self.port}")
        elif not should and self.sock is not None:
            sock, self.sock = self.sock, None
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
            say(f"tcp closed {self.port}")

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                conn, peer = sock.accept()
            except OSError:
                return
            say(f"tcp connection from {peer[0]}")
            conn.close()


def http_handler(health: Health, require: tuple[str, str] | None) -> type:
    routes = {"/healthz": health.live, "/ready": health.ready, "/started": health.started}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            check = routes.get(self.path.split("?", 1)[0])
            if check is None:
                code = 404
            elif require is not None and self.headers.get(require[0]) != require[1]:
                code = 400
            else:
                code = 200 if check() else 500
            agent = self.headers.get("User-Agent", "")
            say(f"http GET {self.path} -> {code} (user-agent {agent!r})")
            body = b"ok\n" if code == 200 else b"not ok\n"
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if not value:
            out.append(byte)
            return bytes(out)
        out.append(byte | 0x80)


def decode_service(message: bytes) -> str:
    """``HealthCheckRequest.service`` (field 1, a string)."""
    pos, service = 0, b""
    while pos < len(message):
        key, pos = _read_varint(message, pos)
        wire = key & 7
        if wire == 2:
            length, pos = _read_varint(message, pos)
            if key >> 3 == 1:
                service = message[pos : pos + length]
            pos += length
        elif wire == 0:
            _, pos = _read_varint(message, pos)
        else:
            raise ValueError(f"unexpected wire type {wire}")
    return service.decode()


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def grpc_server(health: Health, port: int) -> Any:
    from concurrent import futures

    import grpc  # only when asked for: it is slow to import, and the other servers start first

    services = {"": health.live, "ready": health.ready, "started": health.started}

    def check(request: bytes, context: Any) -> bytes:
        service = decode_service(request)
        answer = services.get(service)
        if answer is None:
            say(f"grpc Check {service!r} -> NOT_FOUND")
            context.abort(grpc.StatusCode.NOT_FOUND, "unknown service")  # raises
            raise AssertionError("unreachable")
        status = 1 if answer() else 2  # SERVING / NOT_SERVING
        say(f"grpc Check {service!r} -> {'SERVING' if status == 1 else 'NOT_SERVING'}")
        return b"\x08" + _varint(status)

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    handler = grpc.method_handlers_generic_handler(
        "grpc.health.v1.Health", {"Check": grpc.unary_unary_rpc_method_handler(check)}
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"0.0.0.0:{port}")
    server.start()
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--http-port", type=int)
    parser.add_argument("--tcp-port", type=int)
    parser.add_argument("--grpc-port", type=int)
    parser.add_argument("--start-after", type=float, default=0.0)
    parser.add_argument("--ready-after", type=float, default=0.0)
    parser.add_argument("--fail-ready-after", type=float)
    parser.add_argument("--fail-live-after", type=float)
    parser.add_argument("--state-dir")
    parser.add_argument("--log-file", help="append the log to this file too")
    parser.add_argument("--require-header", help="NAME=VALUE every HTTP request must carry")
    parser.add_argument("--unready-on-term", action="store_true")
    parser.add_argument("--ignore-term", action="store_true")
    parser.add_argument("--exit-delay", type=float, default=0.0, help="seconds from TERM to exit")
    args = parser.parse_args()
    # Paths may name the container's volume root: --state-dir '$POCKETKUBE_ROOT/state'.
    for name in ("state_dir", "log_file"):
        if getattr(args, name):
            setattr(args, name, os.path.expandvars(getattr(args, name)))
    if args.log_file:
        LOG_FILE.append(Path(args.log_file))

    health = Health(args)
    if health.state_dir is not None:
        health.state_dir.mkdir(parents=True, exist_ok=True)
    say(f"pid {os.getpid()} starting: {' '.join(sys.argv[1:])}")

    def on_term(signum: int, frame: object) -> None:
        say(f"TERM at {now()}")
        TERMINATED.set()
        if not args.ignore_term:
            threading.Timer(args.exit_delay, os._exit, (0,)).start()

    signal.signal(signal.SIGTERM, on_term)

    if args.http_port:
        require = tuple(args.require_header.split("=", 1)) if args.require_header else None
        server = http.server.ThreadingHTTPServer(
            ("0.0.0.0", args.http_port), http_handler(health, require)
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        say(f"http listening on {args.http_port}")
    servers = []  # a grpc.Server that is garbage-collected stops serving
    if args.grpc_port:
        servers.append(grpc_server(health, args.grpc_port))
        say(f"grpc listening on {args.grpc_port}")
    tcp = TCPListener(args.tcp_port) if args.tcp_port else None
    threading.Thread(target=watch, args=(health, tcp), daemon=True).start()
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
