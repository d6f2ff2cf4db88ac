"""``pocketkube agent``'s token discovery: what it trusts, what it refuses, what it writes."""

from __future__ import annotations

import asyncio
import base64
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from pocketkube.api import bootstraptoken as bt
from pocketkube.cli import agent as ag
from pocketkube.cli.jointoken import JoinToken, ca_hashes
from pocketkube.client import ApiError, ClientConfig, TransportError, load_kubeconfig
from pocketkube.client.rest import Obj, Params
from tests.unit.cli.test_jointoken import ca_pem

TOKEN = JoinToken("abcdef", "0123456789abcdef")
SERVER = "https://10.0.0.1:6443"
CA = ca_pem()


def info_kubeconfig(ca: bytes = CA, server: str = "https://127.0.0.1:6443") -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "",
                    "cluster": {
                        "server": server,
                        "certificate-authority-data": base64.b64encode(ca).decode(),
                    },
                }
            ],
            "users": [],
            "contexts": [],
        }
    )


def cluster_info(kubeconfig: str, *tokens: JoinToken) -> Obj:
    data = {bt.KUBECONFIG_KEY: kubeconfig}
    for token in tokens:
        data[bt.JWS_KEY_PREFIX + token.token_id] = bt.detached_signature(
            kubeconfig, token.token_id, token.token_secret
        )
    return {"metadata": {"name": "cluster-info", "namespace": "kube-public"}, "data": data}


@pytest.mark.parametrize(
    ("data_of", "message"),
    [
        (lambda: {}, "there is no kubeconfig key in the cluster-info ConfigMap"),
        (lambda: {bt.KUBECONFIG_KEY: "x"}, 'token id "abcdef" is invalid for this cluster'),
        (
            lambda: {
                bt.KUBECONFIG_KEY: "x",
                "jws-kubeconfig-abcdef": bt.detached_signature("x", "abcdef", "ffffffffffffffff"),
            },
            "failed to verify JWS signature of received cluster info object",
        ),
        (
            lambda: {
                bt.KUBECONFIG_KEY: "y",
                "jws-kubeconfig-abcdef": bt.detached_signature("x", "abcdef", "0123456789abcdef"),
            },
            "failed to verify JWS signature",
        ),
    ],
)
def test_cluster_info_is_trusted_only_with_the_tokens_signature(
    data_of: Callable[[], dict[str, str]], message: str
) -> None:
    with pytest.raises(ag.DiscoveryError, match=message):
        ag.validate_cluster_info({"data": data_of()}, TOKEN)


def test_a_signed_cluster_info_gives_its_kubeconfig_and_ca() -> None:
    kubeconfig = info_kubeconfig()
    assert ag.validate_cluster_info(cluster_info(kubeconfig, TOKEN), TOKEN) == kubeconfig
    assert ag.cluster_ca(kubeconfig) == CA
    with pytest.raises(ag.DiscoveryError, match="malformed kubeconfig in the cluster-info"):
        ag.cluster_ca("clusters: []")


def test_the_ca_must_match_a_pin_when_there_is_one() -> None:
    (pin,) = ca_hashes(CA)
    ag.check_pins(CA, [])
    ag.check_pins(CA, ["sha256:" + "00" * 32, pin])
    with pytest.raises(ag.DiscoveryError, match=f'none of the public keys "{pin}" are pinned'):
        ag.check_pins(CA, ["sha256:" + "00" * 32])


class FakeServer:
    """Answers GET cluster-info; ``insecure`` and ``verified`` list the answers in turn."""

    def __init__(self, insecure: list[Obj | ApiError], verified: list[Obj | ApiError]) -> None:
        self.answers = {True: insecure, False: verified}
        self.configs: list[ClientConfig] = []

    def __call__(self, *, config: ClientConfig, timeout: float) -> FakeServer:
        self.configs.append(config)
        self._insecure = config.insecure_skip_tls_verify
        return self

    async def __aenter__(self) -> FakeServer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def get(self, path: str, *, params: Params | None = None) -> Obj:
        assert path == "/api/v1/namespaces/kube-public/configmaps/cluster-info"
        answers = self.answers[self._insecure]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, ApiError):
            raise answer
        return answer


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ag, "RETRY_INTERVAL", 0.01)


def options(tmp_path: Path, token: JoinToken = TOKEN, **kwargs: Any) -> ag.AgentOptions:
    return ag.AgentOptions(
        server=SERVER, token=token, node_name="n2", root_dir=tmp_path / "root", **kwargs
    )


