"""A second node joins with `pocketkube agent --server URL --token TOKEN` (issue 5).

The server makes the join token (DATA_DIR/node-token); the agent finds and verifies the cluster
through the signed cluster-info ConfigMap, then its kubelet asks for a client certificate with a
CSR that the controller-manager approves and signs. The node registers and runs a pod pinned to
it; a wrong token is refused with kubeadm's messages; a restart keeps the certificate.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pocketkube.runtime.process.logs import read_log
from pocketkube.runtime.process.teardown import teardown_node
from tests.e2e.conftest import Cluster
from tests.e2e.nodecluster import node_cluster_at, wait_for

NODE = "agent-node-1"
JOIN_TIMEOUT = 90.0


class Agent:
    """One `pocketkube agent` process (which becomes the kubelet), its output in a log file."""

    def __init__(self, cluster: Cluster, root: Path, *extra: str, token: str | None = None):
        self.root = root
        self.log = root.parent / f"{root.name}.log"
        self.args = [
            sys.executable,
            "-m",
            "pocketkube.cli",
            "agent",
            "--server",
            f"https://127.0.0.1:{cluster.port}",
            "--token",
            token if token is not None else node_token(cluster),
            "--node-name",
            NODE,
            "--root-dir",
            str(root),
            "--pod-cidr",
            "10.42.1.0/24",
            # Two nodes share this machine: each needs its own bridge for its pod CIDR.
            "--kubelet-arg=--cni-bridge=pk1",
            "--kubelet-arg=--pleg-period=0.5",
            "--kubelet-arg=--node-status-update-frequency=2",
            *extra,
        ]
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Agent:
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(self.args, stdout=out, stderr=subprocess.STDOUT)
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


def node_token(cluster: Cluster) -> str:
    path = cluster.data_dir / "node-token"
    wait_for(path.exists, 30, "the server's node-token")
    return path.read_text().strip()


def node_ready(cluster: Cluster, name: str) -> bool:
    result = cluster.kubectl("get", "node", name, "-o", "json", check=False)
    if result.returncode != 0:
        return False
    conditions = json.loads(result.stdout)["status"].get("conditions") or []
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def node_csrs(cluster: Cluster) -> list[dict[str, object]]:
    items = json.loads(cluster.kubectl("get", "csr", "-o", "json").stdout)["items"]
    return [
        csr
        for csr in items
        if csr["spec"]["signerName"] == "kubernetes.io/kube-apiserver-client-kubelet"
    ]


@pytest.fixture(scope="module")
def joined(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, Agent]]:
    if shutil.which("kubectl") is None:
        pytest.skip("kubectl is not installed")
    base = tmp_path_factory.mktemp("join")
    with contextlib.contextmanager(node_cluster_at)(base) as cluster:
        agent = Agent(cluster, base / "agent").start()
        try:
            wait_for(
                lambda: node_ready(cluster, NODE) or agent.exited(),
                JOIN_TIMEOUT,
                "the agent's node to be Ready",
            )
            assert not agent.exited(), agent.output()
            yield cluster, agent
        finally:
            agent.stop()
            teardown_node(agent.root)


def test_the_server_prints_how_to_join_and_keeps_the_token_private(
    joined: tuple[Cluster, Agent],
) -> None:
    cluster, _ = joined
    token = cluster.data_dir / "node-token"
    assert oct(os.stat(token).st_mode & 0o777) == "0o600"
    assert token.read_text().startswith("K10")
    log = (cluster.data_dir.parent / f"{cluster.data_dir.name}.log").read_text()
    assert (
        f'pocketkube agent --server https://127.0.0.1:{cluster.port} --token "$(cat {token})"'
        in log
    )
    secret_id = token.read_text().strip().split("::")[1].split(".")[0]
    secret = json.loads(
        cluster.kubectl(
            "get", "secret", "-n", "kube-system", f"bootstrap-token-{secret_id}", "-o", "json"
        ).stdout
    )
    assert secret["type"] == "bootstrap.kubernetes.io/token"


def test_the_node_joined_with_an_approved_and_issued_csr(joined: tuple[Cluster, Agent]) -> None:
    cluster, agent = joined
    token_id = node_token(cluster).split("::")[1].split(".")[0]
    (csr,) = node_csrs(cluster)
    assert csr["spec"]["username"] == f"system:bootstrap:{token_id}"  # type: ignore[index]
    assert "system:bootstrappers" in csr["spec"]["groups"]  # type: ignore[index]
    table = cluster.kubectl("get", "csr", str(csr["metadata"]["name"])).stdout  # type: ignore[index]
    header, row = table.splitlines()
    assert header.split() == [
        "NAME",
        "AGE",
        "SIGNERNAME",
        "REQUESTOR",
        "REQUESTEDDURATION",
        "CONDITION",
    ]
    assert f"system:bootstrap:{token_id}" in row.split()
    assert row.split()[-1] == "Approved,Issued"
    pem = agent.root / "pki" / "kubelet-client-current.pem"
    assert pem.is_symlink()
    assert oct(os.stat(pem).st_mode & 0o777) == "0o600"
    node = json.loads(cluster.kubectl("get", "node", NODE, "-o", "json").stdout)
    assert node["spec"]["podCIDR"] == "10.42.1.0/24"
    assert "node-role.kubernetes.io/control-plane" not in node["metadata"]["labels"]


def test_a_pod_pinned_to_the_node_runs_there(joined: tuple[Cluster, Agent]) -> None:
    cluster, agent = joined
    cluster.kubectl("create", "namespace", "join")
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "on-agent", "namespace": "join"},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": NODE},
            "restartPolicy": "Never",
            "containers": [{"name": "c", "image": "busybox", "command": ["echo", "joined"]}],
        },
    }
    cluster.kubectl("apply", "-f", "-", stdin=json.dumps(pod))

    def phase() -> str:
        got = cluster.kubectl("get", "pod", "-n", "join", "on-agent", "-o", "json", check=False)
        return json.loads(got.stdout)["status"].get("phase", "") if got.returncode == 0 else ""

    try:
        wait_for(lambda: phase() in ("Succeeded", "Failed"), 60, "the pod to finish")
    except AssertionError:
        described = cluster.kubectl("describe", "pod", "-n", "join", "on-agent", check=False)
        raise AssertionError(f"{described.stdout}\n{agent.output()[-4000:]}") from None
    got = json.loads(cluster.kubectl("get", "pod", "-n", "join", "on-agent", "-o", "json").stdout)
    assert got["status"]["phase"] == "Succeeded", got["status"]
    assert got["spec"]["nodeName"] == NODE
    if os.geteuid() == 0:  # its own address, from the node's pod CIDR
        assert got["status"]["podIP"].startswith("10.42.1."), got["status"]
    # It ran under the agent's kubelet: its log is in that node's root directory.
    logs = agent.root / "logs" / f"join_on-agent_{got['metadata']['uid']}" / "c"
    lines = read_log(next(logs.glob("*.log")))
    assert [line[1].strip() for line in lines] == ["joined"]


@pytest.mark.parametrize(
    ("token_of", "extra", "message"),
    [
        (
            lambda t: t[: -len("0123456789abcdef")] + "0123456789abcdef",
            (),
            "failed to verify JWS signature of received cluster info object, "
            "can't trust this API Server",
        ),
        (
            lambda t: "zzzzzz." + t[-16:],
            ("--discovery-timeout", "1"),
            'could not find a JWS signature in the cluster-info ConfigMap for token ID "zzzzzz"',
        ),
        (
            lambda t: t.split("::")[1],
            ("--ca-cert-hash", "sha256:" + "00" * 32),
            "cluster CA found in cluster-info ConfigMap is invalid: none of the public keys",
        ),
        (lambda t: "not-a-token", (), "the bootstrap token was not of the form"),
    ],
)
def test_a_wrong_token_is_refused(
    joined: tuple[Cluster, Agent],
    tmp_path: Path,
    token_of: Callable[[str], str],
    extra: tuple[str, ...],
    message: str,
) -> None:
    cluster, _ = joined
    token = token_of(node_token(cluster))
    agent = Agent(cluster, tmp_path / "wrong", *extra, token=token)
    agent.args[agent.args.index("--node-name") + 1] = "wrong-node"
    result = subprocess.run(agent.args, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert message in result.stderr, result.stdout + result.stderr
    assert not (tmp_path / "wrong" / "bootstrap-kubelet.kubeconfig").exists()
    assert cluster.kubectl("get", "node", "wrong-node", check=False).returncode != 0


def test_a_restart_reuses_the_certificate(joined: tuple[Cluster, Agent]) -> None:
    cluster, agent = joined
    before = os.readlink(agent.root / "pki" / "kubelet-client-current.pem")
    csrs = len(node_csrs(cluster))
    agent.stop()
    agent.start()
    wait_for(lambda: "already joined" in agent.output(), 30, "the agent to restart")
    wait_for(lambda: node_ready(cluster, NODE), JOIN_TIMEOUT, "the node to be Ready again")
    assert not agent.exited(), agent.output()
    assert os.readlink(agent.root / "pki" / "kubelet-client-current.pem") == before
    assert len(node_csrs(cluster)) == csrs
