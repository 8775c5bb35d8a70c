"""Render the resource reference (``docs/reference.md``) from the generated CRDs, so the documentation of every
field (type, default, constraints, docstring), printer column and condition can never drift from the schema
the API server enforces.

It is written by the same one command as the CRDs (:data:`kubeasset.api.crds.REGENERATE_COMMAND`), and the
unit test that finds stale CRDs finds a stale reference too.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from kubeasset.api.base import API_GROUP, API_VERSION
from kubeasset.api.conditions import MATERIALIZED, READY, RECONCILING, STALLED, SUCCEEDED
from kubeasset.api.crds import REFERENCE_FILE, REGENERATE_COMMAND, crd_manifest
from kubeasset.api.registry import RESOURCE_CLASSES
from kubeasset.api.resource import KubeResource
from kubeasset.api.schema import first_paragraph

#: The conditions each kind's status carries and what their status means. The reasons, and what to do about
#: each, are in the README's Troubleshooting section (a test checks that every reason is there).
CONDITIONS: Final[dict[str, tuple[tuple[str, str], ...]]] = {
    "CodeLocation": (
        (
            READY,
            "True once discovery imported the module and recorded a valid asset graph; False (reason "
            "ImportError, InvalidGraph, ImagePullFailed, ...) with the error in the message; Unknown while "
            "discovering. `kubectl wait --for=condition=Ready codelocation/NAME` waits for it.",
        ),
    ),
    "Asset": ((MATERIALIZED, "True when the latest materialization is current (reason Materialized)."),),
    "AssetJob": (
        (
            READY,
            "True when the selection resolved to assets of a Ready code location (reason Resolved); False with "
            "reason InvalidSelection, EmptySelection, CodeLocationNotFound, ...",
        ),
    ),
    "AssetSchedule": (
        (
            READY,
            "True when the schedule is armed (reason Scheduled, or Suspended); False with reason InvalidCron, "
            "InvalidTimezone, JobNotFound or JobNotReady.",
        ),
    ),
    "AssetSensor": (
        (
            READY,
            "True when the sensor watches assets (reason Watching, or Suspended); False with reason "
            "InvalidSelection, NoWatchedAssets, JobNotFound, ...",
        ),
    ),
    "AssetRun": (
        (
            SUCCEEDED,
            "Unknown while the run is Pending, Starting or Running (the reason says what it waits for); True "
            "when it succeeded; False when it failed or was canceled (as Tekton's). Wait for the end with "
            "`kubectl wait --for=jsonpath='{.status.phase}'=Succeeded assetrun/NAME`.",
        ),
        (
            "Retried",
            "True once the controller created the retry of this failed run (reason RetryCreated; the message "
            "names the new run and its attempt). See the AssetJob's `retry`.",
        ),
        (RECONCILING, "True while the run has not finished (kstatus, read by Flux: InProgress); absent after."),
        (
            STALLED,
            "True once the run failed or was canceled, with the same reason and message as Succeeded (kstatus: "
            "Failed); absent otherwise.",
        ),
    ),
}


@dataclass(frozen=True)
class FieldRow:
    """One documented field: its path under the kind, and the cells of its table row."""

    path: str
    type: str
    default: str
    constraints: str
    description: str


def render_reference() -> str:
    """The Markdown text of the resource reference, deterministic for unchanged models.

    Example::

        Path("docs/reference.md").write_text(render_reference())
    """
    lines = [
        "# Resource reference",
        "",
        f"<!-- Generated from the models in kubeasset.api by `{REGENERATE_COMMAND}`. Do not edit. -->",
        "",
        f"Group `{API_GROUP}`, version `{API_VERSION}`; every kind is namespaced, has a status subresource and "
        "the category `kubeasset` (`kubectl get kubeasset` lists them all). The controller writes only `status` "
        "(and creates `Asset`s and `AssetRun`s of its own); it never writes the `spec` of an object you "
        "applied. Conditions follow `metav1.Condition` (`type`, `status`, `reason`, `message`, "
        "`lastTransitionTime`, `observedGeneration`); what each reason means is in the README's "
        "Troubleshooting section.",
        "",
        "Paths use `[]` for the items of a list and `{}` for the values of a map. `kubectl explain "
        "<kind>.spec` shows the same descriptions.",
        "",
        "| kind | plural | short names |",
        "| --- | --- | --- |",
    ]
    for resource in RESOURCE_CLASSES:
        names = resource.crd
        lines.append(
            f"| [{names.kind}](#{names.kind.lower()}) | `{names.plural}` | "
            f"{', '.join(f'`{name}`' for name in names.short_names)} |"
        )
    for resource in RESOURCE_CLASSES:
        lines.extend(["", *_kind_section(resource)])
    return "\n".join(lines) + "\n"


def write_reference(path: str | Path = REFERENCE_FILE) -> Path:
    """Write :func:`render_reference` to ``path`` (default: the repository's, from its root) when it changes."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    text = render_reference()
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        target.write_text(text, encoding="utf-8")
    return target


def field_rows(schema: dict[str, Any], prefix: str) -> list[FieldRow]:
    """Every field below ``schema`` (a structural schema node), depth first, in declaration order."""
    return list(_walk(schema, prefix))


def _kind_section(resource: type[KubeResource]) -> list[str]:
    names = resource.crd
    manifest = crd_manifest(resource)
    version = manifest["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    lines = [
        f"## {names.kind}",
        "",
        _cell(first_paragraph(resource.__doc__ or names.kind)),
        "",
        f"`kubectl get {names.plural}` (short names: {', '.join(f'`{name}`' for name in names.short_names)}).",
    ]
    if names.max_name_length is not None:
        lines.append(f"`metadata.name` has at most {names.max_name_length} characters (it is used in label values).")
    lines.extend(["", "### Printer columns", "", "| column | JSONPath | type | shown | description |"])
    lines.append("| --- | --- | --- | --- | --- |")
    for column in version["additionalPrinterColumns"]:
        shown = "with `-o wide`" if column.get("priority") else "always"
        lines.append(
            f"| {column['name']} | `{_code(column['jsonPath'])}` | {column['type']} | {shown} | "
            f"{_cell(column.get('description', ''))} |"
        )
    lines.extend(["", "### Conditions", "", "| type | meaning |", "| --- | --- |"])
    for type_, meaning in CONDITIONS[names.kind]:
        lines.append(f"| `{type_}` | {_cell(meaning)} |")
    for part in ("spec", "status"):
        node = schema["properties"].get(part)
        if node is None:
            continue
        lines.extend(["", f"### {part}", ""])
        if node.get("description"):
            lines.extend([_cell(node["description"]), ""])
        lines.append("| field | type | default | constraints | description |")
        lines.append("| --- | --- | --- | --- | --- |")
        for row in field_rows(node, part):
            lines.append(
                f"| `{_code(row.path)}` | {row.type} | {row.default} | {row.constraints} | {row.description} |"
            )
    return lines


def _walk(node: dict[str, Any], path: str) -> Iterator[FieldRow]:
    required = set(node.get("required", ()))
    for name, child in (node.get("properties") or {}).items():
        child_path = f"{path}.{name}"
        yield _row(child, child_path, name in required)
        yield from _children(child, child_path)


def _children(node: dict[str, Any], path: str) -> Iterator[FieldRow]:
    if "properties" in node:
        yield from _walk(node, path)
    elif node.get("type") == "array" and isinstance(node.get("items"), dict):
        yield from _children(node["items"], f"{path}[]")
    elif isinstance(node.get("additionalProperties"), dict):
        yield from _children(node["additionalProperties"], f"{path}{{}}")


def _row(node: dict[str, Any], path: str, required: bool) -> FieldRow:
    default = node.get("default")
    return FieldRow(
        path=path,
        type=_type(node),
        default="" if default is None else f"`{_code(json.dumps(default, sort_keys=True))}`",
        constraints="; ".join(_constraints(node, required)),
        description=_cell(node.get("description", "")),
    )


def _type(node: dict[str, Any]) -> str:
    if node.get("x-kubernetes-int-or-string"):
        return "integer or string"
    kind = node.get("type")
    if kind == "array":
        return f"list of {_type(node['items'])}"
    if kind == "object" and isinstance(node.get("additionalProperties"), dict):
        return f"map of {_type(node['additionalProperties'])}"
    if kind is None:
        return "any (kept as written)"
    if node.get("format"):
        return f"{kind} ({node['format']})"
    return str(kind)


def _constraints(node: dict[str, Any], required: bool) -> Iterator[str]:
    if required:
        yield "**required**"
    if "enum" in node:
        yield "one of " + ", ".join(f"`{_code(str(value))}`" for value in node["enum"])
    bounds = (
        ("minimum", "≥ {}"),
        ("maximum", "≤ {}"),
        ("minLength", "length ≥ {}"),
        ("maxLength", "length ≤ {}"),
        ("minItems", "≥ {} items"),
        ("maxItems", "≤ {} items"),
        ("minProperties", "≥ {} keys"),
        ("maxProperties", "≤ {} keys"),
    )
    for keyword, text in bounds:
        if keyword in node:
            yield text.format(node[keyword])
    if "pattern" in node:
        yield f"matches `{_code(node['pattern'])}`"
    list_type = node.get("x-kubernetes-list-type")
    if list_type == "map":
        yield "list keyed by " + ", ".join(f"`{key}`" for key in node.get("x-kubernetes-list-map-keys", ()))
    elif list_type == "set":
        yield "set (unique items)"
    if node.get("x-kubernetes-preserve-unknown-fields") and "properties" in node:
        yield "other fields kept as written"
    for rule in node.get("x-kubernetes-validations", ()):
        yield f"rule: {_cell(rule['message'])}"


def _cell(text: str) -> str:
    """Prose fit for one Markdown table cell: one line, pipes escaped, and outside `code spans` the characters
    Markdown would read as emphasis or HTML (``*``, ``_``, ``<``) escaped, so CEL messages quoting regular
    expressions and placeholders such as <release> show as written."""
    parts = " ".join(text.split()).split("`")
    for index in range(0, len(parts), 2):  # even parts are outside code spans
        parts[index] = parts[index].replace("*", "\\*").replace("_", "\\_").replace("<", "&lt;")
    return "`".join(parts).replace("|", "\\|")


def _code(text: str) -> str:
    """Text inside backticks in a table cell: pipes still end the cell in GitHub's Markdown, so escape them."""
    return text.replace("|", "\\|").replace("`", "'")
