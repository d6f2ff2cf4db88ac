"""A container's environment as upstream's makeEnvironmentVariables builds it."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.kubelet import envvars
from pocketkube.kubelet.envvars import EnvError, expand, expand_command, make_environment
from pocketkube.kubelet.volumes.fake import FakeVolumeSource

Obj = dict[str, Any]


def service(namespace: str, name: str, ip: str, *ports: Obj) -> Obj:
    return {
        "metadata": {"namespace": namespace, "name": name},
        "spec": {"clusterIP": ip, "ports": list(ports)},
    }


KUBERNETES = service(
    "default", "kubernetes", "10.43.0.1", {"name": "https", "port": 443, "protocol": "TCP"}
)
KUBERNETES_ENV = {
    "KUBERNETES_SERVICE_HOST": "10.43.0.1",
    "KUBERNETES_SERVICE_PORT": "443",
    "KUBERNETES_SERVICE_PORT_HTTPS": "443",
    "KUBERNETES_PORT": "tcp://10.43.0.1:443",
    "KUBERNETES_PORT_443_TCP": "tcp://10.43.0.1:443",
    "KUBERNETES_PORT_443_TCP_PROTO": "tcp",
    "KUBERNETES_PORT_443_TCP_PORT": "443",
    "KUBERNETES_PORT_443_TCP_ADDR": "10.43.0.1",
}


def pod(container: Obj, **spec: Any) -> Obj:
    return {
        "metadata": {"name": "web", "namespace": "shop", "uid": "u1", "labels": {"app": "web"}},
        "spec": {"nodeName": "node-1", "containers": [container], **spec},
    }


@pytest.fixture
def source() -> FakeVolumeSource:
    fake = FakeVolumeSource()
    fake.add_configmap("shop", "config", {"MODE": "fast", "LEVEL": "3", "bad key": "x", "1st": "y"})
    fake.add_secret("shop", "creds", {"USER": "admin", "PASS": b"s3cr\xffet"})
    return fake


async def environment(
    source: FakeVolumeSource,
    container: Obj,
    *,
    services: list[Obj] | None = None,
    warnings: list[tuple[str, str]] | None = None,
    **spec: Any,
) -> list[tuple[str, str]]:
    return await make_environment(
        pod({"name": "app", **container}, **spec),
        {"name": "app", **container},
        source=source,
        pod_ip="10.42.0.7",
        host_ip="192.168.1.10",
        node_name="node-1",
        services=[] if services is None else services,
        node_allocatable={"cpu": "4", "memory": "8Gi"},
        warn=None if warnings is None else lambda r, m: warnings.append((r, m)),
    )


@pytest.mark.parametrize(
    ("text", "expanded"),
    [
        ("$(A)", "a"),
        ("x$(A)y$(B)z", "xaybz"),
        ("$(MISSING)", "$(MISSING)"),
        ("$$(A)", "$(A)"),
        ("$$$(A)", "$a"),
        ("$$$$(A)", "$$(A)"),
        ("$(A", "$(A"),
        ("$A", "$A"),
        ("$", "$"),
        ("trailing$", "trailing$"),
        ("$()", "$()"),
        ("$(EMPTY)", ""),
        ("$(A)$(A)", "aa"),
        ("(A)", "(A)"),
    ],
)
def test_expand(text: str, expanded: str) -> None:
    assert expand(text, envvars.mapping_for({"A": "a", "B": "b", "EMPTY": ""})) == expanded


def test_expand_command() -> None:
    command, args = expand_command(
        ["/bin/$(SHELL)", "$(UNSET)"],
        ["-c", "echo $$(HOME) $(HOME)"],
        [("SHELL", "sh"), ("HOME", "/root")],
    )
    assert command == ["/bin/sh", "$(UNSET)"]
    assert args == ["-c", "echo $(HOME) /root"]


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            [{"name": "A", "value": "1"}, {"name": "B", "value": "$(A)-2"}],
            [("A", "1"), ("B", "1-2")],
        ),
        # only variables defined before are expanded
        (
            [{"name": "B", "value": "$(A)"}, {"name": "A", "value": "1"}],
            [("B", "$(A)"), ("A", "1")],
        ),
        ([{"name": "E"}], [("E", "")]),
        ([{"name": "A", "value": "1"}, {"name": "A", "value": "2"}], [("A", "2")]),
        (
            [{"name": "P", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
            [("P", "10.42.0.7")],
        ),
        (
            [{"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}}],
            [("N", "node-1")],
        ),
        (
            [{"name": "H", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIPs"}}}],
            [("H", "192.168.1.10")],
        ),
        (
            [{"name": "L", "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['app']"}}}],
            [("L", "web")],
        ),
        (
            [
                {
                    "name": "C",
                    "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu", "divisor": "1m"}},
                }
            ],
            [("C", "4000")],
        ),
        (
            [{"name": "M", "valueFrom": {"configMapKeyRef": {"name": "config", "key": "MODE"}}}],
            [("M", "fast")],
        ),
        (
            [{"name": "U", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "USER"}}}],
            [("U", "admin")],
        ),
        (
            [{"name": "P", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "PASS"}}}],
            [("P", "s3cr\ufffdet")],
        ),
        # optional and missing: the variable is left out
        (
            [
                {
                    "name": "X",
                    "valueFrom": {
                        "configMapKeyRef": {"name": "config", "key": "NO", "optional": True}
                    },
                }
            ],
            [],
        ),
        (
            [
                {
                    "name": "X",
                    "valueFrom": {
                        "configMapKeyRef": {"name": "nope", "key": "K", "optional": True}
                    },
                }
            ],
            [],
        ),
        (
            [
                {
                    "name": "X",
                    "valueFrom": {"secretKeyRef": {"name": "nope", "key": "K", "optional": True}},
                }
            ],
            [],
        ),
    ],
)
async def test_env(
    source: FakeVolumeSource, env: list[Obj], expected: list[tuple[str, str]]
) -> None:
    assert await environment(source, {"env": env}) == expected


@pytest.mark.parametrize(
    ("env_from", "expected"),
    [
        ([{"configMapRef": {"name": "config"}}], [("MODE", "fast"), ("LEVEL", "3")]),
        (
            [{"configMapRef": {"name": "config"}, "prefix": "CFG_"}],
            [("CFG_MODE", "fast"), ("CFG_LEVEL", "3"), ("CFG_1st", "y")],
        ),
        ([{"secretRef": {"name": "creds"}}], [("USER", "admin"), ("PASS", "s3cr\ufffdet")]),
        ([{"secretRef": {"name": "nope", "optional": True}}], []),
        ([{"configMapRef": {"name": "nope", "optional": True}}], []),
        (
            [
                {"configMapRef": {"name": "config"}},
                {"secretRef": {"name": "creds"}, "prefix": "MODE"},
            ],
            [("MODE", "fast"), ("LEVEL", "3"), ("MODEUSER", "admin"), ("MODEPASS", "s3cr\ufffdet")],
        ),
    ],
)
async def test_env_from(
    source: FakeVolumeSource, env_from: list[Obj], expected: list[tuple[str, str]]
) -> None:
    assert await environment(source, {"envFrom": env_from}) == expected


async def test_env_overrides_env_from_and_expands_it(source: FakeVolumeSource) -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "config"}}],
        "env": [{"name": "MODE", "value": "slow"}, {"name": "BOTH", "value": "$(MODE)/$(LEVEL)"}],
    }
    assert await environment(source, container) == [
        ("MODE", "slow"),
        ("LEVEL", "3"),
        ("BOTH", "slow/3"),
    ]


async def test_invalid_env_from_keys_are_skipped_and_reported(source: FakeVolumeSource) -> None:
    warnings: list[tuple[str, str]] = []
    got = await environment(
        source, {"envFrom": [{"configMapRef": {"name": "config"}}]}, warnings=warnings
    )
    assert [name for name, _ in got] == ["MODE", "LEVEL"]
    assert warnings == [
        (
            "InvalidEnvironmentVariableNames",
            "Keys [1st, bad key] from the EnvFrom configMap shop/config were skipped since they "
            "are considered invalid environment variable names.",
        )
    ]


@pytest.mark.parametrize(
    ("container", "message"),
    [
        ({"envFrom": [{"configMapRef": {"name": "nope"}}]}, 'configmap "nope" not found'),
        ({"envFrom": [{"secretRef": {"name": "nope"}}]}, 'secret "nope" not found'),
        (
            {
                "env": [
                    {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "K"}}}
                ]
            },
            'configmap "nope" not found',
        ),
        (
            {
                "env": [
                    {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "config", "key": "K"}}}
                ]
            },
            "couldn't find key K in ConfigMap shop/config",
        ),
        (
            {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "K"}}}]},
            "couldn't find key K in Secret shop/creds",
        ),
        (
            {"env": [{"name": "X", "valueFrom": {"fieldRef": {"fieldPath": "spec.bogus"}}}]},
            "field label not supported: spec.bogus",
        ),
        (
            {"env": [{"name": "X", "valueFrom": {"resourceFieldRef": {"resource": "limits.gpu"}}}]},
            "unsupported container resource : limits.gpu",
        ),
    ],
)
async def test_errors(source: FakeVolumeSource, container: Obj, message: str) -> None:
    with pytest.raises(EnvError) as caught:
        await environment(source, container)
    assert caught.value.message == message


async def test_api_failure_is_an_error_even_when_optional(source: FakeVolumeSource) -> None:
    source.fail("configmap", "config", 'configmaps "config" is forbidden: no')
    container = {"envFrom": [{"configMapRef": {"name": "config", "optional": True}}]}
    with pytest.raises(EnvError, match="is forbidden"):
        await environment(source, container)


async def test_each_object_is_read_once(source: FakeVolumeSource) -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "config"}}],
        "env": [
            {"name": "A", "valueFrom": {"configMapKeyRef": {"name": "config", "key": "MODE"}}},
            {"name": "B", "valueFrom": {"configMapKeyRef": {"name": "config", "key": "LEVEL"}}},
        ],
    }
    await environment(source, container)
    assert source.calls == [("configmap", "shop", "config")]


async def test_services_not_yet_listed_is_an_error(source: FakeVolumeSource) -> None:
    with pytest.raises(EnvError, match="services have not yet been read at least once"):
        await make_environment(
            pod({"name": "app"}),
            {"name": "app"},
            source=source,
            pod_ip="",
            host_ip="",
            node_name="n",
            services=None,
            node_allocatable={},
        )


SHOP_WEB = service(
    "shop",
    "my-web",
    "10.43.0.20",
    {"name": "http", "port": 80, "protocol": "TCP"},
    {"name": "dns", "port": 53, "protocol": "UDP"},
)
SHOP_WEB_ENV = {
    "MY_WEB_SERVICE_HOST": "10.43.0.20",
    "MY_WEB_SERVICE_PORT": "80",
    "MY_WEB_SERVICE_PORT_HTTP": "80",
    "MY_WEB_SERVICE_PORT_DNS": "53",
    "MY_WEB_PORT": "tcp://10.43.0.20:80",
    "MY_WEB_PORT_80_TCP": "tcp://10.43.0.20:80",
    "MY_WEB_PORT_80_TCP_PROTO": "tcp",
    "MY_WEB_PORT_80_TCP_PORT": "80",
    "MY_WEB_PORT_80_TCP_ADDR": "10.43.0.20",
    "MY_WEB_PORT_53_UDP": "udp://10.43.0.20:53",
    "MY_WEB_PORT_53_UDP_PROTO": "udp",
    "MY_WEB_PORT_53_UDP_PORT": "53",
    "MY_WEB_PORT_53_UDP_ADDR": "10.43.0.20",
}
OTHER_NS = service("other", "db", "10.43.0.30", {"port": 5432})
HEADLESS = service("shop", "headless", "None", {"port": 80})
EXTERNAL = {"metadata": {"namespace": "shop", "name": "ext"}, "spec": {"type": "ExternalName"}}


@pytest.mark.parametrize(
    ("links", "expected"),
    [
        (True, {**KUBERNETES_ENV, **SHOP_WEB_ENV}),
        (False, KUBERNETES_ENV),  # the master service is always there
    ],
)
async def test_service_links(
    source: FakeVolumeSource, links: bool, expected: dict[str, str]
) -> None:
    got = await environment(
        source,
        {},
        services=[SHOP_WEB, KUBERNETES, OTHER_NS, HEADLESS, EXTERNAL],
        enableServiceLinks=links,
    )
    assert dict(got) == expected
    assert len(got) == len(expected)


async def test_container_variables_win_over_service_ones(source: FakeVolumeSource) -> None:
    container = {
        "env": [
            {"name": "KUBERNETES_SERVICE_HOST", "value": "mine"},
            {
                "name": "URL",
                "value": "https://$(KUBERNETES_SERVICE_HOST):$(KUBERNETES_SERVICE_PORT)",
            },
        ]
    }
    got = await environment(source, container, services=[KUBERNETES])
    assert got[:2] == [("KUBERNETES_SERVICE_HOST", "mine"), ("URL", "https://mine:443")]
    assert [name for name, _ in got].count("KUBERNETES_SERVICE_HOST") == 1


def test_ipv6_cluster_ip_is_bracketed() -> None:
    env = envvars.service_environment(
        [service("ns", "v6", "fd00::10", {"port": 80})], namespace="ns", enable_service_links=True
    )
    assert env["V6_PORT"] == "tcp://[fd00::10]:80"
    assert env["V6_PORT_80_TCP_ADDR"] == "fd00::10"
    assert "V6_SERVICE_PORT_" not in "".join(env)


def test_a_kubernetes_service_of_the_pods_namespace_wins() -> None:
    mine = service("ns", "kubernetes", "10.43.9.9", {"port": 8443})
    for order in ([KUBERNETES, mine], [mine, KUBERNETES]):
        env = envvars.service_environment(order, namespace="ns", enable_service_links=True)
        assert env["KUBERNETES_SERVICE_HOST"] == "10.43.9.9"
