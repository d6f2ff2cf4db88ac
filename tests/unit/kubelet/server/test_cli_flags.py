"""``pocketkube kubelet``'s server flags reach KubeletOptions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from pocketkube.cli.main import main
from pocketkube.kubelet import app


def test_server_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    async def fake_run(*, kubeconfig: Path, options: app.KubeletOptions) -> None:
        seen["options"] = options

    monkeypatch.setattr(app, "run_kubelet", fake_run)
    kubeconfig = tmp_path / "k"
    kubeconfig.write_text("")
    cert, key, ca = tmp_path / "c", tmp_path / "key", tmp_path / "ca"
    for f in (cert, key, ca):
        f.write_text("")
    args = ["kubelet", "--kubeconfig", str(kubeconfig), "--node-name", "n1"]
    args += ["--root-dir", str(tmp_path / "root"), "--port", "20250", "--address", "127.0.0.1"]
    args += ["--tls-cert-file", str(cert), "--tls-private-key-file", str(key)]
    args += ["--client-ca-file", str(ca), "--authorization-mode", "AlwaysAllow"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    options = seen["options"]
    assert (options.port, options.address) == (20250, "127.0.0.1")
    assert options.tls_cert_file == cert
    assert options.tls_private_key_file == key
    assert options.client_ca_file == ca
    assert options.authorization_mode == "AlwaysAllow"
    assert options.cert_dir == tmp_path / "root" / "pki"
    assert not options.rotate_server_certificates

    half = ["kubelet", "--kubeconfig", str(kubeconfig), "--tls-cert-file", str(cert)]
    result = CliRunner().invoke(main, half)
    assert result.exit_code == 2
    assert "--tls-cert-file and --tls-private-key-file go together" in result.output