async def test_discovery_waits_for_the_signature_then_verifies_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast: None
) -> None:
    kubeconfig = info_kubeconfig()
    unsigned = cluster_info(kubeconfig)
    signed = cluster_info(kubeconfig, TOKEN)
    server = FakeServer([TransportError("refused"), unsigned, signed], [signed])
    monkeypatch.setattr(ag, "Client", server)
    (pin,) = ca_hashes(CA)
    token = JoinToken(TOKEN.token_id, TOKEN.token_secret, pin)
    assert await ag.discover(options(tmp_path, token)) == CA
    first, *_, last = server.configs
    assert first.insecure_skip_tls_verify
    assert first.token is None  # anonymous
    assert first.server == SERVER
    assert not last.insecure_skip_tls_verify
    assert last.ca_data == CA
    assert last.server == SERVER  # --server, not cluster-info's loopback address


@pytest.mark.parametrize(
    ("insecure", "verified", "kwargs", "message"),
    [
        (
            [cluster_info(info_kubeconfig())],
            [],
            {"discovery_timeout": 0.05},
            'could not find a JWS signature in the cluster-info ConfigMap for token ID "abcdef"',
        ),
        (
            [ApiError(401, "Unauthorized", "Unauthorized")],
            [],
            {"discovery_timeout": 0.05},
            "failed to request the cluster-info ConfigMap: 401",
        ),
        (
            [cluster_info(info_kubeconfig(), JoinToken("abcdef", "ffffffffffffffff"))],
            [],
            {},
            "failed to verify JWS signature",
        ),
        (
            [cluster_info(info_kubeconfig(), TOKEN)],
            [],
            {"ca_cert_hashes": ("sha256:" + "00" * 32,)},
            "cluster CA found in cluster-info ConfigMap is invalid",
        ),
        (
            [cluster_info(info_kubeconfig(), TOKEN)],
            [TransportError("certificate verify failed")],
            {"discovery_timeout": 0.05},
            "the API server failed TLS verification with its CA",
        ),
        (
            [cluster_info(info_kubeconfig(), TOKEN)],
            [cluster_info(info_kubeconfig(server="https://evil:1"), TOKEN)],
            {},
            "the second kubeconfig from the cluster-info ConfigMap .* was different",
        ),
    ],
)
async def test_discovery_refuses_with_a_clear_message(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fast: None,
    insecure: list[Obj | ApiError],
    verified: list[Obj | ApiError],
    kwargs: dict[str, Any],
    message: str,
) -> None:
    monkeypatch.setattr(ag, "Client", FakeServer(insecure, verified))
    with pytest.raises(ag.DiscoveryError, match=message):
        await ag.discover(options(tmp_path, **kwargs))


async def test_a_certificate_that_fails_verification_is_not_retried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ag, "RETRY_INTERVAL", 60)
    err = TransportError("GET cluster-info: certificate verify failed")
    cause = OSError("certificate verify failed")
    err.__cause__ = aiohttp.ClientSSLError(None, cause)  # type: ignore[arg-type]
    signed = cluster_info(info_kubeconfig(), TOKEN)
    monkeypatch.setattr(ag, "Client", FakeServer([signed], [err]))
    with pytest.raises(ag.DiscoveryError, match=r"failed TLS verification .* certificate verify"):
        await asyncio.wait_for(ag.discover(options(tmp_path)), 5)


async def test_prepare_writes_the_bootstrap_kubeconfig(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signed = cluster_info(info_kubeconfig(), TOKEN)
    monkeypatch.setattr(ag, "Client", FakeServer([signed], [signed]))
    opts = options(tmp_path)
    await ag.prepare(opts)
    path = tmp_path / "root" / "bootstrap-kubelet.kubeconfig"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    config = load_kubeconfig(path)
    assert config.server == SERVER
    assert config.ca_data == CA
    assert config.token == "abcdef.0123456789abcdef"
    assert config.cert_data is None


async def test_a_node_that_joined_skips_discovery(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ag, "client_config_still_valid", lambda path: True)
    monkeypatch.setattr(ag, "Client", None)  # any request would fail
    opts = options(tmp_path)
    await ag.prepare(opts)
    assert not opts.bootstrap_kubeconfig.exists()


def test_the_kubelet_is_run_with_bootstrap() -> None:
    opts = ag.AgentOptions(
        server=SERVER,
        token=TOKEN,
        node_name="n2",
        root_dir=Path("/r"),
        pod_cidr="10.42.1.0/24",
        node_ip="10.0.0.2",
        node_labels="a=b",
        kubelet_args=("--pleg-period=0.5",),
    )
    assert ag.kubelet_argv(opts) == [
        sys.executable,
        "-m",
        "pocketkube.cli",
        "kubelet",
        "--bootstrap-kubeconfig",
        "/r/bootstrap-kubelet.kubeconfig",
        "--kubeconfig",
        "/r/kubelet.kubeconfig",
        "--node-name",
        "n2",
        "--root-dir",
        "/r",
        "--pod-cidr",
        "10.42.1.0/24",
        "--node-ip",
        "10.0.0.2",
        "--rotate-server-certificates",
        "--node-labels",
        "a=b",
        "--pleg-period=0.5",
    ]
