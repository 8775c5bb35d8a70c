"""Status conditions in the Kubernetes API conventions (``metav1.Condition``), and how to set one.

``kubectl wait --for=condition=Ready``, Argo CD and Flux read these, so the shape, the patterns and the
rule "``lastTransitionTime`` changes only when ``status`` changes" follow ``metav1.Condition`` exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Final

from pydantic import Field, StringConstraints

from kubeasset.api.base import KubeModel
from kubeasset.api.markers import list_map
from kubeasset.api.types import MAX_CONDITION_MESSAGE_LENGTH, MAX_CONDITIONS, Timestamp

#: The condition types kubeasset writes. ``Ready`` on everything that is configured (a code location
#: discovered, a job resolved, a schedule or sensor armed); ``Succeeded`` on runs (Unknown while running,
#: as in Tekton); ``Materialized`` on catalog assets.
READY: Final = "Ready"
SUCCEEDED: Final = "Succeeded"
MATERIALIZED: Final = "Materialized"
#: kstatus's "abnormal-true" conditions (sigs.k8s.io/cli-utils, read by Flux and kpt), on runs besides
#: ``Succeeded``: ``Reconciling`` True while a run has not finished, ``Stalled`` True once it failed or was
#: canceled, neither once it succeeded; so kstatus says InProgress, Failed and Current.
RECONCILING: Final = "Reconciling"
STALLED: Final = "Stalled"

#: ``metav1.Condition``'s patterns: a type is ``CamelCase`` or ``example.com/CamelCase``, a reason is
#: ``CamelCase`` (letters, digits, '_', ',' or ':' inside).
CONDITION_TYPE_PATTERN: Final = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$"
)
CONDITION_REASON_PATTERN: Final = r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


class ConditionStatus(StrEnum):
    """Whether a condition holds: True, False, or Unknown (not decided yet, e.g. a run still running)."""

    TRUE = "True"
    FALSE = "False"
    UNKNOWN = "Unknown"


class Condition(KubeModel):
    """One observation about an object, e.g. ``Ready=False, reason=ImportFailed``.

    Example::

        Condition(type="Ready", status="False", reason="ImportFailed",
                  message="module 'shop' failed to import: No module named 'pandas'",
                  last_transition_time=now, observed_generation=3)
    """

    type: Annotated[str, StringConstraints(min_length=1, max_length=316, pattern=CONDITION_TYPE_PATTERN)]
    """The aspect observed, in CamelCase: Ready, Succeeded, Materialized."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: Annotated[str, StringConstraints(min_length=1, max_length=1024, pattern=CONDITION_REASON_PATTERN)]
    """A CamelCase word that programs can match on, e.g. ImportFailed, Running, AssetFailed."""
    message: Annotated[str, StringConstraints(max_length=MAX_CONDITION_MESSAGE_LENGTH)]
    """What happened and what to do about it, for a person."""
    last_transition_time: Timestamp
    """When the status last changed (not when the condition was last written)."""
    observed_generation: Annotated[int, Field(ge=0)] | None = None
    """The metadata.generation this condition was computed from."""


#: The ``conditions`` field of every status: a list keyed by ``type``, as ``metav1.Condition`` lists are.
Conditions = Annotated[list[Condition], Field(max_length=MAX_CONDITIONS, json_schema_extra=list_map("type"))]


def find_condition(conditions: Sequence[Condition], type_: str) -> Condition | None:
    """The condition of type ``type_``, if present: ``find_condition(status.conditions, "Ready")``."""
    return next((condition for condition in conditions if condition.type == type_), None)


def set_condition(
    conditions: Sequence[Condition],
    type_: str,
    status: ConditionStatus | str,
    *,
    reason: str,
    message: str,
    now: datetime,
    observed_generation: int | None = None,
) -> list[Condition]:
    """A new condition list with ``type_`` set; other conditions and their order are kept.

    ``lastTransitionTime`` is ``now`` only when the status changes (or the condition is new), so
    re-reconciling an unchanged object writes an identical status and ``kubectl wait`` sees no flapping.

    Example::

        status.conditions = set_condition(status.conditions, READY, ConditionStatus.TRUE,
                                          reason="Discovered", message="9 assets in 3 groups", now=now)
    """
    status = ConditionStatus(status)
    previous = find_condition(conditions, type_)
    transition = now if previous is None or previous.status != status else previous.last_transition_time
    updated = Condition(
        type=type_,
        status=status,
        reason=reason,
        message=message[:MAX_CONDITION_MESSAGE_LENGTH],
        last_transition_time=transition,
        observed_generation=observed_generation,
    )
    if previous is None:
        return [*conditions, updated]
    return [updated if condition.type == type_ else condition for condition in conditions]


def remove_condition(conditions: Sequence[Condition], type_: str) -> list[Condition]:
    """``conditions`` without the one of type ``type_`` (kstatus: an abnormal-true condition that no
    longer applies is removed rather than set to False)."""
    return [condition for condition in conditions if condition.type != type_]
