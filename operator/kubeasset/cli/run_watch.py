"""Following one AssetRun until it finishes: a watch on that one object, resumed from the last seen
resourceVersion when the connection drops or the server ends the watch, re-read when that version has
expired (410 Gone), so no status a person should see is skipped and none is reported twice.

The loop talks to a :class:`RunSource` so that its reconnect logic is tested without a cluster;
:class:`ClusterRunSource` is the real one.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, Protocol

from kubernetes import watch
from kubernetes.client.exceptions import ApiException

from kubeasset.api.assetrun import AssetRun
from kubeasset.api.base import API_GROUP, API_VERSION
from kubeasset.api.registry import parse_resource
from kubeasset.cli.kube_access import TRANSPORT_ERRORS, Cluster, is_missing_object
from kubeasset.errors import KubernetesAccessError

#: Longest single watch request; the server ends it and the loop resumes, which also notices a dead
#: connection that TCP alone would not report.
WATCH_WINDOW_SECONDS: Final = 60
#: How long the API server may stay unreachable before following gives up (the run itself goes on).
MAX_OUTAGE_SECONDS: Final = 120.0
_RETRY_PAUSE_SECONDS: Final = 1.0


class WatchExpired(Exception):
    """The resourceVersion to resume from is too old (410 Gone): read the object again."""


class WatchInterrupted(Exception):
    """The connection failed or the server was briefly unavailable: resume from the last version."""


class RunSource(Protocol):
    """Where a follower reads one run: ``read`` the object now, ``watch`` its changes after a version."""

    def read(self) -> Mapping[str, Any] | None:
        """The run as stored, or None when it does not exist (any more)."""

    def watch(self, resource_version: str, timeout_seconds: int) -> Iterator[Mapping[str, Any]]:
        """Watch events (``{"type": ..., "object": ...}``) after ``resource_version``, ending after
        ``timeout_seconds``; raises WatchExpired or WatchInterrupted as described on them."""


@dataclass(frozen=True)
class ClusterRunSource:
    """The run ``name`` in ``namespace`` on the API server of ``cluster``."""

    cluster: Cluster
    namespace: str
    name: str

    def read(self) -> Mapping[str, Any] | None:
        try:
            return self.cluster.get("assetruns", self.namespace, self.name)
        except KubernetesAccessError as error:
            if is_missing_object(error, self.name):
                return None
            if error.status is None or error.status >= 500 or error.status == 429:
                raise WatchInterrupted(str(error)) from error
            raise

    def watch(self, resource_version: str, timeout_seconds: int) -> Iterator[Mapping[str, Any]]:
        stream = watch.Watch().stream(  # type: ignore[no-untyped-call]
            self.cluster.custom.list_namespaced_custom_object,
            API_GROUP,
            API_VERSION,
            self.namespace,
            "assetruns",
            field_selector=f"metadata.name={self.name}",
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_seconds,
            # The read timeout outlives the server's own end of the watch: a silent dead connection ends too.
            _request_timeout=(10.0, timeout_seconds + 15.0),
        )
        try:
            yield from stream
        except ApiException as error:
            if error.status == 410:
                raise WatchExpired(str(error.reason)) from error
            if error.status is None or error.status >= 500 or error.status == 429:
                raise WatchInterrupted(str(error.reason)) from error
            raise self.cluster.api_error(error, f"watch assetrun {self.name!r}") from error
        except TRANSPORT_ERRORS as error:
            raise WatchInterrupted(str(error)) from error


@dataclass(frozen=True)
class FollowOutcome:
    """How following ended: the run ``finished``, the ``timeout`` passed first, or the run was ``deleted``.
    ``run`` is the last state seen."""

    ending: Literal["finished", "timeout", "deleted"]
    run: AssetRun


def follow_run(
    source: RunSource,
    initial: Mapping[str, Any],
    on_update: Callable[[AssetRun], None],
    *,
    timeout_seconds: float | None = None,
    on_reconnect: Callable[[str], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    max_outage_seconds: float = MAX_OUTAGE_SECONDS,
) -> FollowOutcome:
    """Call ``on_update`` with each new state of the run (``initial`` first) until it reaches a final phase.

    ``on_update`` may see the same state twice (after a reconnect); it must report transitions, not calls.
    ``on_reconnect`` is told once per outage why the connection was lost. An outage longer than
    ``max_outage_seconds`` raises KubernetesAccessError.

    Example::

        outcome = follow_run(ClusterRunSource(cluster, "shop", name), created, printer, timeout_seconds=600)
    """
    deadline = None if timeout_seconds is None else clock() + timeout_seconds
    run = _parse(initial)
    on_update(run)
    version: str | None = _version(initial)
    outage_since: float | None = None
    while not _finished(run):
        if deadline is not None and clock() >= deadline:
            return FollowOutcome("timeout", run)
        try:
            if version is None:
                current = source.read()
                if current is None:
                    return FollowOutcome("deleted", run)
                run = _parse(current)
                on_update(run)
                version = _version(current)
                outage_since = None
                continue
            window = WATCH_WINDOW_SECONDS
            if deadline is not None:
                window = max(1, min(window, math.ceil(deadline - clock())))
            for event in source.watch(version, window):
                outage_since = None
                kind, body = event.get("type"), event.get("object")
                if not isinstance(body, Mapping):
                    continue
                version = _version(body) or version
                if kind == "BOOKMARK":
                    continue
                if kind == "DELETED":
                    return FollowOutcome("deleted", run)
                run = _parse(body)
                on_update(run)
                if _finished(run) or (deadline is not None and clock() >= deadline):
                    break
        except WatchExpired:
            version = None  # too old to resume from: read the object as it is now
        except WatchInterrupted as error:
            now = clock()
            if outage_since is None:
                outage_since = now
                if on_reconnect is not None:
                    on_reconnect(str(error))
            elif now - outage_since > max_outage_seconds:
                raise KubernetesAccessError(
                    f"lost the API server for over {max_outage_seconds:.0f}s while following run "
                    f"{run.metadata.name!r} ({error}); the run itself goes on"
                ) from error
            sleep(_RETRY_PAUSE_SECONDS)
    return FollowOutcome("finished", run)


def _parse(body: Mapping[str, Any]) -> AssetRun:
    run = parse_resource(body)
    assert isinstance(run, AssetRun), f"expected an AssetRun, got {type(run).__name__}"
    return run


def _finished(run: AssetRun) -> bool:
    phase = run.status.phase if run.status else None
    return phase is not None and phase.is_finished


def _version(body: Mapping[str, Any]) -> str | None:
    metadata = body.get("metadata")
    version = metadata.get("resourceVersion") if isinstance(metadata, Mapping) else None
    return str(version) if version else None
