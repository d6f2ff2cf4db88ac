"""logs, exec, attach, cp and port-forward on a real node (issue 6): the kubelet's server.

kubectl → API server (pods/log, exec, attach, portforward) → the node's kubelet server → the
runtime's streaming server. One ``pocketkube server`` with its kubelet serves the whole module;
each test has its own namespace. Containers are host processes running host tools. Here the
kubelet's server is called directly, as the API server calls it (its address and port from the
Node's status, its serving certificate verified against the cluster CA, the admin's client
certificate): anonymous requests are refused with 401, log paths cannot leave the kubelet's log
directory, exec speaks v5.channel.k8s.io with the exit code as a Status, containerLogs takes
upstream's options. The same through the API server with real kubectl joins this module once the
API server serves those subresources.
"""

from __future__ import annotations

import base64
import json
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.conftest import Cluster
from tests.e2e.lifecycle_util import Namespace, namespace, phase


def pod_manifest(name: str, spec: str, labels: str = "") -> str:
    meta = f"{{name: {name}{', labels: ' + labels if labels else ''}}}"
    return f"---\napiVersion: v1\nkind: Pod\nmetadata: {meta}\nspec:\n{spec}"


SLEEPER = pod_manifest(
    "sleeper",
    """\
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: busybox, command: [sleep, "1000"]}
  - {name: side, image: busybox, command: [sleep, "1000"]}
""",
)


def running(ns: Namespace, *names: str, timeout: float = 30) -> dict[str, Any]:
    return ns.wait(
        lambda pods: all(n in pods and phase(pods[n]) == "Running" for n in names),
        f"{', '.join(names)} Running",
        timeout=timeout,
    )


# -- the kubelet's server, called directly -------------------------------------------------


def kubelet_tls(cluster: Cluster, tmp_path: Path, client_cert: bool) -> ssl.SSLContext:
    """TLS to the kubelet: its serving certificate verified against the cluster CA, and the
    admin's client certificate when ``client_cert``."""
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    ca = base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"])
    context = ssl.create_default_context(cadata=ca.decode())
    if client_cert:
        user = config["users"][0]["user"]
        cert = tmp_path / "admin.crt"
        key = tmp_path / "admin.key"
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        key.chmod(0o600)
        context.load_cert_chain(cert, key)
    return context


def kubelet_url(cluster: Cluster) -> str:
    node = json.loads(cluster.kubectl("get", "nodes", "-o", "json").stdout)["items"][0]
    port = node["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"]
    address = next(a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP")
    return f"https://{address}:{port}"


def kubelet_get(url: str, context: ssl.SSLContext) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, context=context, timeout=10) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as err:
        return err.code, err.read()


def test_kubelet_server_authenticates_and_confines_log_paths(
    node_cluster: Cluster, tmp_path: Path
) -> None:
    base = kubelet_url(node_cluster)
    anonymous = kubelet_tls(node_cluster, tmp_path, client_cert=False)
    for path in ("/pods", "/healthz", "/containerLogs/default/x/y", "/stats/summary"):
        status, body = kubelet_get(base + path, anonymous)
        assert status == 401, (path, status, body)
        assert body.strip() == b"Unauthorized", body
    admin = kubelet_tls(node_cluster, tmp_path, client_cert=True)
    assert kubelet_get(base + "/healthz", admin) == (200, b"ok")
    with namespace(node_cluster, "kubelet") as ns:
        ns.apply(SLEEPER)
        running(ns, "sleeper")
        status, body = kubelet_get(base + "/pods", admin)
        assert status == 200
        pods = json.loads(body)
        assert pods["kind"] == "PodList"
        assert any(p["metadata"]["name"] == "sleeper" for p in pods["items"])
        for path in (
            f"/containerLogs/{ns.name}/sleeper/..%2F..%2F..%2F..%2Fetc%2Fpasswd",
            f"/containerLogs/{ns.name}/..%2F..%2F..%2Fetc/passwd",
            "/containerLogs/..%2F..%2F..%2F..%2F..%2Fetc/passwd/main",
            f"/containerLogs/{ns.name}/sleeper/main/../../../../../../etc/passwd",
        ):
            status, body = kubelet_get(base + path, admin)
            assert status in (400, 403, 404), (path, status, body)
            assert b"root:" not in body
        status, body = kubelet_get(base + f"/containerLogs/{ns.name}/sleeper/main", admin)
        assert status == 200, body


def kubelet_exec(base: str, tls: ssl.SSLContext, path: str) -> tuple[dict[int, bytes], Any]:
    """An exec straight to the kubelet over WebSocket (v5.channel.k8s.io): the bytes per channel
    and the status."""
    import websocket  # the Python client's WebSocket library

    conn = websocket.create_connection(
        base.replace("https://", "wss://") + path,
        sslopt={"context": tls},
        subprotocols=["v5.channel.k8s.io"],
        timeout=20,
    )
    channels: dict[int, bytes] = {}
    try:
        assert conn.subprotocol == "v5.channel.k8s.io"
        while True:
            opcode, data = conn.recv_data()
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                break
            if data:
                channels[data[0]] = channels.get(data[0], b"") + data[1:]
    finally:
        conn.close()
    return channels, json.loads(channels.get(3, b"null"))


def test_kubelet_server_execs_and_serves_logs(node_cluster: Cluster, tmp_path: Path) -> None:
    """The kubelet's own endpoints on the real node (what the API server proxies to)."""
    base = kubelet_url(node_cluster)
    admin = kubelet_tls(node_cluster, tmp_path, client_cert=True)
    with namespace(node_cluster, "kubeletexec") as ns:
        ns.apply(
            pod_manifest(
                "p",
                """\
  terminationGracePeriodSeconds: 1
  containers:
  - {name: c, image: busybox, command: [sh, -c, 'echo one; echo two; echo three; exec sleep 1000']}
""",
            )
        )
        running(ns, "p")
        channels, status = kubelet_exec(
            base,
            admin,
            f"/exec/{ns.name}/p/c?command=sh&command=-c&command=echo+out%3B+echo+err+%3E%262%3B+exit+3"
            "&output=1&error=1",
        )
        assert channels.get(1) == b"out\n"
        assert channels.get(2) == b"err\n"
        assert status["status"] == "Failure"
        assert status["reason"] == "NonZeroExitCode"
        assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
        channels, status = kubelet_exec(
            base, admin, f"/exec/{ns.name}/p/c?command=true&output=1&error=1"
        )
        assert status == {"metadata": {}, "status": "Success"}

        deadline = time.monotonic() + 10
        while True:
            code, body = kubelet_get(base + f"/containerLogs/{ns.name}/p/c", admin)
            if body == b"one\ntwo\nthree\n" or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert (code, body) == (200, b"one\ntwo\nthree\n")
        code, body = kubelet_get(base + f"/containerLogs/{ns.name}/p/c?tailLines=1", admin)
        assert (code, body) == (200, b"three\n")
        code, body = kubelet_get(base + f"/containerLogs/{ns.name}/p/c?limitBytes=5", admin)
        assert (code, body) == (200, b"one\nt")
        code, body = kubelet_get(base + f"/containerLogs/{ns.name}/p/nope", admin)
        assert code == 404, body
