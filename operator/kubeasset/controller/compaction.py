"""Cached models cost less memory when their identical parts are shared: the informer cache holds every
Asset and AssetRun for the controller's lifetime (10,000 and 5,000 of them in the benchmark), and parts of
a pydantic model repeat across objects without being shared.

Measured with tracemalloc on an Asset as the API server returns it (bench/README.md, memory): 6.1 KB per
parsed model, of which 3.3 KB are the per-model sets of field names pydantic keeps
(``__pydantic_fields_set__``; a 5-field set alone is 728 bytes, and an Asset holds six models), and much of
the rest parts that every other Asset of its location repeats: strings (namespace, location, group,
label keys and values, condition reasons), the label map, the owner reference, a condition. A compacted
cache shares one field-name set per combination of fields, interns strings, and shares equal string maps
and equal *leaf* models (those whose fields are all scalars: an owner reference, a condition, a run's
summary) between the objects that hold them.

The price is the rule client-go's informers state too: a cached object is read-only. Reconcilers derive
new objects (``model_copy(update=...)``, new lists and maps); assigning a field of a compacted model, or
changing a shared map, raises :class:`TypeError` instead of silently changing every object that shares it.

Example::

    run = compact(AssetRun.model_validate(body))
    run.model_copy(update={"status": new_status})   # fine: the copy has its own field set
    run.status = new_status                         # TypeError: cached objects are read-only
"""

from __future__ import annotations

import enum
import sys
import weakref
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel

_M = TypeVar("_M", bound=BaseModel)
#: Field values a leaf model may hold to be shared (immutable, hashable, compared by value).
_SCALARS = (str, int, float, bool, type(None), enum.Enum, datetime, date)
_READ_ONLY_MESSAGE = (
    "cached objects are read-only: derive a changed one with model_copy(update=...) instead of assigning a "
    "field or changing a shared map"
)


class SharedFieldNames(set[str]):
    """The field-name set of compacted models, shared by every cached model that set the same fields.

    Copies are plain sets (pydantic copies the set when it copies a model, and ``model_copy(update=...)``
    adds to the copy's), so derived models are as usual; changing the shared set itself raises.
    """

    def __copy__(self) -> set[str]:
        return set(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> set[str]:
        return set(self)

    def _read_only(self, *_: object) -> NoReturn:
        raise TypeError(_READ_ONLY_MESSAGE)

    add = discard = remove = update = clear = pop = _read_only
    intersection_update = difference_update = symmetric_difference_update = _read_only
    __ior__ = __iand__ = __isub__ = __ixor__ = _read_only


class SharedStringMap(dict[str, str]):
    """A string map (labels, annotations, tags) shared by the compacted models that hold an equal one.

    It reads, compares and serializes as the plain dict it replaces; copies are plain dicts; changing it
    raises (it is shared). A dict subclass because a plain dict cannot be held by a weak table.
    """

    def __copy__(self) -> dict[str, str]:
        return dict(self)

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, str]:
        return dict(self)

    def __reduce__(self) -> tuple[type[dict[str, str]], tuple[dict[str, str]]]:
        return (dict, (dict(self),))

    def _read_only(self, *_: object) -> NoReturn:
        raise TypeError(_READ_ONLY_MESSAGE)

    __setitem__ = __delitem__ = setdefault = update = clear = pop = popitem = _read_only  # type: ignore[assignment]
    __ior__ = _read_only


class Compactor:
    """Shares field-name sets between the models it compacts and interns their strings.

    The table of field-name sets is bounded by the combinations of fields the models use (dozens); interned
    strings are freed with the last object that uses them (``sys.intern`` keeps no reference of its own),
    and the tables of shared maps and leaf models hold them weakly: compacting never grows memory by itself.
    """

    def __init__(self) -> None:
        self._field_sets: dict[frozenset[str], SharedFieldNames] = {}
        self._maps: weakref.WeakValueDictionary[frozenset[tuple[str, str]], SharedStringMap] = (
            weakref.WeakValueDictionary()
        )
        self._leaves: weakref.WeakValueDictionary[tuple[Any, ...], BaseModel] = weakref.WeakValueDictionary()

    def compact(self, model: _M) -> _M:
        """``model`` with its sub-models, lists and maps compacted (in place, or replaced by an equal shared
        part); returns it."""
        self._model(model)
        return model

    def _model(self, model: BaseModel) -> BaseModel:
        names = frozenset(model.__pydantic_fields_set__)
        shared = self._field_sets.get(names)
        if shared is None:
            shared = self._field_sets[names] = SharedFieldNames(names)
        object.__setattr__(model, "__pydantic_fields_set__", shared)
        # Write the compacted values back without going through __setattr__ (no validation, and the
        # field set stays the shared one).
        values = model.__dict__
        for name, value in values.items():
            values[name] = self._value(value)
        extra = model.__pydantic_extra__
        if extra:
            for name, value in extra.items():
                extra[name] = self._value(value)
            return model
        if not all(isinstance(value, _SCALARS) for value in values.values()):
            return model
        # A leaf: an equal one already cached is shared. The key is one flat tuple (a tuple per field made
        # the table cost more than the sharing saved on objects that share nothing, such as a run's
        # condition); the value types are in it because 1 == 1.0 == True.
        fields = values.values()
        key = (type(model), names, *fields, *map(type, fields))
        return self._leaves.setdefault(key, model)

    def _value(self, value: Any) -> Any:
        kind = type(value)
        if kind is str:
            return sys.intern(value)
        if isinstance(value, BaseModel):
            return self._model(value)
        if kind is list:
            value[:] = self._values(value)
            return value
        if kind is tuple:
            return tuple(self._values(value))
        if kind is dict:
            if all(type(key) is str and type(item) is str for key, item in value.items()):
                return self._string_map(value)
            return {(sys.intern(key) if type(key) is str else key): self._value(item) for key, item in value.items()}
        return value  # numbers, enums, datetimes, None: immutable already, or not worth a table

    def _string_map(self, value: dict[str, str]) -> dict[str, str]:
        if not value:
            return value  # an empty dict is small; sharing it would only make it read-only
        items = frozenset(value.items())
        shared = self._maps.get(items)
        if shared is None:
            shared = SharedStringMap((sys.intern(key), sys.intern(item)) for key, item in value.items())
            self._maps[items] = shared
        return shared

    def _values(self, values: Iterable[Any]) -> list[Any]:
        return [self._value(value) for value in values]


#: The controller's one compactor (the field-set table is shared by every cache).
_COMPACTOR = Compactor()


def compact(model: _M) -> _M:
    """Compact a model that is about to be cached (see the module's docstring); returns it."""
    return _COMPACTOR.compact(model)
