"""The controller's Kubernetes I/O: a handful of JSON calls (create-if-absent, delete with a uid precondition,
merge patches, status writes only when something changed, Pod logs), run off the event loop.

Why the blocking ``kubernetes`` client in a thread pool rather than ``kubernetes_asyncio``: it is already the
project's client (tests, CLI), its configuration loading (kubeconfig, in-cluster, exec plugins) is the one
kopf's own login reuses, and every call here is a short request whose thread is returned at once; the pool
bounds how many calls run together, so a 10,000-asset catalog cannot open 10,000 connections. Bodies are
plain JSON dicts (camelCase, as the API returns them) sent through the client's raw request layer: the typed
models would convert every Pod and custom object back and forth for nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException

from kubeasset.api.base import GROUP_VERSION
from kubeasset.api.resource import KubeResource
from kubeasset.controller.merge_patch import merge_patch
from kubeasset.errors import ControllerError, ObjectConflictError, StaleCacheError
from kubeasset.reconcile.plan_items import ObjectId

log = logging.getLogger("kubeasset.controller")

#: Seconds one API call may take (connect, read) before it counts as failed and is retried.
REQUEST_TIMEOUT: Final = (10.0, 60.0)
MERGE_PATCH: Final = "application/merge-patch+json"


@dataclass(frozen=True)
class Kind:
    """A namespaced resource type by apiVersion and plural: ``Kind("v1", "pods")``."""

    api_version: str
    plural: str
    kind: str

    def path(self, namespace: str, name: str | None = None, subresource: str | None = None) -> str:
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        path = f"{prefix}/namespaces/{namespace}/{self.plural}"
        if name is not None:
            path += f"/{name}"
        if subresource is not None:
            path += f"/{subresource}"
        return path


PODS: Final = Kind("v1", "pods", "Pod")
EVENTS: Final = Kind("v1", "events", "Event")


def kind_of(resource: type[KubeResource]) -> Kind:
    """The Kind of one of kubeasset's resources: ``kind_of(Asset) == Kind(GROUP_VERSION, "assets", "Asset")``."""
    return Kind(GROUP_VERSION, resource.crd.plural, resource.crd.kind)


def load_configuration(kubeconfig: Path | None = None) -> client.Configuration:
    """The client configuration: ``kubeconfig`` when given, else in-cluster (the Pod's service account),
    else the default kubeconfig (``KUBECONFIG`` or ~/.kube/config)."""
    configuration = client.Configuration()
    try:
        if kubeconfig is not None:
            kube_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=str(kubeconfig), client_configuration=configuration
            )
            return configuration
        try:
            kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except kube_config.ConfigException:
            kube_config.load_kube_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (kube_config.ConfigException, OSError) as error:
        where = kubeconfig or "in-cluster credentials, $KUBECONFIG or ~/.kube/config"
        raise ControllerError(f"cannot load Kubernetes credentials from {where}: {error}") from error
    return configuration


