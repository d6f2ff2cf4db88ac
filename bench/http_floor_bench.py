"""The floor under the API server's creates/s: the same load against an HTTPS server that does
nothing.

``python -m bench.http_floor_bench [--seconds 5] [--clients 32]``

A trivial aiohttp server (its own process, TLS with the cluster PKI, client certificates as the
API server asks for them) answers every POST with 201 and a fixed 1.6 KB JSON body, without
reading it as JSON, storing or validating anything. The client is the API server benchmark's:
32 aiohttp sessions, one connection each, POSTing the same pods. What it costs per request on
each side is what HTTP/1.1 and TLS in asyncio cost here before any of the API server's own work,
so it bounds what the API server could reach on these cores.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
from aiohttp import web

from bench.apiserver_bench import NAMESPACE, Server, free_port, pod, post, sessions, wait_ready
from bench.load import run_writers
from bench.stats import summarize
from pocketkube.apiserver.pki import ensure_pki

BODY = orjson.dumps(
    {"kind": "Pod", "apiVersion": "v1", "metadata": {"name": "x" * 40, "note": "y" * 1500}}
)


def serve(tls: Path, port: int) -> None:
    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=201, body=BODY, content_type="application/json")

    async def ready(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/api/v1/namespaces/{namespace}/pods", answer)
    app.router.add_get("/readyz", ready)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls / "serving.crt", tls / "serving.key")
    context.load_verify_locations(tls / "ca.crt")
    context.verify_mode = ssl.CERT_OPTIONAL
    web.run_app(app, host="127.0.0.1", port=port, ssl_context=context, print=None)


async def load(server: Server, seconds: float, clients: int) -> None:
    writers = sessions(server, clients)
    url = f"/api/v1/namespaces/{NAMESPACE}/pods"

    async def write(writer: int, sequence: int) -> None:
        await post(writers[writer], url, pod(f"pod-{writer}-{sequence}"))

    try:
        cpu, own = server.cpu_seconds(), time.process_time()
        latencies, took = await run_writers(clients, seconds, write)
        server_cpu, client_cpu = server.cpu_seconds() - cpu, time.process_time() - own
    finally:
        for session in writers:
            await session.close()
    s = summarize(latencies, took)
    print(f"HTTPS server that does nothing: {clients} clients POSTing pods for {seconds:g} s")
    print("| requests | per s | p50 ms | p99 ms | server CPU ms/request | client CPU ms/request |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {s.count:,} | {s.rate:,.0f} | {s.p50_ms:.1f} | {s.p99_ms:.1f} "
        f"| {server_cpu * 1000 / s.count:.3f} | {client_cpu * 1000 / s.count:.3f} |"
    )


def run(seconds: float, clients: int) -> None:
    with tempfile.TemporaryDirectory(dir=Path.cwd()) as tmp:
        data_dir = Path(tmp) / "data"
        ensure_pki(data_dir)
        port = free_port()
        command = [sys.executable, "-m", "bench.http_floor_bench", "--serve", str(port), tmp]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        server = Server(proc, data_dir, port)
        try:
            wait_ready(server)
            asyncio.run(load(server, seconds, clients))
        finally:
            proc.terminate()
            proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(Path(args.serve[1]) / "data" / "tls", int(args.serve[0]))
        return
    run(args.seconds, args.clients)


if __name__ == "__main__":
    main()
