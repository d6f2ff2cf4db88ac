"""exec, attach, logs and port-forward with the official Python client (kubernetes-client/python)
against ``pocketkube server`` with its kubelet (issue 6).

``kubernetes.stream.stream`` speaks the WebSocket channel protocol (it offers v5.channel.k8s.io and
v4.channel.k8s.io) for exec and attach, reads the exit code off the status channel, and
``kubernetes.stream.portforward`` uses the channel port-forward protocol (``?ports=``, data and
error channels per port, each opened by the port number in 2 little-endian bytes).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import portforward, stream

from tests.e2e.conftest import Cluster
from tests.e2e.lifecycle_util import Namespace, conditions, namespace, phase

POD = """\
---
apiVersion: v1
kind: Pod
metadata: {name: box, labels: {app: box}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - {name: main, image: busybox, command: [sleep, "1000"]}
  - name: web
    image: python
    command: [sh, -c, "mkdir -p $POCKETKUBE_ROOT/www && cd $POCKETKUBE_ROOT/www && echo hi from web > index.html && exec python3 -m http.server 8080"]
    readinessProbe: {tcpSocket: {port: 8080}, periodSeconds: 1}
  - name: talker
    image: busybox
    stdin: true
    command: [sh, -c, 'echo talker up; while read line; do echo "heard $line"; done']
"""  # noqa: E501


@pytest.fixture
def api(node_cluster: Cluster) -> Iterator[client.CoreV1Api]:
    api_client = config.new_client_from_config(config_file=str(node_cluster.kubeconfig))
    try:
        yield client.CoreV1Api(api_client)
    finally:
        api_client.close()


@pytest.fixture
def box(node_cluster: Cluster) -> Iterator[Namespace]:
    with namespace(node_cluster, "pyclient") as ns:
        ns.apply(POD)
        ns.wait(
            lambda pods: (
                phase(pods["box"]) == "Running"
                and conditions(pods["box"]).get("Ready", {}).get("status") == "True"
            ),
            "box Ready",
        )
        yield ns


def exec_in(api: client.CoreV1Api, ns: Namespace, command: list[str], **kwargs: Any) -> Any:
    return stream(
        api.connect_get_namespaced_pod_exec,
        "box",
        ns.name,
        container=kwargs.pop("container", "main"),
        command=command,
        stderr=True,
        stdin=kwargs.pop("stdin", False),
        stdout=True,
        tty=kwargs.pop("tty", False),
        _preload_content=False,
        **kwargs,
    )


def test_exec_with_a_return_code(api: client.CoreV1Api, box: Namespace) -> None:
    resp = exec_in(api, box, ["sh", "-c", "echo out; echo err >&2; exit 3"])
    resp.run_forever(timeout=20)
    assert resp.returncode == 3
    assert resp.read_stdout() == "out\n"
    assert resp.read_stderr() == "err\n"
    resp.close()

    ok = exec_in(api, box, ["sh", "-c", "echo fine"])
    ok.run_forever(timeout=20)
    assert ok.returncode == 0
    assert ok.read_stdout() == "fine\n"
    ok.close()

    # preloaded: stdout and stderr together as one string
    text = stream(
        api.connect_get_namespaced_pod_exec,
        "box",
        box.name,
        container="main",
        command=["sh", "-c", "echo preloaded"],
        stderr=True,
        stdin=False,
        stdout=True,
        tty=False,
    )
    assert text == "preloaded\n"


def test_exec_with_stdin_and_its_close(api: client.CoreV1Api, box: Namespace) -> None:
    resp = exec_in(api, box, ["sh", "-c", "cat; echo done"], stdin=True)
    assert resp.subprotocol == "v5.channel.k8s.io"
    resp.write_stdin("hello\n")
    assert resp.readline_stdout(timeout=10) == "hello"
    resp.write_stdin("again\n")
    assert resp.readline_stdout(timeout=10) == "again"
    resp.close_channel(0)  # v5: stdin half-closed, cat sees EOF
    resp.run_forever(timeout=20)
    assert resp.read_stdout() == "done\n"
    assert resp.returncode == 0
    resp.close()


def test_exec_with_a_tty_and_a_resize(api: client.CoreV1Api, box: Namespace) -> None:
    resp = exec_in(api, box, ["sh"], stdin=True, tty=True)
    resp.write_channel(4, '{"Width": 100, "Height": 40}')
    output = ""
    deadline = time.monotonic() + 15
    resp.write_stdin("stty size\n")
    while "40 100" not in output:
        assert time.monotonic() < deadline, output
        resp.update(timeout=0.5)
        output += resp.read_stdout() if resp.peek_stdout() else ""
    # with a tty there is no stderr channel: everything comes on stdout
    resp.write_stdin("echo to-stderr >&2; exit 7\n")
    resp.run_forever(timeout=20)
    output += resp.read_stdout() if resp.peek_stdout() else ""
    assert "to-stderr\r\n" in output, output
    assert not resp.peek_stderr()
    assert resp.returncode == 7
    resp.close()


def test_attach(api: client.CoreV1Api, box: Namespace) -> None:
    resp = stream(
        api.connect_get_namespaced_pod_attach,
        "box",
        box.name,
        container="talker",
        stdin=True,
        stdout=True,
        stderr=True,
        tty=False,
        _preload_content=False,
    )
    resp.write_stdin("one\n")
    assert resp.readline_stdout(timeout=10) == "heard one"
    resp.write_stdin("two\n")
    assert resp.readline_stdout(timeout=10) == "heard two"
    resp.close()
    # what the attach sent is in the container's log too
    log = api.read_namespaced_pod_log("box", box.name, container="talker")
    assert log == "talker up\nheard one\nheard two\n"


def test_logs(api: client.CoreV1Api, box: Namespace) -> None:
    assert api.read_namespaced_pod_log("box", box.name, container="talker", tail_lines=1) == (
        "talker up\n"
    )
    stamped = api.read_namespaced_pod_log("box", box.name, container="talker", timestamps=True)
    assert stamped.endswith("Z talker up\n")
    # follow, streamed: the first line arrives while the container still runs
    follow: Any = api.read_namespaced_pod_log(
        "box", box.name, container="talker", follow=True, _preload_content=False
    )
    try:
        assert follow.readline() == b"talker up\n"
    finally:
        follow.release_conn()
    with pytest.raises(ApiException) as caught:
        api.read_namespaced_pod_log("box", box.name)
    assert caught.value.status == 400
    assert "a container name must be specified for pod box, choose one of: [main web talker]" in (
        str(caught.value.body)
    )


def http_get(sock: Any) -> bytes:
    sock.sendall(b"GET / HTTP/1.0\r\nHost: pod\r\n\r\n")
    reply = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return reply
        reply += chunk


def test_portforward(api: client.CoreV1Api, box: Namespace) -> None:
    def one_request(_: int) -> bytes:
        forward = portforward(
            api.connect_get_namespaced_pod_portforward, "box", box.name, ports="8080"
        )
        try:
            sock = forward.socket(8080)
            sock.settimeout(20)
            reply = http_get(sock)
            sock.close()
            assert forward.error(8080) is None
            return reply
        finally:
            forward.close()

    reply = one_request(0)
    assert reply.startswith(b"HTTP/1.0 200 OK\r\n"), reply
    assert reply.endswith(b"\r\n\r\nhi from web\n"), reply
    # several forwards at once
    with ThreadPoolExecutor(6) as pool:
        replies = list(pool.map(one_request, range(12)))
    assert all(r.endswith(b"\r\n\r\nhi from web\n") for r in replies), replies


def test_portforward_to_a_closed_port_reports_an_error(
    api: client.CoreV1Api, box: Namespace
) -> None:
    forward = portforward(api.connect_get_namespaced_pod_portforward, "box", box.name, ports="9")
    try:
        sock = forward.socket(9)
        sock.settimeout(20)
        try:
            sock.sendall(b"x")
            sock.recv(1)
        except OSError:
            pass
        deadline = time.monotonic() + 20
        while forward.error(9) is None:
            assert time.monotonic() < deadline, "no error on the error channel"
            time.sleep(0.1)
        assert "connection refused" in forward.error(9)
    finally:
        forward.close()


def test_exec_into_a_missing_container_is_refused(api: client.CoreV1Api, box: Namespace) -> None:
    with pytest.raises(ApiException) as caught:
        exec_in(api, box, ["true"], container="nope")
    # the handshake's answer (the client puts it in the reason): 400 with upstream's message
    reason = str(caught.value.reason)
    assert "Handshake status 400" in reason, reason
    assert "container nope is not valid for pod box" in reason, reason
