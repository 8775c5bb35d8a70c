"""The six kinds by name, and reading objects and manifests into their models.

``parse_resource`` is for objects read from the API server (tolerant of unknown fields);
``parse_manifest`` and ``load_manifests`` are for what people write (strict, with messages that name
each bad field by its camelCase path, like ``spec.cron[0]``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

import yaml
from pydantic import ValidationError

from kubeasset.api.asset import Asset
from kubeasset.api.assetjob import AssetJob
from kubeasset.api.assetrun import AssetRun
from kubeasset.api.assetschedule import AssetSchedule
from kubeasset.api.assetsensor import AssetSensor
from kubeasset.api.base import GROUP_VERSION, strict_context
from kubeasset.api.codelocation import CodeLocation
from kubeasset.api.resource import KubeResource
from kubeasset.api.types import DNS_SUBDOMAIN_PATTERN, MAX_OBJECT_NAME_LENGTH
from kubeasset.errors import InvalidManifestError

#: Every kind, in the order a reader meets them: where code is, what it defines, how it runs.
RESOURCE_CLASSES: Final[tuple[type[KubeResource], ...]] = (
    CodeLocation,
    Asset,
    AssetJob,
    AssetSchedule,
    AssetSensor,
    AssetRun,
)
_NAME_RE: Final = re.compile(DNS_SUBDOMAIN_PATTERN)
#: Kind name -> model class.
KINDS: Final[Mapping[str, type[KubeResource]]] = {cls.crd.kind: cls for cls in RESOURCE_CLASSES}


def resource_class(obj: Mapping[str, Any]) -> type[KubeResource]:
    """The model class of an object, from its ``apiVersion`` and ``kind``."""
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if api_version != GROUP_VERSION:
        raise InvalidManifestError(
            f"apiVersion {api_version!r} is not kubeasset's; use apiVersion: {GROUP_VERSION}"
        )
    if not isinstance(kind, str) or kind not in KINDS:
        raise InvalidManifestError(f"unknown kind {kind!r}; kubeasset's kinds are {', '.join(KINDS)}")
    return KINDS[kind]


def parse_resource(obj: Mapping[str, Any]) -> KubeResource:
    """An object from the API server (a kopf body, a list item) as its model; unknown fields ignored."""
    cls = resource_class(obj)
    try:
        return cls.model_validate(obj)
    except ValidationError as error:
        raise InvalidManifestError(_describe(obj, error)) from error


def parse_manifest(obj: Mapping[str, Any]) -> KubeResource:
    """A manifest a person wrote as its model; unknown fields and over-long names are errors.

    Example::

        run = parse_manifest({"apiVersion": "kubeasset.dev/v1alpha1", "kind": "AssetRun",
                              "metadata": {"name": "sales-now"}, "spec": {"job": "sales-job"}})
    """
    cls = resource_class(obj)
    try:
        resource = cls.model_validate(obj, context=strict_context())
    except ValidationError as error:
        raise InvalidManifestError(_describe(obj, error)) from error
    name, limit = resource.metadata.name, cls.crd.max_name_length
    if name is not None and (len(name) > MAX_OBJECT_NAME_LENGTH or not _NAME_RE.match(name)):
        # The API server refuses it too, but only after the CLI got that far: say it first, and why.
        shown = name if len(name) <= 80 else name[:80] + "…"
        raise InvalidManifestError(
            f"{cls.crd.kind} {shown!r}: metadata.name must be a DNS subdomain name, as Kubernetes requires: "
            f"lowercase letters, digits, '-' and '.', starting and ending with a letter or digit, at most "
            f"{MAX_OBJECT_NAME_LENGTH} characters"
        )
    if name is not None and limit is not None and len(name) > limit:
        raise InvalidManifestError(
            f"{cls.crd.kind} {name!r}: metadata.name has {len(name)} characters; at most {limit} are "
            "allowed (the name is used in label values of the objects it creates)"
        )
    return resource


def load_manifests(text: str) -> list[KubeResource]:
    """Every document of a (multi-document) YAML text, parsed strictly; empty documents are skipped."""
    try:
        documents = [document for document in yaml.safe_load_all(text) if document is not None]
    except yaml.YAMLError as error:
        raise InvalidManifestError(f"not valid YAML: {error}") from error
    resources = []
    for document in documents:
        if not isinstance(document, Mapping):
            raise InvalidManifestError(f"a manifest must be a mapping, got {type(document).__name__}")
        resources.append(parse_manifest(document))
    return resources


def _describe(obj: Mapping[str, Any], error: ValidationError) -> str:
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, Mapping) else None
    lines = [f"{obj.get('kind')} {name or '<unnamed>'} is invalid:"]
    for problem in error.errors(include_url=False):
        lines.append(f"  {_path(problem['loc'])}: {problem['msg']}")
    return "\n".join(lines)


def _path(location: tuple[int | str, ...]) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "<object>"
