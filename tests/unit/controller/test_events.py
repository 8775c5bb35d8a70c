"""Events are posted on the object they concern, once per identical message within the dedupe window."""

from __future__ import annotations

import asyncio
from typing import Any

from kubeasset.controller.events import MAX_MESSAGE_CHARS, EventRecorder
from kubeasset.reconcile.plan_items import Event, EventType

LOCATION = {
    "apiVersion": "kubeasset.dev/v1alpha1",
    "kind": "CodeLocation",
    "metadata": {"name": "shop", "namespace": "ns", "uid": "u-1", "resourceVersion": "7"},
}


class _Api:
    def __init__(self) -> None:
        self.posted: list[tuple[str, str, dict[str, Any]]] = []

    async def request(self, method: str, path: str, **options: Any) -> Any:
        self.posted.append((method, path, options["body"]))
        return options["body"]


def test_an_event_is_posted_on_its_object_and_repeats_are_dropped() -> None:
    api = _Api()
    recorder = EventRecorder(api, dedupe_seconds=600)  # type: ignore[arg-type]
    warning = Event(EventType.WARNING, "ImportError", "No module named 'shop'")

    async def main() -> list[bool]:
        return [
            await recorder.record(LOCATION, warning),
            await recorder.record(LOCATION, warning),
            await recorder.record(LOCATION, Event(EventType.NORMAL, "Discovered", "9 assets")),
        ]

    assert asyncio.run(main()) == [True, False, True]
    method, path, body = api.posted[0]
    assert (method, path) == ("POST", "/api/v1/namespaces/ns/events")
    assert body["involvedObject"] == {
        "apiVersion": "kubeasset.dev/v1alpha1",
        "kind": "CodeLocation",
        "name": "shop",
        "namespace": "ns",
        "uid": "u-1",
        "resourceVersion": "7",
    }
    assert (body["type"], body["reason"], body["message"]) == ("Warning", "ImportError", "No module named 'shop'")
    assert len(api.posted) == 2


def test_long_messages_are_cut_to_what_an_event_holds() -> None:
    api = _Api()
    recorder = EventRecorder(api)  # type: ignore[arg-type]
    asyncio.run(recorder.record(LOCATION, Event(EventType.WARNING, "ImportError", "x" * 5000)))
    assert len(api.posted[0][2]["message"]) == MAX_MESSAGE_CHARS
