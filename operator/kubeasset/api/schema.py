"""Turn a pydantic model's JSON Schema into a Kubernetes *structural* OpenAPI v3 schema.

The API server accepts only structural schemas for CRDs: every node has a ``type`` (unless it is
int-or-string or preserves unknown fields), there are no ``$ref``s, no ``anyOf``/``oneOf`` offering
different types, and ``additionalProperties`` never sits beside ``properties``. pydantic's JSON Schema
breaks all of these, so this module rewrites it: ``$ref``s are inlined, ``Optional``'s ``anyOf`` with
``null`` becomes the plain type (absence, not null, is how Kubernetes says "unset"), titles are dropped,
``propertyNames`` constraints become a CEL rule, and ``x-kubernetes-*`` markers pass through.

Every keyword is either translated, copied from an allow-list, or rejected with an error naming the
field: a model that cannot become a structural schema fails CRD generation, not ``kubectl apply``.
"""

from __future__ import annotations

import re
from typing import Any, Final

from pydantic import BaseModel

from kubeasset.errors import CrdSchemaError

#: Keywords copied as they are (after their values are checked by the API server itself).
_COPIED: Final = frozenset(
    {
        "type",
        "description",
        "enum",
        "default",
        "minimum",
        "maximum",
        "minLength",
        "maxLength",
        "pattern",
        "minItems",
        "maxItems",
        "minProperties",
        "maxProperties",
        "multipleOf",
        "required",
        "x-kubernetes-preserve-unknown-fields",
        "x-kubernetes-int-or-string",
        "x-kubernetes-list-type",
        "x-kubernetes-list-map-keys",
        "x-kubernetes-map-type",
        "x-kubernetes-validations",
        "x-kubernetes-embedded-resource",
    }
)
#: Formats the API server knows; others would be silently ignored, so they are rejected.
_FORMATS: Final = frozenset({"date-time", "date", "int32", "int64", "float", "double", "byte", "uuid"})
_NULL: Final = {"type": "null"}
_INT_OR_STRING: Final = [{"type": "integer"}, {"type": "string"}]


def structural_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The structural OpenAPI v3 schema of ``model`` (camelCase names, inlined, Kubernetes markers).

    Example::

        structural_schema(AssetRunSpec)["properties"]["cancel"]
        # {'type': 'boolean', 'default': False, 'description': ..., 'x-kubernetes-validations': [...]}
    """
    raw = model.model_json_schema(by_alias=True, mode="validation")
    definitions = raw.pop("$defs", {})
    return _Converter(definitions).convert(raw, model.__name__, ())


def first_paragraph(text: str) -> str:
    """The first paragraph of a docstring, on one line: what ``kubectl explain`` shows for a type."""
    return _normalize_description(text.strip().split("\n\n", 1)[0])


def _normalize_description(text: str) -> str:
    # Docstrings write ``literals`` (reStructuredText); in kubectl explain's plain text `one` reads better.
    paragraphs = re.split(r"\n\s*\n", text.strip().replace("``", "`"))
    return "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)


def _without_nulls(value: Any) -> Any:
    """A default as the API server stores it: null fields are absent (they are not nullable)."""
    if isinstance(value, dict):
        return {key: _without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_without_nulls(item) for item in value]
    return value


class _Converter:
    def __init__(self, definitions: dict[str, Any]) -> None:
        self._definitions = definitions

    def convert(self, node: dict[str, Any], path: str, resolving: tuple[str, ...]) -> dict[str, Any]:
        node = dict(node)
        if "$ref" in node:
            return self._inline(node, path, resolving)
        if "allOf" in node:
            parts = node.pop("allOf")
            if len(parts) != 1:
                raise CrdSchemaError(f"{path}: allOf with {len(parts)} schemas cannot be made structural")
            return self.convert(_merge(parts[0], node), path, resolving)
        if "anyOf" in node:
            return self._any_of(node, path, resolving)
        if "oneOf" in node:
            raise CrdSchemaError(f"{path}: oneOf cannot be made structural; use one type per field")
        if "patternProperties" in node:
            # pydantic's form of dict[ConstrainedKey, V]: the value schema becomes additionalProperties,
            # the key pattern joins propertyNames (which becomes a CEL rule below).
            patterns = node.pop("patternProperties")
            if len(patterns) != 1 or "additionalProperties" in node:
                raise CrdSchemaError(f"{path}: only one key pattern per map can be made structural")
            ((pattern, value_schema),) = patterns.items()
            node["additionalProperties"] = value_schema
            node["propertyNames"] = {**node.get("propertyNames", {}), "pattern": pattern}

        result: dict[str, Any] = {}
        for keyword, value in node.items():
            if keyword in ("title", "discriminator"):
                continue
            if keyword == "default":
                if value is not None:
                    result["default"] = _without_nulls(value)
                continue
            if keyword == "description":
                result["description"] = _normalize_description(value)
            elif keyword == "const":
                result["enum"] = [value]
            elif keyword == "format":
                if value not in _FORMATS:
                    raise CrdSchemaError(f"{path}: format {value!r} is not one the API server checks")
                result["format"] = value
            elif keyword == "properties":
                result["properties"] = {
                    name: self.convert(child, f"{path}.{name}", resolving) for name, child in value.items()
                }
            elif keyword == "items":
                if not isinstance(value, dict):
                    raise CrdSchemaError(f"{path}: tuple-typed arrays are not structural; use a list")
                result["items"] = self.convert(value, f"{path}[]", resolving)
            elif keyword == "additionalProperties":
                if value is True:
                    result["x-kubernetes-preserve-unknown-fields"] = True
                elif isinstance(value, dict):
                    result["additionalProperties"] = self.convert(value, f"{path}{{}}", resolving)
                # False: pruning already drops unknown fields, and the API server forbids the keyword.
            elif keyword == "propertyNames":
                result.setdefault("x-kubernetes-validations", []).append(_property_names_rule(value, path))
            elif keyword == "x-kubernetes-validations":
                result.setdefault("x-kubernetes-validations", []).extend(value)
            elif keyword == "uniqueItems":
                raise CrdSchemaError(
                    f"{path}: uniqueItems is forbidden in CRDs; use x-kubernetes-list-type: set"
                )
            elif keyword in ("exclusiveMinimum", "exclusiveMaximum"):
                raise CrdSchemaError(f"{path}: use ge/le bounds (the OpenAPI v3.0 form of {keyword} differs)")
            elif keyword in _COPIED:
                result[keyword] = value
            else:
                raise CrdSchemaError(f"{path}: JSON Schema keyword {keyword!r} has no structural equivalent")
        _check_node(result, path)
        return result

    def _inline(self, node: dict[str, Any], path: str, resolving: tuple[str, ...]) -> dict[str, Any]:
        name = node.pop("$ref").rsplit("/", 1)[-1]
        if name in resolving:
            raise CrdSchemaError(f"{path}: {name} refers to itself; recursive types are not structural")
        target = dict(self._definitions[name])
        if "description" in target:
            # A type's docstring explains the type; a field's docstring, when present, explains the field.
            target["description"] = first_paragraph(target["description"])
        return self.convert(_merge(target, node), path, (*resolving, name))

    def _any_of(self, node: dict[str, Any], path: str, resolving: tuple[str, ...]) -> dict[str, Any]:
        branches = node.pop("anyOf")
        if node.get("x-kubernetes-int-or-string"):
            if branches != _INT_OR_STRING:
                raise CrdSchemaError(f"{path}: an int-or-string field must be anyOf integer, string")
            converted = self.convert(node, path, resolving)
            converted["anyOf"] = [dict(branch) for branch in _INT_OR_STRING]
            return converted
        kept = [branch for branch in branches if branch != _NULL]
        if len(kept) != 1:
            raise CrdSchemaError(
                f"{path}: a union of {len(kept)} types is not structural; use one type per field"
            )
        return self.convert(_merge(kept[0], node), path, resolving)


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``overlay`` (the field) over ``base`` (its type); CEL rules of both are kept."""
    merged = {**base, **overlay}
    rules = [*base.get("x-kubernetes-validations", []), *overlay.get("x-kubernetes-validations", [])]
    if rules:
        merged["x-kubernetes-validations"] = rules
    return merged


