"""Applying a folder of manifests for ``kubeasset dev``: every ``*.yaml``/``*.yml`` under it, in sorted
order, each document server-side applied (field manager ``kubeasset-dev``) the way
``kubectl apply --server-side --force-conflicts -R -f PATH`` would, with missing namespaces created. A bad
document is reported with its file and the API server's message, and the others are still applied.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError

from kubeasset.api.crds import generate_crds
from kubeasset.cli.kube_access import TRANSPORT_ERRORS, server_message
from kubeasset.errors import KubernetesAccessError

FIELD_MANAGER: Final = "kubeasset-dev"
MANIFEST_SUFFIXES: Final = (".yaml", ".yml")
_DISCOVERY_ATTEMPTS: Final = 10


@dataclass(frozen=True)
class Document:
    """One YAML document of a manifest file (``index`` counts from 1 within the file)."""

    source: Path
    index: int
    body: Mapping[str, Any] | None
    #: why the document cannot be applied (YAML syntax, not an object), else None
    problem: str | None = None

    @property
    def where(self) -> str:
        return f"{self.source} (document {self.index})"

    def describe(self) -> str:
        """``AssetJob default/sales-job``."""
        body = self.body or {}
        metadata = body.get("metadata") or {}
        namespace = metadata.get("namespace")
        name = f"{namespace}/{metadata.get('name')}" if namespace else str(metadata.get("name"))
        return f"{body.get('kind')} {name}"


def manifest_files(path: Path) -> list[Path]:
    """``path`` itself if it is a file, else every manifest below it, sorted by relative path (so
    ``00-storage.yaml`` comes before ``01-codelocation.yaml``); hidden folders are skipped."""
    if path.is_file():
        return [path]
    found = [
        candidate
        for candidate in path.rglob("*")
        if candidate.suffix in MANIFEST_SUFFIXES
        and candidate.is_file()
        and not any(part.startswith(".") for part in candidate.relative_to(path).parts)
    ]
    return sorted(found, key=lambda candidate: candidate.relative_to(path).parts)


def read_documents(files: Iterable[Path]) -> list[Document]:
    """The documents of ``files`` in order; empty documents are dropped, broken ones carry their problem."""
    documents = []
    for source in files:
        try:
            loaded = list(yaml.safe_load_all(source.read_text(encoding="utf-8")))
        except (OSError, yaml.YAMLError) as error:
            documents.append(Document(source, 1, None, f"cannot read it: {' '.join(str(error).split())}"))
            continue
        for index, body in enumerate(loaded, start=1):
            if body is None:
                continue
            problem = None
            if not isinstance(body, Mapping):
                problem = f"a manifest must be an object, not {type(body).__name__}"
            elif not body.get("apiVersion") or not body.get("kind"):
                problem = "apiVersion and kind are required"
            elif not (body.get("metadata") or {}).get("name"):
                problem = "metadata.name is required"
            documents.append(Document(source, index, body if isinstance(body, Mapping) else None, problem))
    return documents


class Applier:
    """Server-side apply of arbitrary objects, resolving kinds through API discovery.

    Example::

        applier = Applier(api_client, cache_file=folder / "discovery.json")
        message = applier.apply(document)  # "applied AssetJob default/sales-job" or raises KubernetesAccessError
    """

    def __init__(self, api_client: client.ApiClient, cache_file: Path) -> None:
        cache_file.unlink(missing_ok=True)  # another cluster's discovery must not be reused
        self._cache_file = cache_file
        self._dynamic = DynamicClient(api_client, cache_file=str(cache_file))  # type: ignore[no-untyped-call]
        self._core = client.CoreV1Api(api_client)
        self._namespaces: set[str] = set()

    def apply(self, document: Document) -> str:
        """Apply one document; returns a line saying what was applied. KubernetesAccessError on refusal."""
        if document.problem is not None or document.body is None:
            raise KubernetesAccessError(f"{document.where}: {document.problem}")
        body = dict(document.body)
        try:
            resource = self._resource(str(body["apiVersion"]), str(body["kind"]))
            metadata = dict(body.get("metadata") or {})
            namespace = None
            if resource.namespaced:
                namespace = str(metadata.get("namespace") or "default")
                metadata["namespace"] = namespace
                body["metadata"] = metadata
                self._ensure_namespace(namespace)
            self._dynamic.server_side_apply(  # type: ignore[no-untyped-call]
                resource,
                body=body,
                name=metadata.get("name"),
                namespace=namespace,
                field_manager=FIELD_MANAGER,
                force_conflicts=True,
            )
        except ApiException as error:
            raise KubernetesAccessError(
                f"{document.where}: {document.describe()}: {_message(error)}", status=error.status
            ) from error
        except ResourceNotFoundError as error:
            raise KubernetesAccessError(
                f"{document.where}: the API server does not know {body['kind']} of {body['apiVersion']}"
            ) from error
        except TRANSPORT_ERRORS as error:
            raise KubernetesAccessError(f"{document.where}: cannot reach the API server: {error}") from error
        return f"applied {document.describe()}"

    def _resource(self, api_version: str, kind: str) -> Any:
        # Discovery lags a moment behind a CRD becoming Established: ask again before giving up.
        for attempt in range(_DISCOVERY_ATTEMPTS):
            try:
                return self._dynamic.resources.get(api_version=api_version, kind=kind)
            except ResourceNotFoundError:
                if attempt == _DISCOVERY_ATTEMPTS - 1:
                    raise
                time.sleep(0.5)
                self._dynamic.resources.invalidate_cache()
        raise AssertionError("unreachable")

    def _ensure_namespace(self, namespace: str) -> None:
        if namespace in self._namespaces:
            return
        try:
            self._core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
        except ApiException as error:
            if error.status != 409:
                raise
        self._namespaces.add(namespace)


def crd_documents() -> list[Document]:
    """kubeasset's CustomResourceDefinitions, generated from the API models (what ``crds/`` holds)."""
    return [Document(Path(f"crds/{name}"), 1, yaml.safe_load(text)) for name, text in generate_crds().items()]


def wait_established(api_client: client.ApiClient, names: Iterable[str], timeout: float = 60.0) -> None:
    """Wait until every named CRD is Established (its kind can be used); KubernetesAccessError if not."""
    extensions = client.ApiextensionsV1Api(api_client)
    deadline = time.monotonic() + timeout
    for name in names:
        while not _established(extensions.read_custom_resource_definition(name)):
            if time.monotonic() > deadline:
                raise KubernetesAccessError(f"the CRD {name} did not become Established within {timeout:.0f}s")
            time.sleep(0.2)


def apply_all(applier: Applier, documents: Iterable[Document], report: Callable[[str], None]) -> int:
    """Apply every document, reporting each success and each failure; returns the number of failures."""
    failures = 0
    for document in documents:
        try:
            report(applier.apply(document))
        except KubernetesAccessError as error:
            failures += 1
            report(f"error: {error}")
    return failures


def _established(crd: Any) -> bool:
    conditions = (crd.status.conditions if crd.status else None) or []
    return any(condition.type == "Established" and condition.status == "True" for condition in conditions)


def _message(error: ApiException) -> str:
    # the dynamic client's DynamicApiError is an ApiException with the server's Status as body
    return server_message(error)
