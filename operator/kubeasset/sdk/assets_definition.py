"""``AssetsDefinition``: an asset's spec bound to the function that computes it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kubeasset.graph import AssetKey, AssetSpec
from kubeasset.sdk.metadata import MetadataValue


@dataclass(frozen=True, eq=False)
class AssetsDefinition:
    """What ``@asset`` returns: frozen, and callable like the function for unit tests (as in Dagster).

    Example::

        @asset
        def orders(raw_orders: list[int]) -> list[int]:
            return sorted(raw_orders)

        orders.key                  # AssetKey(['orders'])
        orders.spec.deps            # (AssetKey(['raw_orders']),)
        orders([3, 1, 2])           # [1, 2, 3]: calls the function itself

    ``input_keys`` maps each value parameter to the asset it loads; ``spec.deps`` also holds the
    ``deps=`` dependencies, which order the run but load nothing. ``stores_value`` is False for a
    function annotated ``-> None`` (its return value is not stored, as in Dagster).
    """

    spec: AssetSpec
    fn: Callable[..., Any]
    input_keys: Mapping[str, AssetKey]
    has_context: bool
    metadata: Mapping[str, MetadataValue]
    stores_value: bool = True

    @property
    def key(self) -> AssetKey:
        return self.spec.key

    @property
    def keys(self) -> frozenset[AssetKey]:
        """All keys this definition produces (one: multi-assets are not supported)."""
        return frozenset({self.spec.key})

    @property
    def specs(self) -> tuple[AssetSpec, ...]:
        return (self.spec,)

    @property
    def function_name(self) -> str:
        """``module.qualname`` of the function: how error messages point at the definition."""
        return f"{self.fn.__module__}.{self.fn.__qualname__}"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"<AssetsDefinition {self.key} from {self.function_name}>"
