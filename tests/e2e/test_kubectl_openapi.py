"""kubectl's schema-driven commands against `pocketkube server`, with default validation.

``create``, ``apply`` and ``replace`` read ``/openapi/v3`` and send ``fieldValidation=Strict``;
client-side ``apply`` builds strategic merge patches from the schemas; ``explain`` prints them.
None of these runs with ``--validate=false`` here.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Cluster

CONFIGMAP = """
apiVersion: v1
kind: ConfigMap
metadata:
  name: settings
data:
  greeting: hello
"""

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: nginx
        image: nginx:1.25
        ports:
        - containerPort: 80
        env:
        - {name: MODE, value: blue}
"""


def _write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _get(cluster: Cluster, *args: str) -> dict[str, object]:
    out: dict[str, object] = json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)
    return out


def test_create_with_strict_validation(cluster: Cluster, tmp_path: Path) -> None:
    out = cluster.kubectl("create", "-f", _write(tmp_path, "cm.yaml", CONFIGMAP), "-v=6")
    assert "configmap/settings created" in out.stdout
    assert "fieldValidation=Strict" in out.stderr
    out = cluster.kubectl("create", "-f", _write(tmp_path, "deploy.yaml", DEPLOYMENT))
    assert "deployment.apps/web created" in out.stdout
    deployment = _get(cluster, "deployment", "web")
    assert deployment["spec"]["replicas"] == 2  # type: ignore[index]


def test_apply_twice_configures_the_change(cluster: Cluster, tmp_path: Path) -> None:
    path = _write(tmp_path, "cm.yaml", CONFIGMAP)
    assert "configmap/settings created" in cluster.kubectl("apply", "-f", path).stdout
    _write(tmp_path, "cm.yaml", CONFIGMAP.replace("hello", "bonjour") + "  extra: more\n")
    out = cluster.kubectl("apply", "-f", path, "-v=6")
    assert "configmap/settings configured" in out.stdout
    assert "PATCH" in out.stderr
    assert "fieldValidation=Strict" in out.stderr
    assert _get(cluster, "configmap", "settings")["data"] == {
        "greeting": "bonjour",
        "extra": "more",
    }
    assert "unchanged" in cluster.kubectl("apply", "-f", path).stdout


def test_apply_merges_containers_by_name(cluster: Cluster, tmp_path: Path) -> None:
    path = _write(tmp_path, "deploy.yaml", DEPLOYMENT)
    cluster.kubectl("apply", "-f", path)
    changed = DEPLOYMENT.replace("nginx:1.25", "nginx:1.26").replace("blue", "green")
    _write(tmp_path, "deploy.yaml", changed)
    assert "deployment.apps/web configured" in cluster.kubectl("apply", "-f", path).stdout
    spec = _get(cluster, "deployment", "web")["spec"]
    containers = spec["template"]["spec"]["containers"]  # type: ignore[index]
    assert [c["image"] for c in containers] == ["nginx:1.26"]
    assert containers[0]["env"] == [{"name": "MODE", "value": "green"}]


def test_replace(cluster: Cluster, tmp_path: Path) -> None:
    cluster.kubectl("create", "-f", _write(tmp_path, "cm.yaml", CONFIGMAP))
    path = _write(tmp_path, "cm2.yaml", CONFIGMAP.replace("hello", "hi"))
    assert "configmap/settings replaced" in cluster.kubectl("replace", "-f", path).stdout
    assert _get(cluster, "configmap", "settings")["data"] == {"greeting": "hi"}


def test_unknown_field_is_a_strict_decoding_error(cluster: Cluster, tmp_path: Path) -> None:
    bad = CONFIGMAP.replace("  name: settings\n", "  name: settings\n  bogus: 1\n")
    result = cluster.kubectl("create", "-f", _write(tmp_path, "bad.yaml", bad), check=False)
    assert result.returncode != 0
    assert 'strict decoding error: unknown field "metadata.bogus"' in result.stderr
    assert cluster.kubectl("get", "configmap", "settings", check=False).returncode != 0


def test_unknown_field_warns_with_validate_warn(cluster: Cluster, tmp_path: Path) -> None:
    bad = DEPLOYMENT.replace("replicas: 2", "replicas: 2\n  replica: 3")
    path = _write(tmp_path, "bad.yaml", bad)
    result = cluster.kubectl("create", "-f", path, "--validate=warn")
    assert "deployment.apps/web created" in result.stdout
    assert 'Warning: unknown field "spec.replica"' in result.stderr


def test_explain_pod_containers(cluster: Cluster) -> None:
    out = cluster.kubectl("explain", "pod.spec.containers").stdout
    assert "KIND:       Pod" in out
    assert "FIELD: containers <[]Container>" in out
    assert "List of containers belonging to the pod" in out
    assert "image\t<string>" in out
    assert "name\t<string> -required-" in out
