"""An informer's store: the watched objects of one kind by uid, with secondary indexes kept current on every
change, so a lookup ("the runs of job J") costs a dictionary access, not a scan.

It is client-go's ``cache.Indexer`` in small: an index is a function from an object to the keys it is found
under (zero, one or several); the store re-indexes an object whenever it is replaced or removed.

Example::

    runs = Store[AssetRun]({"job": lambda run: [(run.metadata.namespace, run.spec.job)]})
    runs.put("uid-1", run)
    runs.by("job", ("shop", "sales-job"))   # [run]
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from typing import Generic, TypeVar

T = TypeVar("T")
#: The keys one object is found under in one index.
IndexFunction = Callable[[T], Iterable[Hashable]]


class Store(Generic[T]):
    """Objects by uid plus named indexes (see the module's example)."""

    def __init__(self, indexes: Mapping[str, IndexFunction[T]] | None = None) -> None:
        self._functions: dict[str, IndexFunction[T]] = dict(indexes or {})
        self._items: dict[str, T] = {}
        # index name -> key -> {uid: object}; dicts keep insertion order, so lookups are stable.
        self._indexes: dict[str, dict[Hashable, dict[str, T]]] = {name: {} for name in self._functions}

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[T]:
        return iter(list(self._items.values()))

    def __contains__(self, uid: object) -> bool:
        return uid in self._items

    def get(self, uid: str) -> T | None:
        return self._items.get(uid)

    def uids(self) -> set[str]:
        return set(self._items)

    def put(self, uid: str, item: T) -> T | None:
        """Add or replace the object with this uid; returns the one it replaced."""
        previous = self._items.get(uid)
        if previous is not None:
            self._unindex(uid, previous)
        self._items[uid] = item
        for name, function in self._functions.items():
            index = self._indexes[name]
            for key in function(item):
                index.setdefault(key, {})[uid] = item
        return previous

    def remove(self, uid: str) -> T | None:
        """Forget the object with this uid; returns it (None when it was not there)."""
        previous = self._items.pop(uid, None)
        if previous is not None:
            self._unindex(uid, previous)
        return previous

    def by(self, index: str, key: Hashable) -> list[T]:
        """The objects found under ``key`` in ``index`` (a KeyError names an index that does not exist)."""
        found = self._indexes[index].get(key)
        return list(found.values()) if found else []

    def _unindex(self, uid: str, item: T) -> None:
        for name, function in self._functions.items():
            index = self._indexes[name]
            for key in function(item):
                bucket = index.get(key)
                if bucket is not None:
                    bucket.pop(uid, None)
                    if not bucket:
                        del index[key]
