"""The ``pocketkube controller-manager`` command's flags, and the child ``pocketkube server``
starts with them."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from click.testing import CliRunner

from pocketkube.cli import server
from pocketkube.cli.main import main
from pocketkube.cli.server import ServerOptions


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--controllers", "*,nope"], "'nope' is not in the list of known controllers"),
        (["--cluster-signing-duration", "1y"], "invalid duration '1y'"),
    ],
)
def test_bad_flags_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text("{}")
    result = CliRunner().invoke(
        main, ["controller-manager", "--kubeconfig", str(kubeconfig), *args]
    )
    assert result.exit_code == 2
    assert message in result.output


@pytest.mark.parametrize("enabled", [True, False])
async def test_server_runs_the_controller_manager_with_the_cluster_ca(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, enabled: bool
) -> None:
    made: list[dict[str, Any]] = []

    def fake_kubeconfig(**kwargs: Any) -> Path:
        made.append(kwargs)
        return tmp_path / f"{kwargs['name']}.kubeconfig"

    monkeypatch.setattr(server, "component_kubeconfig", fake_kubeconfig)
    pki = SimpleNamespace(ca_cert=tmp_path / "ca.crt", ca_key=tmp_path / "ca.key")
    apiserver = SimpleNamespace(pki=pki, url="https://127.0.0.1:6443")
    options = ServerOptions(data_dir=tmp_path, controller_manager=enabled)
    children = await server._components(options, apiserver)  # type: ignore[arg-type]
    if not enabled:
        assert children == []
        return
    (child,) = children
    assert child.name == "controller-manager"
    assert made[0]["user"] == "system:kube-controller-manager"
    assert child.argv[-12:] == [
        "controller-manager",
        "--kubeconfig",
        str(tmp_path / "controller-manager.kubeconfig"),
        "--controllers",
        "*,bootstrapsigner,tokencleaner",
        "--cluster-signing-cert-file",
        str(tmp_path / "ca.crt"),
        "--cluster-signing-key-file",
        str(tmp_path / "ca.key"),
        "--root-ca-file",
        str(tmp_path / "ca.crt"),
        "--leader-elect=false",
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], {"leader_elect": True, "node_monitor_grace_period": 50.0}),
        (["--leader-elect=false"], {"leader_elect": False}),
        (["--leader-elect"], {"leader_elect": True}),
        (["--node-monitor-grace-period", "1m30s"], {"node_monitor_grace_period": 90.0}),
        (["--concurrent-gc-syncs", "3"], {"concurrent_gc_syncs": 3}),
        (
            ["--allocate-node-cidrs=true", "--cluster-cidr", "10.42.0.0/16"],
            {"allocate_node_cidrs": True, "cluster_cidr": "10.42.0.0/16"},
        ),
    ],
)
def test_flags_become_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], expected: dict[str, Any]
) -> None:
    seen: list[Any] = []

    async def fake_run(*, kubeconfig: Path, options: Any) -> None:
        seen.append(options)

    monkeypatch.setattr("pocketkube.controllers.app.run_controller_manager", fake_run)
    kubeconfig = tmp_path / "kc"
    kubeconfig.write_text("{}")
    result = CliRunner().invoke(
        main, ["controller-manager", "--kubeconfig", str(kubeconfig), *args]
    )
    assert result.exit_code == 0, result.output
    for name, value in expected.items():
        assert getattr(seen[0], name) == value
