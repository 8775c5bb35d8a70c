"""Every failure of a reconcile becomes a retry decision a person would agree with."""

from __future__ import annotations

import json

import aiohttp
import kopf
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError

from kubeasset.controller.errors import CONFLICT_DELAY, backoff, to_kopf_error
from kubeasset.errors import InvalidManifestError, ObjectConflictError, StaleCacheError


def _api_error(status: int, message: str = "boom") -> ApiException:
    error = ApiException(status=status, reason="Reason")
    error.body = json.dumps({"kind": "Status", "message": message})
    return error


def test_lost_races_are_retried_at_once() -> None:
    for error in (_api_error(409), StaleCacheError("changed meanwhile")):
        decision = to_kopf_error(error)
        assert isinstance(decision, kopf.TemporaryError) and decision.delay == CONFLICT_DELAY


def test_server_and_connection_failures_back_off() -> None:
    first, fifth = to_kopf_error(_api_error(503), 1), to_kopf_error(MaxRetryError(None, "/api"), 5)  # type: ignore[arg-type]
    assert isinstance(first, kopf.TemporaryError) and isinstance(fifth, kopf.TemporaryError)
    assert first.delay == backoff(1) < (fifth.delay or 0) == backoff(5)


def test_invalid_objects_and_kubeasset_errors_are_permanent_with_the_servers_message() -> None:
    decision = to_kopf_error(_api_error(422, 'Pod "x" is invalid: spec.containers[0].image: Required value'))
    assert isinstance(decision, kopf.PermanentError)
    assert "spec.containers[0].image: Required value" in str(decision)
    assert isinstance(to_kopf_error(InvalidManifestError("spec.module: bad")), kopf.PermanentError)
    assert isinstance(to_kopf_error(_api_error(403, 'namespace "t" is being terminated')), kopf.PermanentError)


def test_forbidden_and_foreign_objects_are_retried_slowly() -> None:
    for error in (_api_error(403, "forbidden"), ObjectConflictError("someone else's Pod")):
        decision = to_kopf_error(error)
        assert isinstance(decision, kopf.TemporaryError) and (decision.delay or 0) >= 60


def test_bugs_are_retried_slowly_rather_than_lost() -> None:
    decision = to_kopf_error(KeyError("metadata"))
    assert isinstance(decision, kopf.TemporaryError) and "KeyError" in str(decision)


def test_connection_failures_of_the_asyncio_client_are_retried_with_a_readable_message() -> None:
    failures = (
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientPayloadError("response payload is not completed"),
        ConnectionResetError(104, "Connection reset by peer"),
    )
    for attempt, error in enumerate(failures, start=1):
        decision = to_kopf_error(error, attempt)
        assert isinstance(decision, kopf.TemporaryError) and decision.delay == backoff(attempt)
        assert str(decision).startswith("the API server could not be reached")
        assert type(error).__name__ in str(decision)


def test_a_timeout_says_the_api_server_did_not_answer_in_time() -> None:
    for error in (TimeoutError(), aiohttp.ServerTimeoutError("Timeout on reading data from socket")):
        decision = to_kopf_error(error, 2)
        assert isinstance(decision, kopf.TemporaryError) and decision.delay == backoff(2)
        assert "did not answer in time" in str(decision)
