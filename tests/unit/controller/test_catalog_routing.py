"""The catalog's own writes do not send the CodeLocation to repair it: a discovery updating 10,000 Asset
specs would otherwise re-plan the location for each of their watch events; someone else's edit still does."""

from __future__ import annotations

from typing import Any

from kubeasset.controller import cache
from kubeasset.controller.runtime import CODE_LOCATION, Controller, DiscoveryMemory
from kubeasset.controller.workqueue import ObjectKey
from kubeasset.reconcile.catalog import desired_assets
from tests.unit.reconcile.location_builders import make_location, shop_graph

LOCATION = ObjectKey(CODE_LOCATION, "data", "shop")


class _Queue:
    def __init__(self) -> None:
        self.added: list[ObjectKey] = []

    def add(self, key: ObjectKey, delay: float = 0.0) -> None:
        self.added.append(key)


def _controller() -> tuple[Controller, _Queue, DiscoveryMemory]:
    controller = Controller(io=None)  # type: ignore[arg-type]  # routing makes no API call
    controller.cache.bind({name: {} for name in cache.ALL_INDEXES})
    queue = _Queue()
    controller.queue = queue  # type: ignore[assignment]
    memory = controller.discovery.setdefault(("data", "shop"), DiscoveryMemory())
    return controller, queue, memory


def _written(memory: DiscoveryMemory, uid: str, generation: int) -> None:
    manifest = desired_assets(make_location(), shop_graph())[0]
    body: dict[str, Any] = {
        **manifest,
        "metadata": {**manifest["metadata"], "uid": uid, "generation": generation, "resourceVersion": "9"},
    }
    memory.catalog.written(manifest, body)


def test_the_controllers_own_spec_update_does_not_wake_the_location() -> None:
    controller, queue, memory = _controller()
    controller.asset_changed(None, "data", "shop", "uid-1", 1)
    _written(memory, "uid-1", 2)
    controller.asset_changed("MODIFIED", "data", "shop", "uid-1", 2)
    assert LOCATION not in queue.added


def test_someone_elses_spec_edit_still_wakes_the_location() -> None:
    controller, queue, memory = _controller()
    controller.asset_changed(None, "data", "shop", "uid-1", 1)
    _written(memory, "uid-1", 2)
    controller.asset_changed("MODIFIED", "data", "shop", "uid-1", 2)
    controller.asset_changed("MODIFIED", "data", "shop", "uid-1", 3)  # an edit after the controller's
    assert queue.added.count(LOCATION) == 1
    queue.added.clear()
    controller.asset_changed("DELETED", "data", "shop", "uid-1", 3)
    assert LOCATION in queue.added
    assert not memory.catalog.wrote("uid-1", 2)  # forgotten with the object
