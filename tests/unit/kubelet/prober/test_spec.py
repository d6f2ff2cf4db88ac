"""Probe fields with their defaults, and port resolution as upstream's ResolveContainerPort."""

from __future__ import annotations

from typing import Any

import pytest

from pocketkube.kubelet.prober.outcome import ProbeError
from pocketkube.kubelet.prober.spec import ProbeType, container_probe, parse_probe, resolve_port

CONTAINER = {"name": "web", "ports": [{"name": "http", "containerPort": 8080}]}


def test_defaults_when_fields_are_missing() -> None:
    spec = parse_probe({"httpGet": {"port": 80}})
    assert (spec.handler, spec.action) == ("httpGet", {"port": 80})
    assert (spec.initial_delay, spec.period, spec.timeout) == (0, 10, 1)
    assert (spec.success_threshold, spec.failure_threshold) == (1, 3)
    assert spec.termination_grace_period is None


def test_fields_given() -> None:
    spec = parse_probe(
        {
            "exec": {"command": ["true"]},
            "initialDelaySeconds": 5,
            "periodSeconds": 2,
            "timeoutSeconds": 3,
            "successThreshold": 2,
            "failureThreshold": 7,
            "terminationGracePeriodSeconds": 9,
        }
    )
    assert (spec.handler, spec.initial_delay, spec.period, spec.timeout) == ("exec", 5, 2, 3)
    assert (spec.success_threshold, spec.failure_threshold) == (2, 7)
    assert spec.termination_grace_period == 9


def test_no_handler_and_no_probe() -> None:
    assert parse_probe({"periodSeconds": 3}).handler == ""
    assert container_probe(CONTAINER, ProbeType.LIVENESS) is None
    container = {**CONTAINER, "startupProbe": {"tcpSocket": {"port": "http"}}}
    probe = container_probe(container, ProbeType.STARTUP)
    assert probe is not None
    assert probe.handler == "tcpSocket"


@pytest.mark.parametrize(
    ("port", "expected"),
    [
        (8080, 8080),
        ("http", 8080),
        ("9090", 9090),
        ("nope", 'strconv.Atoi: parsing "nope": invalid syntax'),
        (0, "invalid port number: 0"),
        (70000, "invalid port number: 70000"),
        (None, "intOrString had no kind: None"),
    ],
)
def test_resolve_port(port: Any, expected: int | str) -> None:
    if isinstance(expected, int):
        assert resolve_port(port, CONTAINER) == expected
    else:
        with pytest.raises(ProbeError, match=expected):
            resolve_port(port, CONTAINER)
