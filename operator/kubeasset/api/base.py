"""The base of every API model: camelCase JSON names, tolerant reading, and strict manifest checking.

Two ways of reading the same JSON, on purpose:

* the controller reads objects from the API server tolerantly (unknown fields are ignored), as Go
  clients do, so an operator that is one release behind the installed CRDs keeps working;
* manifests a person wrote are read strictly (:func:`strict_context`), so a typo such as ``selction``
  is an error, as ``kubectl apply`` (strict field validation) reports it.

Beyond unknown fields, a model accepts what the CRD schema generated from it accepts (the same
patterns, bounds and enums), so every object the API server stores parses. CEL rules are enforced by the
API server; the models mirror only the cheap single-object ones that code creating objects trips over
(an AssetRun's form and trigger), and a unit test keeps model and rule in agreement. Elsewhere the models
accept a superset, which is the safe side for a reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, ValidationInfo, model_validator
from pydantic.alias_generators import to_camel
from pydantic_core import PydanticCustomError

#: The API group and version of every kubeasset kind.
API_GROUP: Final = "kubeasset.dev"
API_VERSION: Final = "v1alpha1"
GROUP_VERSION: Final = f"{API_GROUP}/{API_VERSION}"

_STRICT_KEY: Final = "kubeasset.api.strict"


def strict_context() -> dict[str, Any]:
    """The pydantic validation ``context`` under which unknown fields are errors.

    Example::

        AssetRun.model_validate(manifest, context=strict_context())
    """
    return {_STRICT_KEY: True}


class KubeModel(BaseModel):
    """Base of all spec/status models: snake_case in Python, camelCase in JSON and YAML."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
        use_attribute_docstrings=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_fields(cls, data: Any, info: ValidationInfo) -> Any:
        # Models with extra="allow" (Kubernetes objects passed through) keep unknown fields on purpose.
        if (
            not isinstance(data, Mapping)
            or not (info.context and info.context.get(_STRICT_KEY))
            or cls.model_config.get("extra") == "allow"
        ):
            return data
        known = {field.alias or name for name, field in cls.model_fields.items()} | set(cls.model_fields)
        unknown = sorted(str(key) for key in data if key not in known)
        if unknown:
            expected = ", ".join(sorted(field.alias or name for name, field in cls.model_fields.items()))
            raise PydanticCustomError(
                "unknown_field",
                "unknown field(s) {unknown}; the fields of {model} are: {expected}",
                {"unknown": ", ".join(unknown), "model": cls.__name__, "expected": expected},
            )
        return data

    def to_json(self, *, exclude_none: bool = True) -> dict[str, Any]:
        """The JSON form with camelCase names, as written to the API server (``None`` fields left out)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=exclude_none)


class PassThroughModel(KubeModel):
    """A Kubernetes type kubeasset passes to a Pod: a few fields are typed, unknown ones are kept."""

    model_config = ConfigDict(extra="allow")
