"""kubeasset's own watches (informers) of the kinds that grow with use — Assets, AssetRuns and run Pods —
and where their changes go: into the cache's stores and, as keys, into the work queue (the same routing
the kopf handlers do for the other kinds). No decision is made here.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Final

from kubeasset.api.asset import Asset
from kubeasset.api.assetrun import AssetRun
from kubeasset.controller.cache import owner_name, parse_resource
from kubeasset.controller.informer import ChangeHandler, Informer
from kubeasset.controller.kube import PODS, Kind, KubeIO, kind_of
from kubeasset.controller.runtime import Controller
from kubeasset.controller.store import Store
from kubeasset.reconcile.naming import COMPONENT_LABEL, COMPONENT_RUN, MANAGED_BY, MANAGED_BY_LABEL

#: Only kubeasset's run Pods, filtered by the API server.
RUN_POD_SELECTOR: Final = f"{MANAGED_BY_LABEL}={MANAGED_BY},{COMPONENT_LABEL}={COMPONENT_RUN}"


def build_informers(controller: Controller, io: KubeIO, namespaces: Sequence[str]) -> list[Informer[Any]]:
    """The informers that fill ``controller.cache``'s stores and route changes to its work queue;
    ``namespaces`` empty: the whole cluster."""
    cache = controller.cache

    def asset_changed(event_type: str | None, old: Asset | None, new: Asset | None) -> None:
        asset = new or old
        assert asset is not None  # an informer reports at least one side
        metadata = asset.metadata
        controller.asset_changed(
            event_type, metadata.namespace or "", asset.spec.code_location, metadata.uid or "", metadata.generation
        )

    def run_changed(event_type: str | None, old: AssetRun | None, new: AssetRun | None) -> None:
        run = new or old
        assert run is not None
        controller.run_changed(run.metadata.namespace or "", run.metadata.name or "", run, event_type=event_type)

    def run_pod_changed(event_type: str | None, old: dict[str, Any] | None, new: dict[str, Any] | None) -> None:
        pod = new or old
        assert pod is not None
        namespace = str((pod.get("metadata") or {}).get("namespace") or "")
        controller.run_pod_changed(event_type, namespace, owner_name(pod, AssetRun.crd.kind), pod)

    def watch(
        kind: Kind,
        store: Store[Any],
        parse: Callable[[dict[str, Any]], Any],
        on_change: ChangeHandler[Any],
        selector: str | None = None,
    ) -> Informer[Any]:
        """An informer of ``kind`` over the watched namespaces."""
        return Informer(
            io, kind, store, parse=parse, on_change=on_change, namespaces=namespaces, label_selector=selector
        )

    return [
        watch(kind_of(Asset), cache.asset_store, functools.partial(parse_resource, Asset), asset_changed),
        watch(kind_of(AssetRun), cache.run_store, functools.partial(parse_resource, AssetRun), run_changed),
        watch(PODS, cache.run_pod_store, lambda body: body, run_pod_changed, RUN_POD_SELECTOR),
    ]
