"""A raw watch in a background thread that timestamps each event the moment its line arrives (monotonic
and wall clock), before any deserialization, so the figures measure the cluster, not the client."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes.watch.watch import iter_resp_lines


@dataclass(frozen=True)
class Seen:
    """One watch event: its type, the object (as JSON), and when it arrived."""

    type: str
    obj: dict[str, Any]
    monotonic: float
    wall: float


class TimedWatch:
    """Watch a list call (``CoreV1Api.list_namespaced_pod``, ``CustomObjectsApi.list_namespaced_custom_object``)
    from its current resourceVersion; every event goes to ``on_event`` in the watch thread.

    Example::

        watch = TimedWatch(core.list_namespaced_pod, ["ns"], on_event=print).start()
        ...
        watch.stop()
    """

    def __init__(
        self, lister: Callable[..., Any], args: list[Any], on_event: Callable[[Seen], None], **kwargs: Any
    ) -> None:
        self._lister = lister
        self._args = args
        self._kwargs = kwargs
        self._on_event = on_event
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="bench-watch", daemon=True)
        self._response: Any = None
        self.errors: list[str] = []

    def start(self) -> TimedWatch:
        listed = self._lister(*self._args, _preload_content=False, limit=1, **self._kwargs)
        self._resource_version = json.loads(listed.data)["metadata"]["resourceVersion"]
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._response is not None:
            # Closing the connection ends the blocking read in the thread.
            self._response.close()
        self._thread.join(5)

    def _main(self) -> None:
        while not self._stop.is_set():
            try:
                self._response = self._lister(
                    *self._args,
                    watch=True,
                    resource_version=self._resource_version,
                    allow_watch_bookmarks=True,
                    timeout_seconds=3600,
                    _preload_content=False,
                    **self._kwargs,
                )
                for line in iter_resp_lines(self._response):
                    arrived, wall = time.monotonic(), time.time()
                    event = json.loads(line)
                    obj = event["object"]
                    self._resource_version = obj.get("metadata", {}).get("resourceVersion", self._resource_version)
                    if event["type"] == "BOOKMARK":
                        continue
                    if event["type"] == "ERROR":
                        self.errors.append(str(obj))
                        break
                    self._on_event(Seen(event["type"], obj, arrived, wall))
            except Exception as error:  # noqa: BLE001 - a benchmark's watch reports and reconnects
                if not self._stop.is_set():
                    self.errors.append(repr(error))
                    time.sleep(0.2)