def _property_names_rule(constraints: dict[str, Any], path: str) -> dict[str, Any]:
    """A CEL rule checking a map's keys, as ``propertyNames`` has no structural form."""
    unknown = set(constraints) - {"minLength", "maxLength", "pattern", "type", "title", "description"}
    if unknown:
        raise CrdSchemaError(f"{path}: propertyNames keywords {sorted(unknown)} are not supported")
    checks: list[str] = []
    minimum, maximum = constraints.get("minLength"), constraints.get("maxLength")
    if minimum is not None:
        checks.append(f"k.size() >= {int(minimum)}")
    if maximum is not None:
        checks.append(f"k.size() <= {int(maximum)}")
    pattern = constraints.get("pattern")
    if pattern is not None:
        if "'" in pattern:
            raise CrdSchemaError(f"{path}: a key pattern may not contain a single quote")
        checks.append(f"k.matches(r'{pattern}')")
    if not checks:
        raise CrdSchemaError(f"{path}: propertyNames without constraints")
    length = (
        f"{minimum or 0}-{maximum} characters" if maximum is not None else f"at least {minimum} characters"
    )
    message = f"every key must have {length}" + (f" and match {pattern}" if pattern else "")
    return {"rule": f"self.all(k, {' && '.join(checks)})", "message": message}


def _check_node(node: dict[str, Any], path: str) -> None:
    untyped_ok = node.get("x-kubernetes-preserve-unknown-fields") or node.get("x-kubernetes-int-or-string")
    if "type" not in node and not untyped_ok:
        raise CrdSchemaError(f"{path}: no type; annotate the field with a concrete type")
    if "properties" in node and "additionalProperties" in node:
        raise CrdSchemaError(f"{path}: properties and additionalProperties cannot be combined")
    if node.get("type") == "object" and not (
        "properties" in node
        or "additionalProperties" in node
        or node.get("x-kubernetes-preserve-unknown-fields")
    ):
        raise CrdSchemaError(f"{path}: an object without properties would be pruned to {{}}")
    if node.get("type") == "array" and "items" not in node:
        raise CrdSchemaError(f"{path}: an array needs an item type")
