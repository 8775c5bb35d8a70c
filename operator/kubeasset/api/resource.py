"""The envelope every kubeasset object shares: apiVersion, kind, metadata, and its CRD description.

A kind's class declares, next to its spec and status, how its CustomResourceDefinition presents it
(plural, short names, printer columns), so that one module holds everything about one kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Final, Literal

from pydantic import Field, StringConstraints

from kubeasset.api.base import GROUP_VERSION, KubeModel, PassThroughModel
from kubeasset.api.types import Timestamp

#: The category of every kind: ``kubectl get kubeasset`` lists them all.
CATEGORY: Final = "kubeasset"


class OwnerReference(PassThroughModel):
    """The object that owns this one; deleting the owner deletes it (garbage collection)."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool | None = None
    block_owner_deletion: bool | None = None


class ObjectMeta(PassThroughModel):
    """The standard object metadata; fields kubeasset does not read are kept as they are."""

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: Timestamp | None = None
    deletion_timestamp: Timestamp | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    owner_references: list[OwnerReference] | None = None
    finalizers: list[str] | None = None


@dataclass(frozen=True)
class PrinterColumn:
    """One column of ``kubectl get``: a header, a JSONPath into the object, and the value's type.

    ``type`` is one of integer, number, string, boolean, date (shown as an age); ``priority`` 1 shows
    the column only with ``-o wide``.
    """

    name: str
    json_path: str
    type: Literal["integer", "number", "string", "boolean", "date"] = "string"
    description: str = ""
    priority: int = 0

    def to_crd(self) -> dict[str, Any]:
        column: dict[str, Any] = {"jsonPath": self.json_path, "name": self.name, "type": self.type}
        if self.description:
            column["description"] = self.description
        if self.priority:
            column["priority"] = self.priority
        return column


#: The last column of every kind, as kubectl shows it for built-in kinds.
AGE_COLUMN: Final = PrinterColumn("Age", ".metadata.creationTimestamp", "date")


def ready_column(priority: int = 0) -> PrinterColumn:
    """The status of the Ready condition (True/False/Unknown)."""
    return PrinterColumn(
        "Ready",
        '.status.conditions[?(@.type=="Ready")].status',
        description="Ready condition",
        priority=priority,
    )


def reason_column(condition: str = "Ready", priority: int = 1) -> PrinterColumn:
    """The reason of a condition, shown with ``-o wide``."""
    return PrinterColumn(
        "Reason",
        f'.status.conditions[?(@.type=="{condition}")].reason',
        description=f"Reason of the {condition} condition",
        priority=priority,
    )


@dataclass(frozen=True)
class CrdNames:
    """How a kind is named in the API and in kubectl."""

    kind: str
    plural: str
    short_names: tuple[str, ...]
    categories: tuple[str, ...] = (CATEGORY,)
    #: The longest ``metadata.name`` allowed, when names must be shorter than Kubernetes' 253.
    max_name_length: int | None = None
    printer_columns: tuple[PrinterColumn, ...] = field(default=())

    @property
    def singular(self) -> str:
        return self.kind.lower()


class KubeResource(KubeModel):
    """Base of the six kinds: an object as stored by the API server."""

    crd: ClassVar[CrdNames]

    api_version: Annotated[str, StringConstraints(max_length=253)] = GROUP_VERSION
    """The API group and version: kubeasset.dev/v1alpha1."""
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    """Standard object metadata."""
