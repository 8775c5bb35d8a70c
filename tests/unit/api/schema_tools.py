"""Test tools that read generated CRD schemas the way the API server does, without an API server.

* ``structural_problems``: the structural-schema rules of apiextensions.k8s.io/v1;
* ``unbounded_nodes``: strings, lists and maps without a size bound (they break CEL cost estimates);
* ``apply_defaults`` / ``openapi_errors`` / ``cel_violations``: defaulting, OpenAPI validation (with
  jsonschema) and CEL rules (with cel-python, transition rules against an old object) of an object;
* ``schema_at``: the schema node a printer column's JSONPath points at.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from functools import cache
from typing import Any

import celpy
import jsonschema
import yaml

from kubeasset.api.crds import generate_crds
from kubeasset.api.registry import RESOURCE_CLASSES

_ALLOWED_KEYWORDS_TEXT = """
    type format description properties required items additionalProperties enum default minimum maximum
    minLength maxLength pattern minItems maxItems minProperties maxProperties multipleOf nullable anyOf
    x-kubernetes-preserve-unknown-fields x-kubernetes-int-or-string x-kubernetes-list-type
    x-kubernetes-list-map-keys x-kubernetes-map-type x-kubernetes-validations x-kubernetes-embedded-resource
"""
ALLOWED_KEYWORDS = set(_ALLOWED_KEYWORDS_TEXT.split())
SCALAR_TYPES = {"string", "integer", "number", "boolean"}


@cache
def crd_documents() -> dict[str, dict[str, Any]]:
    """Kind -> the parsed CRD, from generate_crds()."""
    documents = [yaml.safe_load(text) for text in generate_crds().values()]
    return {document["spec"]["names"]["kind"]: document for document in documents}


def crd_schema(kind: str) -> dict[str, Any]:
    return crd_documents()[kind]["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


def all_kinds() -> list[str]:
    return [cls.crd.kind for cls in RESOURCE_CLASSES]


def walk(node: dict[str, Any], path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema node below ``node``, with a readable path (``.spec.tags{}``, ``.status.assets[]``)."""
    yield path, node
    for name, child in node.get("properties", {}).items():
        yield from walk(child, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from walk(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from walk(node["additionalProperties"], f"{path}{{}}")


def structural_problems(schema: dict[str, Any]) -> list[str]:
    problems = []
    for path, node in walk(schema):
        where = path or "<root>"
        for keyword in node:
            if keyword not in ALLOWED_KEYWORDS:
                problems.append(f"{where}: keyword {keyword} is not allowed")
        untyped = node.get("x-kubernetes-int-or-string") or node.get("x-kubernetes-preserve-unknown-fields")
        if "type" not in node and not untyped:
            problems.append(f"{where}: no type")
        if "anyOf" in node and not (
            node.get("x-kubernetes-int-or-string")
            and node["anyOf"] == [{"type": "integer"}, {"type": "string"}]
        ):
            problems.append(f"{where}: anyOf is only allowed as the int-or-string form")
        if "properties" in node and "additionalProperties" in node:
            problems.append(f"{where}: properties with additionalProperties")
        if "additionalProperties" in node and not isinstance(node["additionalProperties"], dict):
            problems.append(f"{where}: additionalProperties must be a schema")
        if node.get("type") == "array" and not isinstance(node.get("items"), dict):
            problems.append(f"{where}: array without one items schema")
        for name in node.get("required", []):
            if name not in node.get("properties", {}):
                problems.append(f"{where}: required {name} is not a property")
        list_type = node.get("x-kubernetes-list-type")
        if list_type == "map":
            item = node["items"]
            for key in node.get("x-kubernetes-list-map-keys", []):
                if key not in item.get("properties", {}):
                    problems.append(f"{where}: list-map key {key} is not a property of the items")
                elif key not in item.get("required", []) and "default" not in item["properties"][key]:
                    problems.append(f"{where}: list-map key {key} must be required or defaulted")
        elif list_type == "set" and node["items"].get("type") not in SCALAR_TYPES:
            problems.append(f"{where}: a set list needs scalar items")
        if "default" in node:
            if _contains_null(node["default"]):
                problems.append(f"{where}: default contains null")
            errors = list(
                jsonschema.Draft4Validator(_openapi_to_jsonschema(node)).iter_errors(node["default"])
            )
            problems.extend(f"{where}: default is invalid: {error.message}" for error in errors)
        for value in node.get("enum", []):
            if node.get("type") == "string" and not isinstance(value, str):
                problems.append(f"{where}: enum value {value!r} is not a string")
    return problems


def unbounded_nodes(schema: dict[str, Any]) -> list[str]:
    """Strings without maxLength (or enum/format), lists without maxItems, maps without maxProperties."""
    unbounded = []
    for path, node in walk(schema):
        kind = node.get("type")
        if kind == "string" and not ({"maxLength", "enum", "format"} & node.keys()):
            unbounded.append(f"{path}: string without maxLength")
        elif kind == "array" and "maxItems" not in node:
            unbounded.append(f"{path}: array without maxItems")
        elif kind == "object" and "additionalProperties" in node and "maxProperties" not in node:
            unbounded.append(f"{path}: map without maxProperties")
    return unbounded


def _contains_null(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, dict):
        return any(_contains_null(item) for item in value.values())
    if isinstance(value, list):
        return any(_contains_null(item) for item in value)
    return False


def _openapi_to_jsonschema(node: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI v3.0 as jsonschema reads it: int-or-string keeps its anyOf; the pattern applies to strings."""
    converted = {key: value for key, value in node.items() if not key.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string") and "pattern" in converted:
        pattern = converted.pop("pattern")
        converted["anyOf"] = [{"type": "integer"}, {"type": "string", "pattern": pattern}]
    for key in ("properties",):
        if key in converted:
            converted[key] = {name: _openapi_to_jsonschema(child) for name, child in converted[key].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(converted.get(key), dict):
            converted[key] = _openapi_to_jsonschema(converted[key])
    return converted


def openapi_errors(schema: dict[str, Any], obj: Any) -> list[str]:
    """OpenAPI validation errors of ``obj`` (patterns, enums, bounds, types, required fields)."""
    validator = jsonschema.Draft4Validator(_openapi_to_jsonschema(schema))
    return [
        f"{'.'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in validator.iter_errors(obj)
    ]


def apply_defaults(schema: dict[str, Any], obj: Any) -> Any:
    """``obj`` with the schema's defaults filled in, as the API server does before validating."""
    obj = copy.deepcopy(obj)
    _default(schema, obj)
    return obj


def _default(node: dict[str, Any], value: Any) -> None:
    if isinstance(value, dict):
        for name, child in node.get("properties", {}).items():
            if name not in value and "default" in child:
                value[name] = copy.deepcopy(child["default"])
            if name in value:
                _default(child, value[name])
        if isinstance(node.get("additionalProperties"), dict):
            for item in value.values():
                _default(node["additionalProperties"], item)
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        for item in value:
            _default(node["items"], item)


_CEL = celpy.Environment()


@cache
def _program(rule: str) -> Any:
    return _CEL.program(_CEL.compile(rule))


def compile_rule(rule: str) -> None:
    """Raise if ``rule`` is not valid CEL."""
    _program(rule)


def cel_violations(schema: dict[str, Any], obj: Any, old: Any = None) -> list[str]:
    """The messages of the CEL rules ``obj`` breaks; transition rules (oldSelf) run only with ``old``.

    Old values are matched as the API server matches them: by property name, by key in list-type map
    lists, and not at all in other lists (transition rules inside those are skipped).
    """
    violations: list[str] = []
    _check(schema, obj, old, old is not None, "", violations)
    return violations


def _check(node: dict[str, Any], value: Any, old: Any, has_old: bool, path: str, out: list[str]) -> None:
    for rule in node.get("x-kubernetes-validations", []):
        transition = re.search(r"\boldSelf\b", rule["rule"]) is not None
        if transition and not has_old:
            continue
        activation = {"self": celpy.json_to_cel(value)}
        if transition:
            activation["oldSelf"] = celpy.json_to_cel(old)
        result = _program(rule["rule"]).evaluate(activation)
        if result is not True and result != celpy.celtypes.BoolType(True):
            out.append(f"{path or '<root>'}: {rule['message']}")
    if isinstance(value, dict):
        for name, child in node.get("properties", {}).items():
            if name in value:
                child_has_old = has_old and isinstance(old, dict) and name in old
                _check(
                    child,
                    value[name],
                    old.get(name) if child_has_old else None,
                    child_has_old,
                    f"{path}.{name}",
                    out,
                )
        if isinstance(node.get("additionalProperties"), dict):
            for key, item in value.items():
                item_has_old = has_old and isinstance(old, dict) and key in old
                _check(
                    node["additionalProperties"],
                    item,
                    old.get(key) if item_has_old else None,
                    item_has_old,
                    f"{path}.{key}",
                    out,
                )
    elif isinstance(value, list) and isinstance(node.get("items"), dict):
        keys = node.get("x-kubernetes-list-map-keys") if node.get("x-kubernetes-list-type") == "map" else None
        old_by_key = {}
        if keys and has_old and isinstance(old, list):
            old_by_key = {tuple(item.get(key) for key in keys): item for item in old}
        for index, item in enumerate(value):
            identity = tuple(item.get(key) for key in keys) if keys else None
            item_has_old = identity in old_by_key
            _check(node["items"], item, old_by_key.get(identity), item_has_old, f"{path}[{index}]", out)


def schema_at(schema: dict[str, Any], json_path: str) -> dict[str, Any]:
    """The schema node a printer-column JSONPath such as ``.status.conditions[?(@.type=="Ready")].status``
    points at; raises KeyError naming the first missing step."""
    node = schema
    for step in re.findall(r"\.[A-Za-z0-9_]+|\[[^\]]*\]", json_path):
        if step.startswith("."):
            name = step[1:]
            if name not in node.get("properties", {}):
                raise KeyError(f"{json_path}: no field {name!r}")
            node = node["properties"][name]
        else:
            if node.get("type") != "array":
                raise KeyError(f"{json_path}: {step} applied to a non-array")
            node = node["items"]
            filtered = re.fullmatch(r'\[\?\(@\.([A-Za-z0-9_]+)==".*"\)\]', step)
            if filtered and filtered.group(1) not in node.get("properties", {}):
                raise KeyError(f"{json_path}: the filter's field {filtered.group(1)!r} does not exist")
    return node
