"""The controller's Kubernetes I/O: a handful of JSON calls (create-if-absent, delete with a uid precondition,
merge patches, status writes only when something changed, Pod logs) and the long-lived streams (watches, log
follows), all awaited on the event loop with aiohttp.

Why aiohttp rather than the blocking ``kubernetes`` client in a thread pool: under load the controller spent
~40% of its time in the pool's plumbing (thread hand-offs, GIL contention with the event loop, loop wake-ups;
bench/README.md), while a call is nothing but waiting for the API server. aiohttp is kopf's own HTTP client.
The ``kubernetes`` client still builds every request (:meth:`ApiClient.param_serialize`): URL, query and the
authentication headers, so credentials are the ones its configuration loading produces (kubeconfig,
in-cluster, exec plugins, token refresh), one code path for calls and streams alike.

Bodies are plain JSON dicts (camelCase, as the API returns them): typed models would convert every Pod and
custom object back and forth for nothing. Short calls are bounded by a semaphore (``max_concurrent_calls``),
so a 10,000-asset catalog cannot open 10,000 connections; streams are not, since a watch or a log follow is
held open for minutes or hours and must never starve the calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException
from kubernetes.client.rest import should_bypass_proxies

from kubeasset.api.base import GROUP_VERSION
from kubeasset.api.resource import KubeResource
from kubeasset.controller.merge_patch import merge_patch
from kubeasset.errors import ControllerError, ObjectConflictError, StaleCacheError
from kubeasset.reconcile.plan_items import ObjectId

log = logging.getLogger("kubeasset.controller")

#: Seconds one API call may take (connect, read) before it counts as failed and is retried.
REQUEST_TIMEOUT: Final = (10.0, 60.0)
#: The same as aiohttp timeouts. Per socket operation, not ``connect``/``total``: those would also count the
#: wait for a free call slot, and under load calls queue there for longer than any single call takes.
CALL_TIMEOUT: Final = aiohttp.ClientTimeout(
    total=None, connect=None, sock_connect=REQUEST_TIMEOUT[0], sock_read=REQUEST_TIMEOUT[1]
)
#: A stream's default: connecting is bounded, a quiet stream is not (a log may be silent for an hour).
STREAM_TIMEOUT: Final = aiohttp.ClientTimeout(total=None, connect=None, sock_connect=REQUEST_TIMEOUT[0], sock_read=None)
#: How much of a failed stream's answer becomes the ApiException's body (the API server's Status is small).
ERROR_BODY_LIMIT: Final = 64 * 1024
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
    """JSON calls and streams against the API server, awaited on the event loop.

    Example::

        io = KubeIO(load_configuration(Path("admin.kubeconfig")))
        pod = await io.create(PODS, manifest)           # 409 AlreadyExists: the existing Pod, if it is ours
        await io.delete(PODS, "shop", ObjectId("shop-discovery-1a2b3c4d", uid))
        async with io.stream("GET", PODS.path("shop", "r-1", "log"), query={"follow": "true"}) as response:
            async for chunk in response.content.iter_any(): ...
        await io.close()

    The HTTP session is made on first use, in the running event loop, and belongs to that loop: one KubeIO
    serves one loop (the controller's).
    """

    def __init__(self, configuration: client.Configuration, *, max_concurrent_calls: int = 16) -> None:
        self.configuration = configuration
        #: Builds each request's URL and authentication headers (it refreshes expiring tokens); it sends nothing.
        self.api_client = client.ApiClient(configuration)
        self.max_concurrent_calls = max_concurrent_calls
        self._calls = asyncio.Semaphore(max_concurrent_calls)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._options = _request_options(configuration)

    async def close(self) -> None:
        """Close the connections (open streams end with a connection error); the KubeIO is unusable after."""
        self._closed = True
        if self._session is not None:
            await self._session.close()
            self._session = None
        self.api_client.close()  # type: ignore[no-untyped-call]

    # --- raw calls ------------------------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        text: bool = False,
    ) -> Any:
        """One call; the decoded JSON response (or text). Raises ApiException for non-2xx, aiohttp.ClientError
        or TimeoutError when the API server cannot be reached or does not answer in time."""
        url, headers = self._prepare(method, path, query, "*/*" if text else "application/json")
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            # Plain JSON as the callers build it; anything else (a datetime, a model) the way the client would.
            data = json.dumps(body, default=self.api_client.sanitize_for_serialization).encode()
        session = self._client()
        async with (
            self._calls,
            session.request(method, url, headers=headers, data=data, timeout=CALL_TIMEOUT, **self._options) as response,
        ):
            payload = await response.read()
        if not 200 <= response.status <= 299:
            raise _api_exception(response, payload)
        if text:
            return payload.decode("utf-8", errors="replace")
        return json.loads(payload) if payload else None

    @contextlib.asynccontextmanager
    async def stream(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        timeout: aiohttp.ClientTimeout | None = None,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """The open response of a long-lived request (a watch, a log follow), to read from ``response.content``;
        closed on leaving the block. Raises ApiException for non-2xx (the body's first 64 KB as its body). Not
        counted against ``max_concurrent_calls``. ``timeout``: connect 10 s and no read limit unless given."""
        # JSON first (watches), anything else too (a Pod log is text/plain).
        url, headers = self._prepare(method, path, query, "application/json, */*")
        session = self._client()
        async with session.request(
            method, url, headers=headers, timeout=timeout or STREAM_TIMEOUT, **self._options
        ) as response:
            if not 200 <= response.status <= 299:
                raise _api_exception(response, await _read_at_most(response.content, ERROR_BODY_LIMIT))
            yield response

    def _prepare(
        self, method: str, path: str, query: Mapping[str, str] | None, accept: str
    ) -> tuple[str, dict[str, str]]:
        """The URL with its query, and the headers with credentials (refreshed by the client when expiring)."""
        _, url, headers, _, _ = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            query_params=list((query or {}).items()),
            header_params={"Accept": accept},
            auth_settings=["BearerToken"],
        )
        return url, headers

    def _client(self) -> aiohttp.ClientSession:
        if self._closed:
            # A connection failure to whoever still calls during shutdown: retried later, never a bug report.
            raise aiohttp.ClientConnectionError("the Kubernetes API client is closed: the controller is stopping")
        loop = asyncio.get_running_loop()
        if self._session is None:
            # No connection limit here: the semaphore bounds the short calls; streams are held open for long.
            connector = aiohttp.TCPConnector(ssl=ssl_context(self.configuration), limit=0)
            # No gzip (aiohttp asks for it by default): on loopback or in-cluster it only costs both sides CPU.
            self._session = aiohttp.ClientSession(connector=connector, skip_auto_headers=("Accept-Encoding",))
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError("a KubeIO serves the event loop it was first used in; make one KubeIO per loop")
        return self._session

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


def ssl_context(configuration: client.Configuration) -> ssl.SSLContext | bool:
    """The TLS settings of a ``kubernetes.client.Configuration`` for aiohttp: its CA, client certificate,
    and verification switch (False: plain HTTP)."""
    if not str(configuration.host).startswith("https"):
        return False
    context = ssl.create_default_context(cafile=configuration.ssl_ca_cert or None)
    if configuration.cert_file:
        context.load_cert_chain(configuration.cert_file, configuration.key_file or None)
    if not configuration.verify_ssl:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def _request_options(configuration: client.Configuration) -> dict[str, Any]:
    """aiohttp's per-request settings for what the configuration asks: a proxy (unless ``no_proxy`` exempts
    the host), the TLS server name when it differs from the host's."""
    options: dict[str, Any] = {}
    if configuration.proxy and not should_bypass_proxies(configuration.host, configuration.no_proxy or ""):
        options["proxy"] = str(configuration.proxy)
        if configuration.proxy_headers:
            options["proxy_headers"] = configuration.proxy_headers
    if getattr(configuration, "tls_server_name", None):
        options["server_hostname"] = configuration.tls_server_name
    return options


def _api_exception(response: aiohttp.ClientResponse, body: bytes) -> ApiException:
    """The error the ``kubernetes`` client would raise: status, reason, headers and the body as text."""
    error = ApiException(status=response.status, reason=response.reason)
    error.body = body.decode("utf-8", errors="replace")
    error.headers = response.headers
    return error


async def _read_at_most(content: aiohttp.StreamReader, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


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
