"""``AssetIn``: map a parameter of an asset function to an upstream asset whose key differs from its name."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from kubeasset.errors import DefinitionError
from kubeasset.graph import AssetKey, CoercibleToAssetKey


@dataclass(frozen=True, init=False)
class AssetIn:
    """Which asset a parameter loads, as in Dagster: an explicit ``key``, or ``key_prefix`` + the name.

    Example::

        @asset(ins={"orders": AssetIn(key="warehouse/orders")})
        def revenue(orders: list[dict]) -> float: ...

        @asset(ins={"orders": AssetIn(key_prefix="warehouse")})   # loads warehouse/orders as well
        def margin(orders: list[dict]) -> float: ...
    """

    key: AssetKey | None
    key_prefix: tuple[str, ...]

    def __init__(
        self,
        key: CoercibleToAssetKey | None = None,
        *,
        key_prefix: str | Sequence[str] | None = None,
    ) -> None:
        if key is not None and key_prefix is not None:
            raise DefinitionError("AssetIn takes key= or key_prefix=, not both")
        prefix: tuple[str, ...] = ()
        if isinstance(key_prefix, str):
            prefix = tuple(key_prefix.split("/"))
        elif key_prefix is not None:
            prefix = tuple(key_prefix)
        object.__setattr__(self, "key", None if key is None else AssetKey.coerce(key))
        object.__setattr__(self, "key_prefix", prefix)

    def resolve_key(self, parameter_name: str) -> AssetKey:
        """The upstream key for a parameter: ``key``, else ``key_prefix`` + the parameter name."""
        if self.key is not None:
            return self.key
        return AssetKey((*self.key_prefix, parameter_name))
