"""The one place where a failure of a reconcile becomes a retry decision: kubeasset errors and Kubernetes API
errors are mapped to ``kopf.TemporaryError`` (try the object again after ``delay`` seconds) or
``kopf.PermanentError`` (report it on the object and wait for the object to change).

The handlers are ``@kopf.on.event`` handlers, which kopf never retries, so the work queue
(:mod:`kubeasset.controller.workqueue`) reads these two classes and schedules the retry itself.
Anything that is neither a KubeassetError nor an API or connection error is a bug and keeps its
traceback (the work queue logs it and retries slowly, so one bad object cannot stop the controller).
"""

from __future__ import annotations

import json
from typing import Final

import aiohttp
import kopf
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from kubeasset.errors import KubeassetError, ObjectConflictError, StaleCacheError

#: Retry delays (seconds) by consecutive failure count of one object: quick at first, then patient.
BACKOFF: Final = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
#: A write lost an optimistic-concurrency race (409 Conflict on resourceVersion): the cache catches up
#: within moments, so look again soon.
CONFLICT_DELAY: Final = 0.5
#: Forbidden: RBAC may be fixed by a person; do not hammer the API server meanwhile.
FORBIDDEN_DELAY: Final = 60.0


#: A call that never got an answer: the API server is unreachable, restarting, or too slow. aiohttp's errors
#: (KubeIO), the ``kubernetes`` client's (urllib3), and the socket's own (OSError includes TimeoutError).
CONNECTION_ERRORS: Final = (aiohttp.ClientError, urllib3.exceptions.HTTPError, OSError)


def connection_message(error: BaseException) -> str:
    """What a person reads for a call that never got an answer (a timeout's own message is empty)."""
    if isinstance(error, TimeoutError):
        return f"the API server did not answer in time ({type(error).__name__}{f': {error}' if str(error) else ''})"
    return f"the API server could not be reached ({type(error).__name__}: {error or 'no detail'})"


def backoff(attempt: int) -> float:
    """The delay before retry number ``attempt`` (1-based) of one object."""
    return BACKOFF[min(max(attempt, 1), len(BACKOFF)) - 1]


def api_message(error: ApiException) -> str:
    """The API server's own message of a failed call (its Status body), else the HTTP reason."""
    try:
        status = json.loads(error.body or "")
    except (TypeError, ValueError):
        status = None
    message = status.get("message") if isinstance(status, dict) else None
    return str(message or error.reason or f"HTTP {error.status}")


def to_kopf_error(error: BaseException, attempt: int = 1) -> kopf.TemporaryError | kopf.PermanentError:
    """What to do after ``error`` failed a reconcile for the ``attempt``-th time in a row.

    Temporary: lost races and stale caches (409), throttling (429, honouring Retry-After), server and
    connection failures (5xx, timeouts), Forbidden (403, slowly: RBAC may be fixed), an object that
    vanished mid-way (404: its next event decides), an object someone else owns (slowly). Permanent:
    what the API server refuses as invalid (400, 422), a namespace being deleted, and kubeasset's own
    errors (an object that does not fit its model): trying again cannot help until the object changes.
    """
    if isinstance(error, (kopf.TemporaryError, kopf.PermanentError)):
        return error
    if isinstance(error, StaleCacheError):
        return kopf.TemporaryError(str(error), delay=CONFLICT_DELAY)
    if isinstance(error, ObjectConflictError):
        return kopf.TemporaryError(str(error), delay=max(backoff(attempt), FORBIDDEN_DELAY))
    if isinstance(error, ApiException):
        return _api_error(error, attempt)
    if isinstance(error, CONNECTION_ERRORS):
        return kopf.TemporaryError(connection_message(error), delay=backoff(attempt))
    if isinstance(error, KubeassetError):
        return kopf.PermanentError(str(error))
    # A bug: keep trying, slowly, so that a fix deployed meanwhile or a changed object recovers.
    return kopf.TemporaryError(f"unexpected {type(error).__name__}: {error}", delay=backoff(attempt + 3))


def _api_error(error: ApiException, attempt: int) -> kopf.TemporaryError | kopf.PermanentError:
    status = error.status or 0
    message = f"{error.status} {api_message(error)}"
    if status == 409:
        return kopf.TemporaryError(message, delay=CONFLICT_DELAY)
    if status == 429:
        retry_after = (error.headers or {}).get("Retry-After") if hasattr(error, "headers") else None
        try:
            delay = float(retry_after) if retry_after else backoff(attempt)
        except ValueError:
            delay = backoff(attempt)
        return kopf.TemporaryError(message, delay=delay)
    if status == 403 and "being terminated" in message:
        return kopf.PermanentError(message)  # nothing to create in a namespace that is going away
    if status in (401, 403):
        return kopf.TemporaryError(message, delay=max(backoff(attempt), FORBIDDEN_DELAY))
    if status in (400, 422):
        return kopf.PermanentError(message)
    return kopf.TemporaryError(message, delay=backoff(attempt))
