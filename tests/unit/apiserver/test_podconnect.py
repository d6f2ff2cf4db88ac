"""The checks of pods/log, exec, attach, portforward and the kubelet's address, without servers."""

from __future__ import annotations

import pytest
from multidict import MultiDict

from pocketkube.api.status import StatusError
from pocketkube.apiserver.kubeletclient import node_address
from pocketkube.apiserver.subresources.podconnect import (
    _log_query,
    log_error,
    validate_container,
)

POD = {
    "metadata": {"name": "p"},
    "spec": {
        "initContainers": [{"name": "init"}],
        "containers": [{"name": "a"}, {"name": "b"}],
    },
}


def _message(err: pytest.ExceptionInfo[StatusError]) -> tuple[int, str]:
    return err.value.status["code"], err.value.status["message"]


def test_container_choice_as_upstream() -> None:
    assert validate_container("init", POD) == "init"
    single = {"metadata": {"name": "s"}, "spec": {"containers": [{"name": "only"}]}}
    assert validate_container("", single) == "only"
    with pytest.raises(StatusError) as err:
        validate_container("", POD)
    assert _message(err) == (
        400,
        "a container name must be specified for pod p, choose one of: [init a b]",
    )
    with pytest.raises(StatusError) as err:
        validate_container("z", POD)
    assert _message(err) == (400, "container z is not valid for pod p")


def test_log_options() -> None:
    query = MultiDict(follow="1", sinceSeconds="5", limitBytes="10", tailLines="0")
    assert _log_query("p", query) == [
        ("follow", "true"),
        ("tailLines", "0"),
        ("limitBytes", "10"),
        ("sinceSeconds", "5"),
    ]
    with pytest.raises(StatusError) as err:
        _log_query("p", MultiDict(sinceSeconds="5", sinceTime="2024-01-01T00:00:00Z"))
    assert _message(err) == (
        422,
        'PodLogOptions "p" is invalid: '
        ": Forbidden: at most one of `sinceTime` or `sinceSeconds` may be specified",
    )
    with pytest.raises(StatusError) as err:
        _log_query("p", MultiDict(limitBytes="0"))
    assert _message(err) == (
        422,
        'PodLogOptions "p" is invalid: limitBytes: Invalid value: 0: must be greater than 0',
    )
    with pytest.raises(StatusError) as err:
        _log_query("p", MultiDict(follow="yes"))
    assert _message(err) == (400, 'strconv.ParseBool: parsing "yes": invalid syntax')


def test_kubelet_refusals() -> None:
    assert log_error(400, b"no").status["reason"] == "BadRequest"
    assert log_error(404, b"gone").status["reason"] == "NotFound"
    assert log_error(500, b"x").status["message"] == "Internal error occurred: x"


def test_node_address_prefers_internal_ip_and_the_reported_port() -> None:
    node = {
        "metadata": {"name": "n"},
        "status": {
            "addresses": [
                {"type": "Hostname", "address": "n"},
                {"type": "InternalIP", "address": "10.0.0.2"},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10251}},
        },
    }
    assert node_address(node) == ("10.0.0.2", 10251)
    assert node_address({"status": {"addresses": [{"type": "Hostname", "address": "h"}]}}) == (
        "h",
        10250,
    )
    with pytest.raises(StatusError):
        node_address({"metadata": {"name": "n"}, "status": {}})