class KubeIO:
    """JSON calls against the API server, awaited from the event loop, run in a bounded thread pool.

    Example::

        io = KubeIO(load_configuration(Path("admin.kubeconfig")))
        pod = await io.create(PODS, manifest)           # 409 AlreadyExists: the existing Pod, if it is ours
        await io.delete(PODS, "shop", ObjectId("shop-discovery-1a2b3c4d", uid))
    """

    def __init__(self, configuration: client.Configuration, *, max_concurrent_calls: int = 16) -> None:
        configuration.connection_pool_maxsize = max_concurrent_calls
        self.configuration = configuration
        self.api_client = client.ApiClient(configuration)
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=max_concurrent_calls, thread_name_prefix="kubeasset-api"
        )

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
        self.api_client.close()  # type: ignore[no-untyped-call]

    # --- raw calls ------------------------------------------------------------------------------------

    def request_sync(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        text: bool = False,
    ) -> Any:
        """One blocking call; the decoded JSON response (or text). Raises ApiException for non-2xx."""
        headers = {"Accept": "*/*" if text else "application/json"}
        if body is not None:
            headers["Content-Type"] = content_type
        request = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params=headers,
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(*request, _request_timeout=REQUEST_TIMEOUT)
        data = response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        if text:
            return data.decode("utf-8", errors="replace") if data else ""
        return json.loads(data) if data else None

    async def request(self, method: str, path: str, **options: Any) -> Any:
        """:meth:`request_sync` in the thread pool."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(self.request_sync, method, path, **options))

    # --- the operations reconcilers need --------------------------------------------------------------

    async def get(self, kind: Kind, namespace: str, name: str) -> dict[str, Any] | None:
        """The object, or None when there is none."""
        try:
            result: dict[str, Any] = await self.request("GET", kind.path(namespace, name))
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        return result

    async def create(self, kind: Kind, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Create the object, or return the existing one of that name when it is ours (409 is success).

        "Ours" means: it has the manifest's controller ownerReference (same owner uid). Another object of
        that name is reported as an ObjectConflictError naming its owner, never adopted or replaced.
        """
        metadata = manifest["metadata"]
        namespace, name = metadata["namespace"], metadata["name"]
        try:
            created: dict[str, Any] = await self.request("POST", kind.path(namespace), body=dict(manifest))
            return created
        except ApiException as error:
            if error.status != 409:
                raise
        existing = await self.get(kind, namespace, name)
        if existing is None:  # deleted between our create and our read: the next reconcile creates it
            raise StaleCacheError(f"{kind.kind} {namespace}/{name} existed and was then deleted; trying again")
        wanted = _controller_uid(metadata)
        if wanted is not None and _controller_uid(existing.get("metadata") or {}) != wanted:
            owner = _controller_name(existing.get("metadata") or {})
            if (existing.get("metadata") or {}).get("deletionTimestamp"):
                raise StaleCacheError(f"{kind.kind} {namespace}/{name} of a previous owner is being deleted; waiting")
            raise ObjectConflictError(
                f"{kind.kind} {namespace}/{name} already exists and is not kubeasset's for this object "
                f"({owner or 'it has no controller owner'}); delete or rename it so kubeasset can create its own"
            )
        return existing

    async def delete(self, kind: Kind, namespace: str, target: ObjectId) -> None:
        """Delete ``target`` (with its uid as a precondition when known: a newer object of the same name is
        left alone); already gone (404) or replaced (409) is success. Background propagation: children
        go through the garbage collector."""
        body: dict[str, Any] = {"apiVersion": "v1", "kind": "DeleteOptions", "propagationPolicy": "Background"}
        if target.uid:
            body["preconditions"] = {"uid": target.uid}
        try:
            await self.request("DELETE", kind.path(namespace, target.name), body=body)
        except ApiException as error:
            if error.status not in (404, 409):
                raise

    async def patch(
        self,
        kind: Kind,
        namespace: str,
        name: str,
        patch: Mapping[str, Any],
        *,
        subresource: str | None = None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """A JSON merge patch; with ``resource_version`` it applies only to that version of the object
        (else StaleCacheError: the caller decided on an outdated copy)."""
        body = dict(patch)
        if resource_version is not None:
            body["metadata"] = {**body.get("metadata", {}), "resourceVersion": resource_version}
        try:
            result: dict[str, Any] = await self.request(
                "PATCH", kind.path(namespace, name, subresource), body=body, content_type=MERGE_PATCH
            )
        except ApiException as error:
            if error.status == 409 and resource_version is not None:
                raise StaleCacheError(f"{kind.kind} {namespace}/{name} changed meanwhile; deciding again") from error
            raise
        return result

    async def patch_status(
        self,
        kind: Kind,
        metadata: Mapping[str, Any],
        current_status: Mapping[str, Any] | None,
        desired_status: Mapping[str, Any],
    ) -> dict[str, Any] | None:
        """Write ``desired_status`` when it differs from ``current_status`` (both as the same model dumps
        them, so equal statuses compare equal); only the differing fields are sent, guarded by the
        resourceVersion in ``metadata`` (the object as last read). Returns the written object, None when
        nothing differed."""
        patch = merge_patch(current_status or {}, desired_status)
        if not patch:
            return None
        return await self.patch(
            kind,
            metadata["namespace"],
            metadata["name"],
            {"status": patch},
            subresource="status",
            resource_version=metadata.get("resourceVersion"),
        )

    async def read_pod_log(self, namespace: str, name: str, container: str) -> str:
        """The whole log of a Pod's container (as ``kubectl logs``)."""
        text: str = await self.request(
            "GET", PODS.path(namespace, name, "log"), query={"container": container}, text=True
        )
        return text


def _controller_uid(metadata: Mapping[str, Any]) -> str | None:
    for reference in metadata.get("ownerReferences") or ():
        if reference.get("controller"):
            return str(reference.get("uid"))
    return None


def _controller_name(metadata: Mapping[str, Any]) -> str | None:
    for reference in metadata.get("ownerReferences") or ():
        if reference.get("controller"):
            return f"owned by {reference.get('kind')} {reference.get('name')} uid {reference.get('uid')}"
    return None
