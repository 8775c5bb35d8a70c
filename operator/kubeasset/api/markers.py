"""Kubernetes schema markers for pydantic fields: CEL rules, list types and free-form objects.

They play the role of kubebuilder's ``+kubebuilder:...`` comments: each helper returns the extra JSON
schema keywords that a field or model carries through ``json_schema_extra`` (or ``WithJsonSchema``), and
the CRD generator copies them verbatim into the structural schema.

Example::

    class Spec(KubeModel):
        model_config = ConfigDict(json_schema_extra=validations(
            cel("has(self.job) != has(self.codeLocation)", "set exactly one of job or codeLocation"),
        ))
        names: list[str] = Field(default_factory=list, json_schema_extra=LIST_SET)
"""

from __future__ import annotations

from typing import Any, Final

#: An object whose fields are kept as written (no pruning, no validation below it).
PRESERVE_UNKNOWN_FIELDS: Final[dict[str, Any]] = {"x-kubernetes-preserve-unknown-fields": True}
#: A list of unique scalars; server-side apply merges it as a set.
LIST_SET: Final[dict[str, Any]] = {"x-kubernetes-list-type": "set"}
#: A list replaced as a whole on merge, where order matters (for example a topological order).
LIST_ATOMIC: Final[dict[str, Any]] = {"x-kubernetes-list-type": "atomic"}


def list_map(*keys: str) -> dict[str, Any]:
    """A list of objects identified by ``keys`` (each must be required in the item): merged by key."""
    if not keys:
        raise ValueError("a list-type map needs at least one key")
    return {"x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": list(keys)}


def cel(
    rule: str,
    message: str,
    *,
    field_path: str | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """One ``x-kubernetes-validations`` entry: a CEL ``rule`` and the ``message`` shown when it fails.

    ``field_path`` (for example ``".selection"``) points the error at a child field; ``reason`` is one of
    the API server's ``FieldValueInvalid`` (default), ``FieldValueForbidden``, ``FieldValueRequired`` or
    ``FieldValueDuplicate``. A rule that mentions ``oldSelf`` is a transition rule: it runs on updates only.
    """
    entry: dict[str, Any] = {"rule": rule, "message": message}
    if field_path is not None:
        entry["fieldPath"] = field_path
    if reason is not None:
        entry["reason"] = reason
    return entry


def validations(*rules: dict[str, Any]) -> dict[str, Any]:
    """The ``json_schema_extra`` carrying ``rules`` (built with :func:`cel`)."""
    return {"x-kubernetes-validations": list(rules)}


def immutable(what: str) -> dict[str, Any]:
    """A transition rule for a field that cannot change once set (pair it with a parent ``has()`` rule)."""
    return validations(cel("self == oldSelf", f"{what} is immutable: create a new object instead"))
