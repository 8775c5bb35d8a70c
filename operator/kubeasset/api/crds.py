"""Generate the CustomResourceDefinition YAML of every kind from the API models.

The files in the repository's ``crds/`` folder and their copy in the Helm chart (``helm/kubeasset/crds/``,
which Helm installs before the templates) are this module's output, written by the one command
:data:`REGENERATE_COMMAND`; a unit test fails when either is stale. Output is deterministic (sorted keys,
no YAML anchors, fixed line width), so regenerating unchanged models gives byte-identical files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml

from kubeasset.api.base import API_GROUP, API_VERSION
from kubeasset.api.registry import RESOURCE_CLASSES
from kubeasset.api.resource import KubeResource
from kubeasset.api.schema import first_paragraph, structural_schema

#: The repository folders that hold the generated CRDs, relative to the repository root.
CRD_FOLDERS: Final = ("crds", "helm/kubeasset/crds")
#: The resource reference generated from the same models (kubeasset.api.reference), relative to the root.
REFERENCE_FILE: Final = "docs/reference.md"
#: The command, run at the repository root, that regenerates every folder of :data:`CRD_FOLDERS` and the
#: resource reference :data:`REFERENCE_FILE`.
REGENERATE_COMMAND: Final = (
    "kubeasset crds " + " ".join(f"--out {folder}/" for folder in CRD_FOLDERS) + f" --reference {REFERENCE_FILE}"
)
_HEADER: Final = (
    f"# Generated from the models in kubeasset.api by `{REGENERATE_COMMAND}`.\n"
    "# Do not edit: change the models and regenerate.\n"
)
_FILE_PREFIX: Final = f"{API_GROUP}_"


def crd_file_name(resource: type[KubeResource]) -> str:
    """``kubeasset.dev_assetruns.yaml``: group and plural, as kubebuilder names CRD files."""
    return f"{_FILE_PREFIX}{resource.crd.plural}.yaml"


def crd_manifest(resource: type[KubeResource]) -> dict[str, Any]:
    """The CustomResourceDefinition of one kind, as a dict."""
    names = resource.crd
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{names.plural}.{API_GROUP}"},
        "spec": {
            "group": API_GROUP,
            "names": {
                "kind": names.kind,
                "listKind": f"{names.kind}List",
                "plural": names.plural,
                "singular": names.singular,
                "shortNames": list(names.short_names),
                "categories": list(names.categories),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": API_VERSION,
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "additionalPrinterColumns": [column.to_crd() for column in names.printer_columns],
                    "schema": {"openAPIV3Schema": openapi_schema(resource)},
                }
            ],
        },
    }


def openapi_schema(resource: type[KubeResource]) -> dict[str, Any]:
    """The kind's structural schema: spec and status from the models, the envelope as Kubernetes has it."""
    schema = structural_schema(resource)
    properties = schema["properties"]
    properties["apiVersion"] = {
        "type": "string",
        "description": "APIVersion defines the versioned schema of this representation of an object.",
    }
    properties["kind"] = {
        "type": "string",
        "description": "Kind is a string value representing the REST resource this object represents.",
    }
    metadata: dict[str, Any] = {"type": "object"}
    if resource.crd.max_name_length is not None:
        # The only metadata constraint a CRD may declare; names of these kinds end up in label values.
        metadata["properties"] = {"name": {"type": "string", "maxLength": resource.crd.max_name_length}}
    properties["metadata"] = metadata
    schema["required"] = ["spec"]
    schema["description"] = first_paragraph(resource.__doc__ or resource.crd.kind)
    return schema


def generate_crds() -> dict[str, str]:
    """File name -> YAML text, one CustomResourceDefinition per kind, in a stable order.

    Example::

        for name, text in generate_crds().items():
            print(name)  # kubeasset.dev_assetjobs.yaml, ...
    """
    return {
        crd_file_name(resource): _HEADER + _dump(crd_manifest(resource))
        for resource in sorted(RESOURCE_CLASSES, key=lambda cls: cls.crd.plural)
    }


def write_crds(out_dir: str | Path) -> list[Path]:
    """Write :func:`generate_crds` into ``out_dir`` and delete CRD files of kinds that no longer exist.

    Files are only rewritten when their content changes (so timestamps move only on real changes).
    Returns the paths of the CRD files now in ``out_dir``.
    """
    directory = Path(out_dir)
    directory.mkdir(parents=True, exist_ok=True)
    generated = generate_crds()
    for stale in directory.glob(f"{_FILE_PREFIX}*.yaml"):
        if stale.name not in generated:
            stale.unlink()
    paths = []
    for name, text in generated.items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


class _Dumper(yaml.SafeDumper):
    """Block style for multi-line text, and no anchors/aliases for repeated sub-schemas."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: yaml.SafeDumper, text: str) -> yaml.ScalarNode:
    if "\n" in text:
        return dumper.represent_scalar("tag:yaml.org,2002:str", text, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", text)


_Dumper.add_representer(str, _represent_str)


def _dump(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=True, width=100, allow_unicode=False)
