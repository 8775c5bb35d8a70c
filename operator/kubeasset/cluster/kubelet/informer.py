"""List-then-watch of one resource collection, resuming from the last resourceVersion and re-listing after
410 Gone, the way client-go's reflector keeps a cache in sync without polling."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from kubeasset.cluster.kubelet.kube_client import JsonObject, KubeClient
from kubeasset.errors import KubeletError

log = logging.getLogger("kubeasset.kubelet")

#: (event type "ADDED" | "MODIFIED" | "DELETED" | "SYNC", object). SYNC is sent for each object of a
#: (re-)list, so a handler that missed events while disconnected sees the current state.
Handler = Callable[[str, JsonObject], None]
#: Called after each (re-)list with the uids listed, so objects deleted while disconnected can be dropped.
ListedHandler = Callable[[set[str]], None]


class Informer:
    """Calls ``handler`` for every change of the objects at ``path`` until ``stop`` is set.

    >>> Informer(api, "/api/v1/pods", handler, stop).run()  # doctest: +SKIP
    """

    def __init__(
        self,
        api: KubeClient,
        path: str,
        handler: Handler,
        stop: threading.Event,
        *,
        query: Mapping[str, Any] | None = None,
        on_listed: ListedHandler | None = None,
        retry_seconds: float = 1.0,
    ) -> None:
        self._api = api
        self._path = path
        self._handler = handler
        self._stop = stop
        self._query = dict(query or {})
        self._on_listed = on_listed
        self._retry_seconds = retry_seconds
        self.synced = threading.Event()

    def run(self) -> None:
        resource_version: str | None = None
        while not self._stop.is_set():
            try:
                if resource_version is None:
                    resource_version = self._list()
                    self.synced.set()
                resource_version = self._watch(resource_version)
            except KubeletError as error:
                if self._stop.is_set():
                    return
                if error.status == 410:
                    log.info("watch of %s expired (410 Gone): listing again", self._path)
                    resource_version = None
                    continue
                log.warning("%s; retrying in %.0fs", error, self._retry_seconds)
                self._stop.wait(self._retry_seconds)

    def _list(self) -> str:
        listing = self._api.get(self._path, self._query)
        items = listing.get("items", [])
        for item in items:
            self._handler("SYNC", item)
        if self._on_listed is not None:
            self._on_listed({str(item["metadata"]["uid"]) for item in items})
        return str(listing["metadata"]["resourceVersion"])

    def _watch(self, resource_version: str) -> str:
        query = {
            **self._query,
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": "300",
        }
        for event in self._api.watch(self._path, query):
            kind = event.get("type")
            obj: JsonObject = event.get("object") or {}
            if kind == "ERROR":
                code = obj.get("code")
                raise KubeletError(f"watch {self._path}: {obj.get('message')}", status=code)
            resource_version = str(obj.get("metadata", {}).get("resourceVersion") or resource_version)
            if kind != "BOOKMARK":
                self._handler(str(kind), obj)
            if self._stop.is_set():
                break
        return resource_version
