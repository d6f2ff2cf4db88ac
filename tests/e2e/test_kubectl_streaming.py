"""logs, exec, attach, cp and port-forward with real kubectl against ``pocketkube server``
(issue 6).

kubectl → API server (pods/log, exec, attach, portforward) → the node's kubelet server → the
runtime's streaming server. One ``pocketkube server`` with its kubelet serves the whole module;
each test has its own namespace. Containers are host processes running host tools (``sh``,
``cat``, ``tar``, ``python3``), so a pod's files are host paths. kubectl's own output and exit
codes are the oracle, with upstream's messages for bad requests; the kubelet's server is also
called directly (its port from the Node's ``daemonEndpoints``) with and without a client
certificate.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import pty
import re
import select
import signal
import ssl
import struct
import subprocess
import termios
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import yaml

from tests.e2e.conftest import Cluster, free_port
from tests.e2e.lifecycle_util import Namespace, conditions, container_status, namespace, phase

RFC3339_NANO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z ")


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

HTTP_SCRIPT = (
    "mkdir -p $POCKETKUBE_ROOT/www && cd $POCKETKUBE_ROOT/www"
    " && echo served by the pod > index.html"
    " && head -c 3000000 /dev/urandom > big.bin"
    " && exec python3 -m http.server 8080"
)
WEB = (
    pod_manifest(
        "web",
        f"""\
  terminationGracePeriodSeconds: 1
  containers:
  - name: http
    image: python
    command: [sh, -c, "{HTTP_SCRIPT}"]
    ports: [{{containerPort: 8080, name: http}}]
    readinessProbe: {{tcpSocket: {{port: 8080}}, periodSeconds: 1}}
