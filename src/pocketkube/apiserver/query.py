"""Query parameters of list, watch and write requests, validated into storage options."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pocketkube.api import status
from pocketkube.api.fields import (
    allowed_fields,
    parse_field_selector,
    selectable_fields,
    validate_fields,
)
from pocketkube.api.labels import SelectorError, parse_label_selector
from pocketkube.api.status import StatusError
from pocketkube.apiserver.registry import DeleteOptions
from pocketkube.storage.interface import (
    ListOptions,
    Obj,
    Preconditions,
    Predicate,
    ResourceVersionMatch,
    WatchOptions,
)

DEFAULT_WATCH_TIMEOUT = 1800.0


def _int(query: Mapping[str, str], name: str, default: int = 0) -> int:
    text = query.get(name, "")
    if text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise StatusError(status.bad_request(f"invalid {name}: {text!r}")) from None
    if value < 0 or value > 2**62:
        raise StatusError(status.bad_request(f"invalid {name}: {text!r}"))
    return value


def _bool(query: Mapping[str, str], name: str) -> bool | None:
    text = query.get(name, "")
    if text == "":
        return None
    if text in ("true", "1", "True"):
        return True
    if text in ("false", "0", "False"):
        return False
    raise StatusError(status.bad_request(f"invalid {name}: {text!r}"))


def predicate(query: Mapping[str, str], resource: str) -> Predicate | None:
    """The label and field selectors of a request, as one predicate (None: everything).

    ``resource`` is the qualified resource name (``pods``, ``jobs.batch``)."""
    try:
        labels = parse_label_selector(query.get("labelSelector", ""))
        fields = parse_field_selector(query.get("fieldSelector", ""))
        fields = validate_fields(fields, allowed_fields(resource), resource)
    except SelectorError as err:
        raise StatusError(status.bad_request(str(err))) from None
    if labels.empty and fields.empty:
        return None

    def matches(obj: Obj) -> bool:
        meta: dict[str, Any] = obj.get("metadata", {})
        if not labels.matches(meta.get("labels") or {}):
            return False
        return fields.empty or fields.matches(selectable_fields(resource, obj))

    return matches


def resource_version_match(query: Mapping[str, str]) -> ResourceVersionMatch:
    text = query.get("resourceVersionMatch", "")
    try:
        return ResourceVersionMatch(text)
    except ValueError:
        raise StatusError(
            status.bad_request(
                f"resourceVersionMatch: Unsupported value: {text!r}: supported values: "
                '"Exact", "NotOlderThan", ""'
            )
        ) from None


def list_options(query: Mapping[str, str], resource: str) -> ListOptions:
    return ListOptions(
        resource_version=query.get("resourceVersion", ""),
        resource_version_match=resource_version_match(query),
        limit=_int(query, "limit"),
        continue_token=query.get("continue", ""),
        predicate=predicate(query, resource),
    )


def watch_options(query: Mapping[str, str], resource: str) -> tuple[WatchOptions, float]:
    """The watch's options and its timeout in seconds."""
    timeout = float(_int(query, "timeoutSeconds")) or DEFAULT_WATCH_TIMEOUT
    opts = WatchOptions(
        resource_version=query.get("resourceVersion", ""),
        predicate=predicate(query, resource),
        bookmarks=bool(_bool(query, "allowWatchBookmarks")),
        send_initial_events=_bool(query, "sendInitialEvents"),
    )
    return opts, timeout


def dry_run(query: Mapping[str, Any]) -> bool:
    values = query.getall("dryRun", []) if hasattr(query, "getall") else [query.get("dryRun", "")]
    values = [v for v in values if v]
    if not values:
        return False
    if values == ["All"]:
        return True
    raise StatusError(status.bad_request(f"Invalid dry run: {values}: supported values: All"))


PROPAGATION_POLICIES = ("Orphan", "Background", "Foreground")


def delete_options(query: Mapping[str, Any], body: dict[str, Any]) -> tuple[DeleteOptions, bool]:
    """``metav1.DeleteOptions`` from the body and the query (the query wins, as upstream);
    and whether the client set ``orphanDependents: false`` (which upstream answers with 202)."""
    if body.get("kind") not in (None, "DeleteOptions"):
        raise StatusError(status.bad_request(f"expected DeleteOptions, got {body.get('kind')}"))
    pre = body.get("preconditions") or {}
    preconditions = None
    if isinstance(pre, dict) and pre:
        preconditions = Preconditions(
            uid=pre.get("uid"), resource_version=pre.get("resourceVersion")
        )
    grace: Any = body.get("gracePeriodSeconds")
    if query.get("gracePeriodSeconds", "") != "":
        grace = _int(query, "gracePeriodSeconds")
    if grace is not None and (not isinstance(grace, int) or isinstance(grace, bool)):
        raise StatusError(status.bad_request(f"invalid gracePeriodSeconds: {grace!r}"))
    policy = query.get("propagationPolicy") or body.get("propagationPolicy")
    orphan = body.get("orphanDependents")
    if query.get("orphanDependents"):
        orphan = _bool(query, "orphanDependents")
    if policy is not None and policy not in PROPAGATION_POLICIES:
        raise StatusError(
            status.bad_request(
                f"propagationPolicy: Unsupported value: {policy!r}: supported values: "
                '"Foreground", "Background", "Orphan"'
            )
        )
    if policy is None and orphan is not None:
        policy = "Orphan" if orphan else "Background"
    run_dry = dry_run(query) or body.get("dryRun") == ["All"]
    options = DeleteOptions(
        preconditions=preconditions,
        grace_period_seconds=grace,
        propagation_policy=policy,
        dry_run=run_dry,
    )
    return options, orphan is False
