"""IO managers: where asset values go when stored and come from when an upstream was not run.

Within a run, values pass from asset to asset in memory; the IO manager stores every value and loads
an upstream value only when that upstream is not part of the run (as Dagster's IO managers do).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubeasset.errors import StoredValueNotFoundError
from kubeasset.graph import AssetKey
from kubeasset.sdk.metadata import MetadataValue, normalize_metadata


@dataclass
class OutputContext:
    """What ``handle_output`` knows: the asset being stored and the run; it may add metadata."""

    asset_key: AssetKey
    run_name: str
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("kubeasset.io"))
    _metadata: dict[str, MetadataValue] = field(default_factory=dict, repr=False)

    def add_output_metadata(self, metadata: Mapping[str, Any]) -> None:
        """Record materialization metadata about the stored value (e.g. its path)."""
        owner = f"IO manager output metadata for {self.asset_key}"
        self._metadata.update(normalize_metadata(metadata, owner=owner))

    @property
    def output_metadata(self) -> Mapping[str, MetadataValue]:
        return dict(self._metadata)


@dataclass(frozen=True)
class InputContext:
    """What ``load_input`` knows: ``asset_key`` is the upstream asset to load, ``downstream_key`` the
    asset that needs it."""

    asset_key: AssetKey
    downstream_key: AssetKey
    run_name: str
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("kubeasset.io"))


class IOManager(ABC):
    """Stores and loads asset values, one object per asset key (Dagster's ``IOManager``).

    Example::

        class JsonIOManager(IOManager):
            def __init__(self, root: Path) -> None:
                self.root = root

            def handle_output(self, context: OutputContext, obj: Any) -> None:
                path = self.root.joinpath(*context.asset_key.path).with_suffix(".json")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(obj))
                context.add_output_metadata({"path": MetadataValue.path(path)})

            def load_input(self, context: InputContext) -> Any:
                path = self.root.joinpath(*context.asset_key.path).with_suffix(".json")
                if not path.exists():
                    raise StoredValueNotFoundError(f"{context.asset_key} was never stored at {path}")
                return json.loads(path.read_text())

        materialize([raw, orders], io_manager=JsonIOManager(Path("/tmp/values")))

    A missing value should raise :class:`kubeasset.errors.StoredValueNotFoundError`, which fails the
    asset that needed it with a message saying what to materialize first.
    """

    @abstractmethod
    def handle_output(self, context: OutputContext, obj: Any) -> None:
        """Store ``obj`` as the value of ``context.asset_key``."""

    @abstractmethod
    def load_input(self, context: InputContext) -> Any:
        """Return the stored value of ``context.asset_key``."""


class InMemoryIOManager(IOManager):
    """Keeps values in a dict for the life of the object: the default of :func:`materialize`.

    Example::

        io = InMemoryIOManager()
        materialize([raw_orders], io_manager=io)
        materialize([raw_orders, orders], selection=["orders"], io_manager=io)  # loads raw_orders
    """

    def __init__(self) -> None:
        self.values: dict[AssetKey, Any] = {}

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        self.values[context.asset_key] = obj

    def load_input(self, context: InputContext) -> Any:
        try:
            return self.values[context.asset_key]
        except KeyError:
            raise StoredValueNotFoundError(
                f"asset {context.downstream_key} needs the value of {context.asset_key}, which is not "
                f"part of this run and was never stored in memory: include {context.asset_key} in the "
                "run, or pass storage= (a directory or fsspec URL) so values persist across runs"
            ) from None
