"""Kubernetes Events on kubeasset's objects (what ``kubectl describe`` and ``kubectl get events`` show): the
plans' Events posted as core/v1 Events, with the same Event posted at most once per ``dedupe_seconds``
(a level-based reconcile that decides the same thing twice, or a retry, does not repeat itself).

Posting is best effort: a failed post is logged, never fails the reconcile that made it.
"""

from __future__ import annotations

import logging
import socket
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from kubernetes.client.exceptions import ApiException

from kubeasset.controller.errors import CONNECTION_ERRORS
from kubeasset.controller.kube import EVENTS, KubeIO
from kubeasset.reconcile.plan_items import Event

log = logging.getLogger("kubeasset.controller")

#: The Event's source and reporting component.
COMPONENT: Final = "kubeasset-controller"
#: An Event message may hold up to 1 KiB (the API server's limit for events.k8s.io is 1 KiB too).
MAX_MESSAGE_CHARS: Final = 1024
_MAX_REMEMBERED: Final = 10_000


class EventRecorder:
    """Posts Events on objects, deduplicated.

    Example::

        recorder = EventRecorder(io)
        await recorder.record(location_body, Event(EventType.WARNING, "ImportError", "..."))
    """

    def __init__(self, io: KubeIO, *, dedupe_seconds: float = 600.0, instance: str | None = None) -> None:
        self._io = io
        self._dedupe_seconds = dedupe_seconds
        self._instance = instance or socket.gethostname()
        self._posted: dict[tuple[str, str, str, str], float] = {}

    async def record(self, involved: Mapping[str, Any], event: Event) -> bool:
        """Post ``event`` on the object ``involved`` (a body as read from the API); False when it was a
        repeat within the dedupe window or the post failed."""
        metadata = involved.get("metadata") or {}
        message = event.message
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 1] + "…"
        key = (str(metadata.get("uid")), str(event.type), event.reason, message)
        now = time.monotonic()
        last = self._posted.get(key)
        if last is not None and now - last < self._dedupe_seconds:
            return False
        self._remember(key, now)
        namespace = metadata.get("namespace") or "default"
        stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": f"{metadata.get('name')}.{uuid.uuid4().hex[:16]}", "namespace": namespace},
            "involvedObject": {
                "apiVersion": involved.get("apiVersion"),
                "kind": involved.get("kind"),
                "name": metadata.get("name"),
                "namespace": namespace,
                "uid": metadata.get("uid"),
                "resourceVersion": metadata.get("resourceVersion"),
            },
            "reason": event.reason,
            "message": message,
            "type": str(event.type),
            "source": {"component": COMPONENT},
            "reportingComponent": COMPONENT,
            "reportingInstance": self._instance,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }
        try:
            await self._io.request("POST", EVENTS.path(namespace), body=body)
        except (ApiException, *CONNECTION_ERRORS) as error:
            # Best effort by design: an Event is a notification; the status holds the truth.
            log.warning("could not post Event %s on %s/%s: %s", event.reason, namespace, metadata.get("name"), error)
            self._posted.pop(key, None)
            return False
        return True

    def _remember(self, key: tuple[str, str, str, str], now: float) -> None:
        if len(self._posted) >= _MAX_REMEMBERED:
            cutoff = now - self._dedupe_seconds
            self._posted = {k: t for k, t in self._posted.items() if t >= cutoff}
        self._posted[key] = now
