"""The plumbing the tests' watch recorders share (tests/faults' FaultRecorder, the controller tests' Recorder):
their watch threads started, awaited until each has listed, and stopped; one watch call on the run Pods or
the AssetRuns; and the count of unfinished run Pods per job that both keep. When each one lists again and
how it reconnects stays its own."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Self

from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from tests.integration.controller.conftest import GROUP, VERSION

#: One watch of a recorder: runs in its own thread, sets the Event once it has listed (from then on nothing
#: is missed), and returns soon after the recorder's stop Event is set.
WatchLoop = Callable[[threading.Event], None]
#: The Pods of runs (not discovery's), as the controller labels them.
RUN_POD_SELECTOR = "app.kubernetes.io/managed-by=kubeasset,app.kubernetes.io/component=run"


class WatchRecorder:
    """A context manager running ``loops`` (name -> loop) in daemon threads: ``__enter__`` starts them and
    waits until every one has listed, ``__exit__`` stops and joins them. Subclasses record what they see
    under ``self._lock``.

    Example::

        class RunRecorder(WatchRecorder):
            def __init__(self, api_client, namespace):
                super().__init__(api_client, namespace, {"runs": self._follow_runs})

            def _follow_runs(self, ready):
                ...  # list, ready.set(), then watch until self._stop is set

        with RunRecorder(api_client, namespace) as recorder:
            ...
    """

    def __init__(
        self, api_client: client.ApiClient, namespace: str, loops: Mapping[str, WatchLoop], *, ready_timeout: float
    ) -> None:
        self.core = client.CoreV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.namespace = namespace
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._ready_timeout = ready_timeout
        self._ready = {name: threading.Event() for name in loops}
        self._threads = [
            threading.Thread(target=loop, args=(self._ready[name],), name=f"recorder-{name}", daemon=True)
            for name, loop in loops.items()
        ]
        self._alive: dict[str, str] = {}  # uid -> job of the unfinished run Pods
        #: The most unfinished run Pods alive at once, by job (the kubeasset.dev/job label).
        self.max_alive: dict[str, int] = {}

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        for name, ready in self._ready.items():
            if not ready.wait(self._ready_timeout):
                raise AssertionError(f"the recorder's {name} watch did not start within {self._ready_timeout:.0f}s")
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(10)

    def _stream_pods(self, version: str | None, timeout_seconds: int) -> Iterator[tuple[str, Any, str]]:
        """(event type, V1Pod, its resourceVersion) of one watch call on the namespace's run Pods from
        ``version``; ends early once the recorder stops. An ERROR event raises ApiException (410: too old)."""
        lister = self.core.list_namespaced_pod
        for kind, pod in self._stream(lister, [self.namespace], version, timeout_seconds, RUN_POD_SELECTOR):
            yield kind, pod, str(pod.metadata.resource_version)

    def _stream_runs(self, version: str | None, timeout_seconds: int) -> Iterator[tuple[str, Any, str]]:
        """(event type, AssetRun as a dict, its resourceVersion), as :meth:`_stream_pods` for the AssetRuns."""
        lister, arguments = self.custom.list_namespaced_custom_object, [GROUP, VERSION, self.namespace, "assetruns"]
        for kind, run in self._stream(lister, arguments, version, timeout_seconds, None):
            yield kind, run, str(run["metadata"]["resourceVersion"])

    def _stream(
        self,
        lister: Callable[..., Any],
        arguments: list[str],
        version: str | None,
        timeout_seconds: int,
        selector: str | None,
    ) -> Iterator[tuple[str, Any]]:
        selected = {"label_selector": selector} if selector else {}
        stream = watch.Watch()  # type: ignore[no-untyped-call]
        events = stream.stream(  # type: ignore[no-untyped-call]
            lister, *arguments, resource_version=version, timeout_seconds=timeout_seconds, **selected
        )
        for event in events:
            if event["type"] == "ERROR":
                raise ApiException(status=event["raw_object"].get("code", 500))
            yield event["type"], event["object"]
            if self._stop.is_set():
                return

    def _count_alive(self, kind: str, pod: Any) -> None:
        """Update ``max_alive`` from a Pod event (``kind`` ADDED, MODIFIED, DELETED or LISTED); call it with
        ``self._lock`` held."""
        job = (pod.metadata.labels or {}).get("kubeasset.dev/job", "")
        finished = kind == "DELETED" or (pod.status is not None and pod.status.phase in ("Succeeded", "Failed"))
        if finished:
            self._alive.pop(pod.metadata.uid, None)
        else:
            self._alive[pod.metadata.uid] = job
        count = sum(1 for alive_job in self._alive.values() if alive_job == job)
        self.max_alive[job] = max(self.max_alive.get(job, 0), count)