""",
        labels="{app: web}",
    )
    + """\
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
"""
)


def kc(ns: Namespace, *args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """kubectl in the namespace, ``-n`` first (what follows ``--`` is the container's command)."""
    return ns.cluster.kubectl("-n", ns.name, *args, **kwargs)


def running(ns: Namespace, *names: str, timeout: float = 30) -> dict[str, Any]:
    return ns.wait(
        lambda pods: all(n in pods and phase(pods[n]) == "Running" for n in names),
        f"{', '.join(names)} Running",
        timeout=timeout,
    )


def ready(ns: Namespace, name: str) -> dict[str, Any]:
    return ns.wait(
        lambda pods: (
            name in pods and conditions(pods[name]).get("Ready", {}).get("status") == "True"
        ),
        f"{name} Ready",
    )


def kubectl_cmd(cluster: Cluster, *args: str) -> list[str]:
    return [
        "kubectl",
        "--kubeconfig",
        str(cluster.kubeconfig),
        "--cache-dir",
        str(cluster.cache_dir),
        *args,
    ]


# -- logs -----------------------------------------------------------------------------------------


def test_logs_tail_timestamps_and_since(node_cluster: Cluster) -> None:
    with namespace(node_cluster, "logs") as ns:
        ns.apply(
            pod_manifest(
                "p",
                """\
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'for i in 1 2 3 4 5; do echo line $i; done; echo oops >&2; sleep 4; echo late; exec sleep 1000']
""",  # noqa: E501
            )
        )
        running(ns, "p")
        deadline = time.monotonic() + 20
        while "late" not in kc(ns, "logs", "p").stdout:
            assert time.monotonic() < deadline, "the late line never came"
            time.sleep(0.2)
        # both streams, in order
        assert kc(ns, "logs", "p").stdout == (
            "line 1\nline 2\nline 3\nline 4\nline 5\noops\nlate\n"
        )
        # --since: only what came in the last 3 s (the late line; the rest came 4 s before)
        assert kc(ns, "logs", "p", "--since=3s").stdout == "late\n"
        assert kc(ns, "logs", "p", "--since=1h").stdout.count("\n") == 7
        assert kc(ns, "logs", "p", "--tail=2").stdout == "oops\nlate\n"
        assert kc(ns, "logs", "p", "--tail=0").stdout == ""
        assert kc(ns, "logs", "p", "--limit-bytes=10").stdout == "line 1\nlin"
        stamped = kc(ns, "logs", "p", "--timestamps", "--tail=3").stdout.splitlines()
        assert len(stamped) == 3, stamped
        for line, text in zip(stamped, ("line 5", "oops", "late"), strict=True):
            assert RFC3339_NANO.match(line), line
            assert line.split(" ", 1)[1] == text
        # --since-time (seconds precision on the wire): from the late line's second on
        stamp = stamped[2].split(" ", 1)[0]
        since = stamp.split(".")[0] + "Z"
        assert kc(ns, "logs", "p", f"--since-time={since}").stdout == "late\n"


def test_logs_follow_sees_new_lines_and_returns_when_the_container_exits(
    node_cluster: Cluster,
) -> None:
    with namespace(node_cluster, "follow") as ns:
        ns.apply(
            pod_manifest(
                "p",
                """\
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'for i in 1 2 3 4 5 6; do echo tick $i; sleep 1; done']
""",
            )
        )
        running(ns, "p")
        started = time.monotonic()
        follower = subprocess.Popen(
            kubectl_cmd(ns.cluster, "logs", "-f", "p", "-n", ns.name),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            out, err = follower.communicate(timeout=30)
        finally:
            follower.kill()
        assert follower.returncode == 0, err
        # every tick, including those written after kubectl started (it ran ~6 s)
        assert out == "".join(f"tick {i}\n" for i in range(1, 7)), out
        assert time.monotonic() - started > 2  # it really followed, did not just read a file
        pod = ns.wait(
            lambda pods: phase(pods["p"]) == "Succeeded", "the pod Succeeded", timeout=20
        )["p"]
        assert phase(pod) == "Succeeded"
        # logs of a finished container are still served, and -f returns at once
        assert kc(ns, "logs", "-f", "p").stdout == out


def test_logs_previous_after_a_restart(node_cluster: Cluster) -> None:
    with namespace(node_cluster, "previous") as ns:
        ns.apply(
            pod_manifest(
                "p",
                """\
  terminationGracePeriodSeconds: 1
  volumes: [{name: state, emptyDir: {}}]
  containers:
  - name: c
    image: busybox
    volumeMounts: [{name: state, mountPath: /state}]
    command: [sh, -c, 'if [ -e $POCKETKUBE_ROOT/state/once ]; then echo second run; exec sleep 1000; fi; touch $POCKETKUBE_ROOT/state/once; echo first run; exit 1']
""",  # noqa: E501
            )
        )
        ns.wait(
            lambda pods: (
                container_status(pods["p"], "c").get("restartCount") == 1
                and "running" in container_status(pods["p"], "c").get("state", {})
            ),
            "the container restarted once",
        )
        assert kc(ns, "logs", "p", "--previous").stdout == "first run\n"
        deadline = time.monotonic() + 10
        while (current := kc(ns, "logs", "p").stdout) != "second run\n":
            assert time.monotonic() < deadline, current
            time.sleep(0.2)

        # no previous instance: the kubelet's words, relayed by the API server as a Status
        ns.apply(SLEEPER)
        running(ns, "sleeper")
        failed = kc(ns, "logs", "sleeper", "-c", "main", "--previous", check=False)
        assert failed.returncode == 1
        assert (
            'Error from server (BadRequest): previous terminated container "main" in pod '
            '"sleeper" not found' in failed.stderr
        ), failed.stderr


# -- exec -----------------------------------------------------------------------------------------


def test_exec_prints_both_streams_and_exits_with_the_commands_code(node_cluster: Cluster) -> None:
    with namespace(node_cluster, "exec") as ns:
        ns.apply(SLEEPER)
        running(ns, "sleeper")
        result = kc(
            ns,
            "exec",
            "sleeper",
            "-c",
            "main",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
            check=False,
        )
        assert result.returncode == 3, result
        assert result.stdout == "out\n"
        assert result.stderr.startswith("err\n"), result.stderr
        ok = kc(ns, "exec", "sleeper", "-c", "side", "--", "sh", "-c", "echo fine")
        assert (ok.returncode, ok.stdout) == (0, "fine\n")
        # the command runs in the container's environment
        env = kc(ns, "exec", "sleeper", "-c", "main", "--", "sh", "-c", "echo $HOSTNAME")
        assert env.stdout == "sleeper\n"
        # a command that does not exist: the runtime's error, kubectl fails
        missing = kc(ns, "exec", "sleeper", "-c", "main", "--", "no-such-cmd-pk", check=False)
        assert missing.returncode != 0


def test_exec_with_stdin_piped(node_cluster: Cluster) -> None:
    with namespace(node_cluster, "stdin") as ns:
        ns.apply(SLEEPER)
        running(ns, "sleeper")
        echoed = kc(ns, "exec", "-i", "sleeper", "-c", "main", "--", "cat", stdin="hello\n")
        assert echoed.stdout == "hello\n"
        # a bigger stdin, ended by the half-close
        data = "".join(f"{i:07d}\n" for i in range(125_000))  # 1,000,000 bytes
        counted = kc(ns, "exec", "-i", "sleeper", "-c", "main", "--", "wc", "-c", stdin=data)
        assert counted.stdout.strip() == "1000000"
        digest = kc(
            ns, "exec", "-i", "sleeper", "-c", "main", "--", "sha256sum", stdin=data
        ).stdout.split()[0]
        assert digest == hashlib.sha256(data.encode()).hexdigest()


@contextmanager
def in_terminal(argv: list[str], rows: int, cols: int) -> Iterator[tuple[int, int]]:
    """Run ``argv`` as the session leader of a new pseudo-terminal of ``rows`` x ``cols``;
    yields (pid, master fd)."""
    pid, master = pty.fork()
    if pid == 0:  # the child: its controlling terminal is the pty's slave
        try:
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    try:
        yield pid, master
    finally:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        with suppress(ChildProcessError):
            os.waitpid(pid, 0)
        os.close(master)


class Screen:
    """What the terminal showed, read from the pty's master."""

    def __init__(self, master: int) -> None:
        self.master = master
        self.text = ""

    def read(self, timeout: float) -> bool:
        ready_fds, _, _ = select.select([self.master], [], [], timeout)
        if not ready_fds:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: the slave side is closed
            return False
        if not chunk:
            return False
        self.text += chunk.decode(errors="replace")
        return True

    def wait_for(self, pattern: str, timeout: float = 15, send: bytes = b"") -> re.Match[str]:
        deadline = time.monotonic() + timeout
        start = len(self.text)
        if send:
            os.write(self.master, send)
        while True:
            found = re.search(pattern, self.text[start:])
            if found:
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"no {pattern!r} on the terminal:\n{self.text[-2000:]!r}")
            if not self.read(0.2):
                found = re.search(pattern, self.text[start:])
                if found:
                    return found
                raise AssertionError(f"the terminal closed:\n{self.text[-2000:]!r}")


def test_exec_it_through_a_pseudo_terminal_with_a_resize(node_cluster: Cluster) -> None:
    with namespace(node_cluster, "tty") as ns:
        ns.apply(SLEEPER)
        running(ns, "sleeper")
        argv = kubectl_cmd(
            ns.cluster, "exec", "-it", "sleeper", "-c", "main", "-n", ns.name, "--", "sh"
        )
        with in_terminal(argv, 24, 80) as (pid, master):
            screen = Screen(master)
            # an interactive shell on a terminal: it is a tty, of the client's size
            screen.wait_for(r"42\r\n", send=b"echo $((6*7))\n")
            screen.wait_for(r"/dev/pts/\d+\r\n", send=b"tty\n")
            screen.wait_for(r"\b24 80\r\n", send=b"stty size\n")
            # the window grows: kubectl sends the new size, the container's terminal follows
            fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 132, 0, 0))
            deadline = time.monotonic() + 15
            while True:
                try:
                    screen.wait_for(r"\b50 132\r\n", timeout=1, send=b"stty size\n")
                    break
                except AssertionError:
                    if time.monotonic() > deadline:
                        raise
            # stderr comes through the terminal too
            screen.wait_for(r"to-stderr\r\n", send=b"echo to-stderr >&2\n")
            os.write(master, b"exit 4\n")
            deadline = time.monotonic() + 15
            while screen.read(0.2) and time.monotonic() < deadline:
                pass
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 4, screen.text[-2000:]


