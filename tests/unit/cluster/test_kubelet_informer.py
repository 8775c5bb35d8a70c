"""The kubelet's informer lists, then watches from the list's resourceVersion, resumes a broken watch from
the last version it saw, and lists again after 410 Gone, reporting what the new list holds."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

from kubeasset.cluster.kubelet.informer import Informer
from kubeasset.errors import KubeletError


def _pod(uid: str, version: str) -> dict[str, Any]:
    return {"metadata": {"uid": uid, "resourceVersion": version}}


class FakeApi:
    """Answers lists and watches from scripts; each watch script is a list of events or an error."""

    def __init__(
        self, lists: list[tuple[str, list[dict[str, Any]]]], watches: list[list[Any]], stop: threading.Event
    ) -> None:
        self.lists = lists
        self.watches = watches
        self.stop = stop
        self.watched_from: list[str] = []

    def get(self, path: str, query: Mapping[str, Any] | None = None) -> dict[str, Any]:
        version, items = self.lists.pop(0)
        return {"metadata": {"resourceVersion": version}, "items": items}

    def watch(self, path: str, query: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        self.watched_from.append(query["resourceVersion"])
        if not self.watches:
            self.stop.set()
            return
        for event in self.watches.pop(0):
            if isinstance(event, KubeletError):
                raise event
            yield event


def test_watch_resumes_from_the_last_version_and_relists_after_410() -> None:
    stop = threading.Event()
    api = FakeApi(
        lists=[("10", [_pod("a", "5")]), ("20", [_pod("b", "19")])],
        watches=[
            [{"type": "ADDED", "object": _pod("c", "12")}, {"type": "BOOKMARK", "object": _pod("", "14")}],
            [KubeletError("connection reset")],
            [{"type": "ERROR", "object": {"code": 410, "message": "too old resource version: 14"}}],
        ],
        stop=stop,
    )
    events: list[tuple[str, str]] = []
    listed: list[set[str]] = []
    informer = Informer(
        api,  # type: ignore[arg-type]
        "/api/v1/pods",
        lambda kind, obj: events.append((kind, obj["metadata"]["uid"])),
        stop,
        on_listed=listed.append,
        retry_seconds=0,
    )

    informer.run()

    assert events == [("SYNC", "a"), ("ADDED", "c"), ("SYNC", "b")]  # bookmarks are not events
    assert listed == [{"a"}, {"b"}]
    # first from the list's version, then from the bookmark's (twice: the reset, then the 410), then the new list's
    assert api.watched_from == ["10", "14", "14", "20"]
    assert informer.synced.is_set()
