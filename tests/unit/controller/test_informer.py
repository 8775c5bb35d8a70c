"""The informer keeps its store equal to the API server's objects across a first listing (paged), watch
events, an expired watch (410) and a broken connection, and reports every change once — what the
controller's cache and its decisions rely on after a restart or an API server outage."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from kubeasset.controller.informer import Informer, json_lines
from kubeasset.controller.kube import PODS
from kubeasset.controller.store import Store


def pod(name: str, version: int, namespace: str = "shop") -> dict[str, Any]:
    metadata = {"name": name, "namespace": namespace, "uid": f"uid-{name}", "resourceVersion": str(version)}
    return {"metadata": {**metadata, "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}]}}


class _Content:
    def __init__(self, chunks: list[bytes]) -> None:
        self._chunks = chunks

    async def iter_any(self) -> AsyncIterator[bytes]:
        for chunk in self._chunks:
            yield chunk


class _Response:
    def __init__(self, chunks: list[bytes]) -> None:
        self.content = _Content(chunks)


class FakeServer:
    """Answers LISTs from ``pages`` (one list of pages per LIST) and WATCHes from ``watches`` (a list of
    events per WATCH, or an exception to raise); records the queries."""

    def __init__(self, lists: list[list[dict[str, Any]]], watches: list[list[dict[str, Any]] | Exception]) -> None:
        self.lists = lists
        self.watches = watches
        self.list_queries: list[dict[str, str]] = []
        self.watch_queries: list[dict[str, str]] = []
        self.done = asyncio.Event()

    async def request(self, method: str, path: str, *, query: dict[str, str]) -> dict[str, Any]:
        self.list_queries.append(query)
        pages = self.lists[0]
        index = int(query.get("continue", "0"))
        if index == len(pages) - 1:
            self.lists.pop(0)
        return pages[index]

    @contextlib.asynccontextmanager
    async def stream(self, method: str, path: str, **options: Any) -> AsyncIterator[_Response]:
        self.watch_queries.append(options["query"])
        if not self.watches:
            self.done.set()
            await asyncio.Event().wait()  # hang like an idle watch until the test cancels
        events = self.watches.pop(0)
        if isinstance(events, Exception):
            raise events
        text = "".join(json.dumps(event) + "\n" for event in events).encode()
        # Cut the stream at arbitrary places: lines arrive in pieces.
        yield _Response([text[i : i + 7] for i in range(0, len(text), 7)])


def page(items: list[dict[str, Any]], version: str, more: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"resourceVersion": version}
    if more:
        metadata["continue"] = more
    return {"items": items, "metadata": metadata}


def run_informer(server: FakeServer) -> tuple[Store[dict[str, Any]], list[tuple[str | None, str]], Informer[Any]]:
    store: Store[dict[str, Any]] = Store()
    changes: list[tuple[str | None, str]] = []

    def record(event_type: str | None, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        changed = new or old
        assert changed is not None
        changes.append((event_type, f"{changed['metadata']['name']}@{changed['metadata']['resourceVersion']}"))

    informer: Informer[dict[str, Any]] = Informer(
        server,  # type: ignore[arg-type]  # the two calls the informer makes
        PODS,
        store,
        parse=lambda body: body,
        on_change=record,
        namespaces=["shop"],
        label_selector="app=x",
    )

    run_until_idle(server, informer)
    return store, changes, informer


def run_until_idle(server: FakeServer, informer: Informer[Any]) -> None:
    """Run the informer until it waits on a watch the server has nothing more for."""

    async def main() -> None:
        task = asyncio.create_task(informer.run())
        await asyncio.wait_for(server.done.wait(), 5)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    asyncio.run(main())


def names(store: Store[dict[str, Any]]) -> dict[str, str]:
    return {item["metadata"]["name"]: item["metadata"]["resourceVersion"] for item in store}


def test_the_first_listing_is_paged_reported_as_listing_and_then_watched_from_its_version() -> None:
    server = FakeServer(
        lists=[[page([pod("a", 1), pod("b", 2)], "10", more="1"), page([pod("c", 3)], "10")]],
        watches=[
            [
                {"type": "ADDED", "object": pod("d", 11)},
                {"type": "MODIFIED", "object": pod("a", 12)},
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "13"}}},
                {"type": "DELETED", "object": pod("b", 14)},
            ],
            [],  # the server ended the watch (timeout): watched again from the last version seen
        ],
    )
    store, changes, informer = run_informer(server)
    assert changes == [
        (None, "a@1"),
        (None, "b@2"),
        (None, "c@3"),
        ("ADDED", "d@11"),
        ("MODIFIED", "a@12"),
        ("DELETED", "b@2"),
    ]
    assert names(store) == {"a": "12", "c": "3", "d": "11"}
    # The stored objects leave managedFields out: most of an object's memory, read by nobody.
    assert all("managedFields" not in item["metadata"] for item in store)
    assert informer.synced.is_set()
    assert [query.get("continue") for query in server.list_queries] == [None, "1"]
    assert all(query["labelSelector"] == "app=x" and query["limit"] == "500" for query in server.list_queries)
    # The version moves with every event, bookmarks included; the last one seen here is the deletion's.
    assert [query["resourceVersion"] for query in server.watch_queries] == ["10", "14", "14"]
    assert server.watch_queries[0]["allowWatchBookmarks"] == "true"


def test_an_expired_watch_lists_again_and_reports_only_the_difference() -> None:
    server = FakeServer(
        lists=[
            [page([pod("a", 1), pod("b", 2), pod("c", 3)], "10")],
            # While the watch was gone: b deleted, c changed, e created, a unchanged.
            [page([pod("a", 1), pod("c", 30), pod("e", 31)], "40")],
        ],
        watches=[[{"type": "ERROR", "object": {"code": 410, "message": "too old resource version"}}]],
    )
    store, changes, _ = run_informer(server)
    assert changes[3:] == [("MODIFIED", "c@30"), ("ADDED", "e@31"), ("DELETED", "b@2")]
    assert names(store) == {"a": "1", "c": "30", "e": "31"}
    assert server.watch_queries[-1]["resourceVersion"] == "40"


def test_a_broken_connection_watches_again_from_the_last_version_seen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("kubeasset.controller.informer.RETRY_DELAYS", (0.0,))
    server = FakeServer(
        lists=[[page([pod("a", 1)], "10")]],
        watches=[
            [{"type": "MODIFIED", "object": pod("a", 11)}],
            aiohttp.ClientConnectionError("API server restarting"),
            [{"type": "MODIFIED", "object": pod("a", 12)}],
        ],
    )
    store, changes, _ = run_informer(server)
    assert changes == [(None, "a@1"), ("MODIFIED", "a@11"), ("MODIFIED", "a@12")]
    # 10: after the LIST; 11: after the server ended the first watch; 11 again: after the blip; 12: after.
    assert [query["resourceVersion"] for query in server.watch_queries] == ["10", "11", "11", "12"]
    assert len(server.list_queries) == 1  # no second LIST for a single blip


def test_an_object_the_controller_cannot_read_is_left_out_and_its_earlier_version_reported_gone() -> None:
    server = FakeServer(
        lists=[[page([pod("a", 1)], "10")]],
        watches=[[{"type": "MODIFIED", "object": {**pod("a", 11), "unreadable": True}}]],
    )
    store: Store[dict[str, Any]] = Store()
    changes: list[str | None] = []
    informer: Informer[dict[str, Any]] = Informer(
        server,  # type: ignore[arg-type]
        PODS,
        store,
        parse=lambda body: None if body.get("unreadable") else body,
        on_change=lambda event_type, old, new: changes.append(event_type),
    )
    run_until_idle(server, informer)
    assert changes == [None, "DELETED"]
    assert len(store) == 0


def _chunks(data: bytes, size: int) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def test_json_lines_are_whole_however_the_stream_is_cut_and_however_long() -> None:
    long_line = json.dumps({"status": {"assets": ["x" * 100] * 5000}}).encode()
    data = b'{"a": 1}\n' + long_line + b"\n\n" + b'{"b": 2}'

    async def collect() -> list[bytes]:
        return [line async for line in json_lines(_Content(list(_chunks(data, 4096))))]  # type: ignore[arg-type]

    assert asyncio.run(collect()) == [b'{"a": 1}', long_line, b'{"b": 2}']
