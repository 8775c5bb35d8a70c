"""What an asset function may return instead of a bare value: the value plus materialization metadata.

Dagster's ``MaterializeResult`` carries no value (an asset returning it stores nothing through the IO
manager). kubeasset keeps that meaning and adds one extension, ``value=``: when given, the value is stored
and passed downstream exactly as if the function had returned it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from kubeasset.sdk.metadata import MetadataValue, normalize_metadata


class _NoValue:
    """The type of :data:`NO_VALUE`; distinguishes "no value given" from ``value=None``."""

    _instance: _NoValue | None = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "NO_VALUE"

    def __reduce__(self) -> str:
        return "NO_VALUE"


#: Default of ``MaterializeResult.value``: the asset stores nothing (it wrote its data itself).
NO_VALUE: Final = _NoValue()


class MaterializeResult:
    """The result of an asset function: metadata, and (kubeasset extension) optionally the value.

    Example::

        @asset
        def orders(raw_orders: list[dict]) -> MaterializeResult:
            rows = [r for r in raw_orders if r["status"] == "paid"]
            return MaterializeResult(value=rows, metadata={"dagster/row_count": len(rows)})

        @asset
        def export(orders: list[dict]) -> MaterializeResult:
            write_to_warehouse(orders)           # no value=: nothing is stored for "export"
            return MaterializeResult(metadata={"table": MetadataValue.text("analytics.orders")})

    Invalid metadata raises :class:`kubeasset.errors.InvalidMetadataError` here, at the line that built
    the result, so the failure's traceback points at the asset's code. ``data_version`` overrides the
    hash kubeasset otherwise derives from the stored value.
    """

    __slots__ = ("_value", "metadata", "data_version")

    def __init__(
        self,
        *,
        value: Any = NO_VALUE,
        metadata: Mapping[str, Any] | None = None,
        data_version: str | None = None,
    ) -> None:
        if data_version is not None and not isinstance(data_version, str):
            raise TypeError(
                f"MaterializeResult data_version must be a str, got {type(data_version).__name__}"
            )
        self._value = value
        self.metadata: Mapping[str, MetadataValue] = normalize_metadata(metadata, owner="MaterializeResult")
        self.data_version = data_version

    @property
    def has_value(self) -> bool:
        return self._value is not NO_VALUE

    @property
    def value(self) -> Any:
        """The value, or :data:`NO_VALUE` when the asset stores nothing."""
        return self._value

    def __repr__(self) -> str:
        return f"MaterializeResult(value={self._value!r}, metadata={dict(self.metadata)!r})"