# -- attach ---------------------------------------------------------------------------------------


def test_attach_with_stdin_and_to_output(node_cluster: Cluster) -> None:
    with namespace(node_cluster, "attach") as ns:
        ns.apply(
            pod_manifest(
                "reader",
                """\
  restartPolicy: Never
  containers:
  - name: c
    image: busybox
    stdin: true
    stdinOnce: true
    command: [sh, -c, 'while read line; do echo "got $line"; done; echo bye']
""",
            )
            + pod_manifest(
                "ticker",
                """\
  terminationGracePeriodSeconds: 1
  containers:
  - name: c
    image: busybox
    command: [sh, -c, 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.3; done']
""",
            )
        )
        running(ns, "reader", "ticker")
        attached = kc(ns, "attach", "-i", "reader", "-c", "c", stdin="a\nb\n", check=False)
        assert attached.returncode == 0, attached
        assert attached.stdout.splitlines()[-3:] == ["got a", "got b", "bye"], attached.stdout
        # stdinOnce: the container's stdin closed with the first attach, so it ended
        pods = ns.wait(
            lambda pods: phase(pods["reader"]) == "Succeeded", "the reader Succeeded", timeout=20
        )
        assert phase(pods["reader"]) == "Succeeded"

        # attach without stdin: the output as it comes
        watcher = subprocess.Popen(
            kubectl_cmd(ns.cluster, "attach", "ticker", "-n", ns.name),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert watcher.stdout is not None
            seen = [watcher.stdout.readline() for _ in range(3)]
        finally:
            watcher.kill()
            watcher.communicate()
        numbers = [int(line.split()[1]) for line in seen]
        assert numbers == list(range(numbers[0], numbers[0] + 3)), seen
        # it starts at what is printed now, not at the log's beginning
        assert numbers[0] > 1, seen


# -- cp -------------------------------------------------------------------------------------------


def test_cp_both_directions(node_cluster: Cluster, tmp_path: Path) -> None:
    with namespace(node_cluster, "cp") as ns:
        ns.apply(SLEEPER)
        running(ns, "sleeper")
        local = tmp_path / "local"
        (local / "sub").mkdir(parents=True)
        (local / "hello.txt").write_text("hello from the client\n")
        blob = os.urandom(500_000)
        (local / "sub" / "blob.bin").write_bytes(blob)
        in_pod = tmp_path / "in-pod"  # a host path: the container's filesystem is the host's
        in_pod.mkdir()
        kc(ns, "cp", str(local), f"{ns.name}/sleeper:{in_pod}/copied", "-c", "main")
        assert (in_pod / "copied" / "hello.txt").read_text() == "hello from the client\n"
        assert (in_pod / "copied" / "sub" / "blob.bin").read_bytes() == blob
        listing = kc(ns, "exec", "sleeper", "-c", "main", "--", "ls", f"{in_pod}/copied")
        assert listing.stdout.split() == ["hello.txt", "sub"]

        # and back: a file made in the pod
        kc(
            ns,
            "exec",
            "sleeper",
            "-c",
            "main",
            "--",
            "sh",
            "-c",
            f"echo made in the pod > {in_pod}/made.txt",
        )
        back = tmp_path / "back"
        kc(ns, "cp", f"{ns.name}/sleeper:{in_pod}/made.txt", str(back / "made.txt"))
        assert (back / "made.txt").read_text() == "made in the pod\n"
        kc(ns, "cp", f"{ns.name}/sleeper:{in_pod}/copied", str(back / "dir"))
        assert (back / "dir" / "sub" / "blob.bin").read_bytes() == blob
        assert (back / "dir" / "hello.txt").read_text() == "hello from the client\n"


# -- port-forward ---------------------------------------------------------------------------------


@contextmanager
def port_forward(ns: Namespace, target: str, ports: str) -> Iterator[subprocess.Popen[str]]:
    forward = subprocess.Popen(
        kubectl_cmd(ns.cluster, "port-forward", "-n", ns.name, target, ports),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert forward.stdout is not None
        line = forward.stdout.readline()
        if not line.startswith("Forwarding from 127.0.0.1:"):
            forward.kill()
            _, err = forward.communicate()
            raise AssertionError(f"kubectl port-forward {target} {ports}: {line!r} {err}")
        yield forward
    finally:
        forward.kill()
        forward.communicate()


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=20) as reply:
        return reply.read()  # type: ignore[no-any-return]


def test_port_forward_to_a_pod_and_a_service(node_cluster: Cluster) -> None:
    with namespace(node_cluster, "pf") as ns:
        ns.apply(WEB)
        ready(ns, "web")
        local = free_port()
        with port_forward(ns, "pod/web", f"{local}:8080") as forward:
            assert fetch(f"http://127.0.0.1:{local}/") == b"served by the pod\n"
            # several connections at once through the one forward
            with ThreadPoolExecutor(8) as pool:
                bodies = list(pool.map(fetch, [f"http://127.0.0.1:{local}/"] * 24))
                blobs = list(pool.map(fetch, [f"http://127.0.0.1:{local}/big.bin"] * 4))
            assert bodies == [b"served by the pod\n"] * 24
            assert {len(b) for b in blobs} == {3_000_000}
            assert len({hashlib.sha256(b).digest() for b in blobs}) == 1
            assert forward.poll() is None
        # the same through the Service (kubectl picks a pod and maps port 80 to targetPort)
        local = free_port()
        with port_forward(ns, "svc/web", f"{local}:80"):
            with ThreadPoolExecutor(4) as pool:
                bodies = list(pool.map(fetch, [f"http://127.0.0.1:{local}/"] * 8))
            assert bodies == [b"served by the pod\n"] * 8


def test_port_forward_to_a_closed_port_reports_the_error(node_cluster: Cluster) -> None:
    with namespace(node_cluster, "pferr") as ns:
        ns.apply(WEB)
        ready(ns, "web")
        local = free_port()
        with port_forward(ns, "pod/web", f"{local}:9") as forward:
            try:
                fetch(f"http://127.0.0.1:{local}/")
                raise AssertionError("a closed port answered")
            except (OSError, urllib.error.URLError):
                pass
            forward.kill()
            _, err = forward.communicate()
        assert "error forwarding port 9 to pod" in err, err
        assert "connection refused" in err, err


# -- bad requests ---------------------------------------------------------------------------------


def test_bad_requests_get_upstreams_status(node_cluster: Cluster) -> None:
    with namespace(node_cluster, "bad") as ns:
        ns.apply(SLEEPER)
        running(ns, "sleeper")
        missing = kc(ns, "exec", "sleeper", "-c", "nope", "--", "true", check=False)
        assert missing.returncode == 1
        assert "container nope is not valid for pod sleeper" in missing.stderr, missing.stderr
        logs = kc(ns, "logs", "sleeper", "-c", "nope", check=False)
        assert logs.returncode == 1  # (kubectl checks the name itself; the server too:)
        assert "container nope is not valid for pod sleeper" in logs.stderr, logs.stderr
        raw_nope = kc(
            ns,
            "get",
            "--raw",
            f"/api/v1/namespaces/{ns.name}/pods/sleeper/log?container=nope",
            check=False,
        )
        assert (
            "Error from server (BadRequest): container nope is not valid for pod sleeper"
            in raw_nope.stderr
        ), raw_nope.stderr
        raw = kc(ns, "get", "--raw", f"/api/v1/namespaces/{ns.name}/pods/sleeper/log", check=False)
        assert (
            "a container name must be specified for pod sleeper, choose one of: [main side]"
            in raw.stderr
        ), raw.stderr
        gone = kc(ns, "exec", "nosuchpod", "--", "true", check=False)
        assert 'pods "nosuchpod" not found' in gone.stderr, gone.stderr
        escape = kc(
            ns,
            "get",
            "--raw",
            f"/api/v1/namespaces/{ns.name}/pods/sleeper/log?container=..%2F..%2F..%2Fetc",
            check=False,
        )
        assert escape.returncode == 1
        assert "root:" not in escape.stdout


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
