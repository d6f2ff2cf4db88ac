"""Real kubectl and CustomResourceDefinitions: define a kind, then use it like any other."""

from __future__ import annotations

from tests.e2e.conftest import Cluster

CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: crontabs.stable.example.com
spec:
  group: stable.example.com
  scope: Namespaced
  names:
    plural: crontabs
    singular: crontab
    kind: CronTab
    shortNames: [ct]
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            properties:
              cronSpec: {type: string}
              image: {type: string}
              replicas: {type: integer}
    additionalPrinterColumns:
    - name: Spec
      type: string
      jsonPath: .spec.cronSpec
    - name: Replicas
      type: integer
      jsonPath: .spec.replicas
"""

CR = """
apiVersion: stable.example.com/v1
kind: CronTab
metadata:
  name: my-new-cron-object
spec:
  cronSpec: "*/5"
  image: my-awesome-cron-image
  replicas: 2
"""


def test_kubectl_serves_a_custom_resource(cluster: Cluster) -> None:
    out = cluster.kubectl("apply", "-f", "-", stdin=CRD).stdout
    assert "customresourcedefinition.apiextensions.k8s.io/crontabs.stable.example.com" in out
    empty = cluster.kubectl("get", "crontabs")
    assert "No resources found in default namespace." in empty.stderr
    out = cluster.kubectl("apply", "-f", "-", stdin=CR).stdout
    assert out.strip() == "crontab.stable.example.com/my-new-cron-object created"
    lines = cluster.kubectl("get", "crontabs").stdout.splitlines()
    assert lines[0].split() == ["NAME", "SPEC", "REPLICAS"]
    assert lines[1].split() == ["my-new-cron-object", "*/5", "2"]
    short = cluster.kubectl("get", "ct").stdout.splitlines()
    assert short[1].split()[0] == "my-new-cron-object"
    bad = cluster.kubectl(
        "apply", "-f", "-", stdin=CR.replace("replicas: 2", "replicas: x"), check=False
    )
    assert bad.returncode != 0
    assert "spec.replicas" in bad.stderr
    out = cluster.kubectl("delete", "crd", "crontabs.stable.example.com").stdout
    assert "deleted" in out
    gone = cluster.kubectl("get", "crontabs", check=False)
    assert gone.returncode != 0
