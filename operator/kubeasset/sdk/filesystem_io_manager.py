"""The default IO manager of the runner: pickled values under a directory or fsspec URL."""

from __future__ import annotations

import os
import pickle
import uuid
from typing import Any

import fsspec

from kubeasset.errors import StorageError, StoredValueNotFoundError
from kubeasset.graph import AssetKey
from kubeasset.sdk.io_manager import InputContext, IOManager, OutputContext
from kubeasset.sdk.metadata import MetadataValue


class FilesystemIOManager(IOManager):
    """Pickles each asset's value to ``<base_dir>/<key part>/.../<key part>`` (Dagster's layout).

    ``base_dir`` is a local directory or any fsspec URL (``file:///data``, ``s3://bucket/prefix``,
    ``memory://values``...; remote protocols need their fsspec plugin installed). Each stored value gets
    a ``path`` materialization metadata entry with its URL.

    Example::

        io = FilesystemIOManager("/tmp/kubeasset-values")
        materialize([raw_orders, orders], io_manager=io)
        materialize([raw_orders, orders], selection=["orders"], io_manager=io)  # loads raw_orders
    """

    def __init__(self, base_dir: str | os.PathLike[str]) -> None:
        self.base_dir = os.fspath(base_dir)
        try:
            self._fs, root = fsspec.core.url_to_fs(self.base_dir)
        except (ImportError, ValueError) as error:
            raise StorageError(f"cannot use storage {self.base_dir!r}: {error}") from error
        self._root: str = str(root).rstrip("/")
        protocol = self._fs.protocol
        self._local = "file" in (protocol if isinstance(protocol, tuple | list) else (protocol,))

    def path_for(self, key: AssetKey) -> str:
        """Where ``key``'s value lives, in the filesystem's own path form."""
        return "/".join((self._root, *key.path))

    def url_for(self, key: AssetKey) -> str:
        """The value's location as a URL (or a plain path for local storage), for metadata and errors."""
        path = self.path_for(key)
        return path if self._local else self._fs.unstrip_protocol(path)

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        path = self.path_for(context.asset_key)
        url = self.url_for(context.asset_key)
        # Local files are written then renamed, so a crash mid-write never leaves a truncated pickle for
        # the next run; object stores publish an object atomically when its upload completes.
        target = f"{path}.partial-{uuid.uuid4().hex[:8]}" if self._local else path
        try:
            self._fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
            with self._fs.open(target, "wb") as stream:
                pickle.dump(obj, stream, protocol=pickle.HIGHEST_PROTOCOL)
            if self._local:
                self._fs.mv(target, path)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            self._discard(target)
            raise StorageError(
                f"the value of {context.asset_key} ({type(obj).__name__}) cannot be pickled: {error}; "
                "return a picklable value or use an IO manager that can store it"
            ) from error
        except OSError as error:
            self._discard(target)
            raise StorageError(f"cannot store the value of {context.asset_key} at {url}: {error}") from error
        context.add_output_metadata({"path": MetadataValue.path(url)})

    def _discard(self, path: str) -> None:
        """Remove a local partial file; remote targets are left alone (that would delete the old value)."""
        if not self._local:
            return
        try:
            if self._fs.exists(path):
                self._fs.rm(path)
        except OSError:
            pass  # best effort: the original error is the one worth reporting

    def load_input(self, context: InputContext) -> Any:
        path = self.path_for(context.asset_key)
        if not self._fs.isfile(path):
            raise StoredValueNotFoundError(
                f"asset {context.downstream_key} needs the value of {context.asset_key}, which is not part "
                f"of this run and has no stored value at {self.url_for(context.asset_key)}: materialize "
                f"{context.asset_key} first, or include it in this run"
            )
        try:
            with self._fs.open(path, "rb") as stream:
                return pickle.load(stream)
        except OSError as error:
            raise StorageError(
                f"cannot load the value of {context.asset_key} from {self.url_for(context.asset_key)}: "
                f"{error}"
            ) from error

    def __repr__(self) -> str:
        return f"FilesystemIOManager({self.base_dir!r})"
