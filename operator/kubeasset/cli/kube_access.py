"""How user commands reach the API server: the kubeconfig chosen as kubectl chooses it, the namespace it
names, and kubeasset's custom objects read and written with every failure turned into one readable line.

The kubeconfig is ``--kubeconfig`` if given, else ``$KUBECONFIG`` (several files joined with ':' are merged,
as kubectl merges them), else ``~/.kube/config``, else the in-cluster service account. The namespace is
``-n`` if given, else the current context's namespace, else ``default``.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import urllib3
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException

from kubeasset.api.base import API_GROUP, API_VERSION
from kubeasset.errors import KubernetesAccessError

#: Seconds to connect, and to wait for an answer, for one ordinary (non-watch) request.
REQUEST_TIMEOUT: Final = (10.0, 30.0)
_DEFAULT_KUBECONFIG: Final = "~/.kube/config"
_IN_CLUSTER_NAMESPACE_FILE: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")

#: What a request can fail with besides an HTTP error status: the server unreachable, a reset connection,
#: a read timeout (urllib3's errors all derive from HTTPError).
TRANSPORT_ERRORS: Final = (urllib3.exceptions.HTTPError, OSError)


@dataclass(frozen=True)
class Cluster:
    """A connection to one API server and the namespace commands act in by default.

    Example::

        cluster = connect(kubeconfig=None, namespace=None)     # like kubectl: KUBECONFIG, current namespace
        run = cluster.get("assetruns", cluster.namespace, "sales-job-20261124-223105-x7k2q")
    """

    api_client: client.ApiClient
    namespace: str
    #: Where the configuration came from, for messages ("kubeconfig /tmp/admin.kubeconfig").
    source: str

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api_client)

    @property
    def server(self) -> str:
        return str(self.api_client.configuration.host)

    def get(self, plural: str, namespace: str, name: str) -> dict[str, Any]:
        """One kubeasset object as JSON; a missing one raises KubernetesAccessError with status 404."""
        try:
            found = self.custom.get_namespaced_custom_object(
                API_GROUP, API_VERSION, namespace, plural, name, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as error:
            raise self.api_error(error, f"read {plural} {name!r} in namespace {namespace!r}") from error
        except TRANSPORT_ERRORS as error:
            raise self.unreachable(error) from error
        return _as_dict(found)

    def list(self, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        """Every kubeasset object of ``plural`` in ``namespace`` (None: in all namespaces)."""
        try:
            if namespace is None:
                found = self.custom.list_cluster_custom_object(
                    API_GROUP, API_VERSION, plural, _request_timeout=REQUEST_TIMEOUT
                )
            else:
                found = self.custom.list_namespaced_custom_object(
                    API_GROUP, API_VERSION, namespace, plural, _request_timeout=REQUEST_TIMEOUT
                )
        except ApiException as error:
            where = "all namespaces" if namespace is None else f"namespace {namespace!r}"
            raise self.api_error(error, f"list {plural} in {where}") from error
        except TRANSPORT_ERRORS as error:
            raise self.unreachable(error) from error
        return [_as_dict(item) for item in _as_dict(found).get("items") or []]

    def create(self, plural: str, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create a kubeasset object; the stored object (with its resourceVersion) is returned."""
        try:
            created = self.custom.create_namespaced_custom_object(
                API_GROUP, API_VERSION, namespace, plural, body, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as error:
            name = body.get("metadata", {}).get("name")
            raise self.api_error(error, f"create {plural} {name!r} in namespace {namespace!r}") from error
        except TRANSPORT_ERRORS as error:
            raise self.unreachable(error) from error
        return _as_dict(created)

    def api_error(self, error: ApiException, action: str) -> KubernetesAccessError:
        """An error answer of the API server as one line: what was attempted and what the server said.

        A 404 that names no object means the resource type itself is unknown (the CRDs are not
        installed), which the message then says."""
        hint = ""
        if error.status == 404 and _not_found_name(error) is None:
            hint = "; are the kubeasset CRDs installed? (kubectl apply -f crds/, or run kubeasset dev)"
        return KubernetesAccessError(
            f"cannot {action}: {server_message(error)} (API server {self.server}){hint}", status=error.status
        )

    def unreachable(self, error: BaseException) -> KubernetesAccessError:
        return KubernetesAccessError(
            f"cannot reach the API server {self.server} ({self.source}): {_first_line(error)}; "
            "is the cluster running (kubeasset dev) and is this the right kubeconfig?"
        )


def server_message(error: ApiException) -> str:
    """The ``message`` of the Status object the server sent, else its HTTP reason."""
    body = error.body
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    if isinstance(body, str) and body:
        try:
            status = json.loads(body)
        except ValueError:
            return " ".join(body.split())[:300] or str(error.reason)
        if isinstance(status, dict) and status.get("message"):
            return str(status["message"])
    return f"{error.status} {error.reason}"


def is_missing_object(error: KubernetesAccessError | ApiException, name: str) -> bool:
    """Whether a 404 means "the object ``name`` does not exist" rather than "this resource type does not
    exist" (CRDs not installed): only the former comes with a Status naming the object."""
    if isinstance(error, KubernetesAccessError):
        cause = error.__cause__
        if not isinstance(cause, ApiException):
            return False
        error = cause
    return error.status == 404 and _not_found_name(error) == name


def _not_found_name(error: ApiException) -> str | None:
    try:
        status = json.loads(error.body) if error.body else None
    except ValueError:
        return None
    details = status.get("details") if isinstance(status, dict) else None
    name = details.get("name") if isinstance(details, dict) else None
    return str(name) if name else None


def connect(kubeconfig: str | None, namespace: str | None) -> Cluster:
    """Load the configuration as kubectl does (see the module docstring) and pick the namespace."""
    chosen = kubeconfig or os.environ.get("KUBECONFIG") or None
    if chosen is None:
        default = Path(_DEFAULT_KUBECONFIG).expanduser()
        if default.exists() or not os.environ.get("KUBERNETES_SERVICE_HOST"):
            chosen = str(default)
        else:
            return _in_cluster(namespace)
    configuration = client.Configuration()
    try:
        kube_config.load_kube_config(config_file=chosen, client_configuration=configuration)  # type: ignore[no-untyped-call]
        _, active = kube_config.list_kube_config_contexts(config_file=chosen)  # type: ignore[no-untyped-call]
    except (kube_config.ConfigException, OSError, ValueError) as error:
        raise KubernetesAccessError(
            f"cannot load the kubeconfig {chosen}: {_first_line(error)}; pass --kubeconfig FILE or set KUBECONFIG "
            "(kubeasset dev and kubeasset cluster start print where they wrote theirs)"
        ) from error
    context_namespace = (active or {}).get("context", {}).get("namespace")
    return Cluster(
        api_client=client.ApiClient(configuration),
        namespace=namespace or context_namespace or "default",
        source=f"kubeconfig {chosen}",
    )


def _in_cluster(namespace: str | None) -> Cluster:
    configuration = client.Configuration()
    try:
        kube_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except kube_config.ConfigException as error:
        raise KubernetesAccessError(
            f"no kubeconfig and no in-cluster credentials ({_first_line(error)}); pass --kubeconfig FILE or set "
            "KUBECONFIG"
        ) from error
    try:
        own = _IN_CLUSTER_NAMESPACE_FILE.read_text(encoding="utf-8").strip()
    except OSError:
        own = ""
    return Cluster(client.ApiClient(configuration), namespace or own or "default", "in-cluster service account")


def _as_dict(body: object) -> dict[str, Any]:
    # The custom-objects API returns decoded JSON; anything but an object means a broken proxy in between.
    if not isinstance(body, dict):
        raise KubernetesAccessError(f"the API server sent {type(body).__name__} where an object was expected")
    return body


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
