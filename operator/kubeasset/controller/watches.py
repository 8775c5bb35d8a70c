"""kubeasset's own watches (informers) of the kinds that grow with use — Assets, AssetRuns and run Pods —
and where their changes go: into the cache's stores and, as keys, into the work queue (the same routing
the kopf handlers do for the other kinds). No decision is made here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

from kubeasset.api.asset import Asset
from kubeasset.api.assetrun import AssetRun
from kubeasset.controller.cache import owner_name, parse_resource
from kubeasset.controller.informer import Informer
from kubeasset.controller.kube import PODS, KubeIO, kind_of
from kubeasset.controller.runtime import Controller
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

    def parse_asset(body: dict[str, Any]) -> Asset | None:
        return parse_resource(Asset, body)

    def parse_run(body: dict[str, Any]) -> AssetRun | None:
        return parse_resource(AssetRun, body)

    where = namespaces
    return [
        Informer(io, kind_of(Asset), cache.asset_store, parse=parse_asset, on_change=asset_changed, namespaces=where),
        Informer(io, kind_of(AssetRun), cache.run_store, parse=parse_run, on_change=run_changed, namespaces=where),
        Informer(
            io,
            PODS,
            cache.run_pod_store,
            parse=lambda body: body,
            on_change=run_pod_changed,
            namespaces=where,
            label_selector=RUN_POD_SELECTOR,
        ),
    ]
