"""The pieces every reconcile plan is made of besides manifests and a status: Kubernetes Events to emit
and objects to delete. Shared so the controller applies every plan's items with one piece of code."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class EventType(StrEnum):
    """The ``type`` of a Kubernetes Event."""

    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True)
class Event:
    """An Event the controller records on the reconciled object, e.g.
    ``Event(EventType.WARNING, "ImportError", "module 'shop' failed to import: ...")``."""

    type: EventType
    reason: str
    message: str


@dataclass(frozen=True)
class ObjectId:
    """An object by name (and uid when known): what a plan deletes. The uid is a delete precondition, so a newer
    object of the same name is never deleted by a stale plan. 404 means done."""

    name: str
    uid: str | None = None
