"""KubeIO against a local HTTP server playing the API server: JSON calls with the configuration's credentials,
API errors as the ``kubernetes`` client raises them, streams that never wait for a call slot, a bound on
concurrent calls, and an unreachable API server as a temporary failure."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import kopf
import pytest
from aiohttp import web
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubeasset.controller.errors import to_kopf_error
from kubeasset.controller.kube import MERGE_PATCH, PODS, KubeIO
from kubeasset.reconcile.plan_items import ObjectId

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def api_server(routes: Mapping[tuple[str, str], Handler], **options: Any) -> AsyncIterator[KubeIO]:
    """A KubeIO talking to a local server that answers ``routes`` ((method, path) -> handler)."""
    app = web.Application()
    for (method, path), handler in routes.items():
        app.router.add_route(method, path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    configuration = client.Configuration(host=f"http://127.0.0.1:{runner.addresses[0][1]}")
    configuration.api_key = {"BearerToken": "secret-token"}
    configuration.api_key_prefix = {"BearerToken": "Bearer"}
    io = KubeIO(configuration, **options)
    try:
        yield io
    finally:
        await io.close()
        await runner.cleanup()


POD_PATH = "/api/v1/namespaces/shop/pods/r-1"


def test_calls_send_json_with_the_credentials_and_decode_the_answer() -> None:
    seen: list[tuple[str, str | None, str | None, Any]] = []

    async def patch(request: web.Request) -> web.Response:
        seen.append((request.method, request.headers.get("Authorization"), request.content_type, await request.json()))
        return web.json_response({"metadata": {"name": "r-1", "resourceVersion": "8"}})

    async def log(request: web.Request) -> web.Response:
        seen.append((request.method, request.headers.get("Authorization"), None, dict(request.query)))
        return web.Response(text="line one\nline tw\xf6\n")

    async def scenario() -> tuple[dict[str, Any], str]:
        routes = {("PATCH", POD_PATH): patch, ("GET", POD_PATH + "/log"): log}
        async with api_server(routes) as io:
            patched = await io.patch(PODS, "shop", "r-1", {"metadata": {"labels": {"a": "b"}}}, resource_version="7")
            text = await io.read_pod_log("shop", "r-1", "run")
        return patched, text

    patched, text = asyncio.run(scenario())
    assert patched["metadata"]["resourceVersion"] == "8"
    assert text == "line one\nline tw\xf6\n"
    assert seen == [
        ("PATCH", "Bearer secret-token", MERGE_PATCH, {"metadata": {"labels": {"a": "b"}, "resourceVersion": "7"}}),
        ("GET", "Bearer secret-token", None, {"container": "run"}),
    ]


def test_api_errors_keep_status_reason_body_and_headers_so_callers_decide_as_before() -> None:
    status = {"kind": "Status", "message": 'pods "r-1" is forbidden: quota exceeded', "code": 429}

    async def throttled(request: web.Request) -> web.Response:
        return web.json_response(status, status=429, reason="Too Many Requests", headers={"Retry-After": "7"})

    async def gone(request: web.Request) -> web.Response:
        return web.json_response({"kind": "Status", "code": 404}, status=404)

    async def scenario() -> tuple[ApiException, dict[str, Any] | None]:
        async with api_server({("POST", "/api/v1/namespaces/shop/pods"): throttled, ("GET", POD_PATH): gone}) as io:
            with pytest.raises(ApiException) as raised:
                await io.create(PODS, {"metadata": {"namespace": "shop", "name": "r-1"}})
            return raised.value, await io.get(PODS, "shop", "r-1")

    error, missing = asyncio.run(scenario())
    assert missing is None  # 404 on a get is "no such object", as with the sync client
    assert (error.status, error.reason) == (429, "Too Many Requests")
    assert json.loads(error.body or "") == status
    decision = to_kopf_error(error)
    assert isinstance(decision, kopf.TemporaryError) and decision.delay == 7.0  # Retry-After honoured
    assert "quota exceeded" in str(decision)


def test_delete_treats_already_gone_as_done() -> None:
    bodies: list[Any] = []

    async def delete(request: web.Request) -> web.Response:
        bodies.append(await request.json())
        return web.json_response({"kind": "Status", "code": 404}, status=404)

    async def scenario() -> None:
        async with api_server({("DELETE", POD_PATH): delete}) as io:
            await io.delete(PODS, "shop", ObjectId("r-1", "uid-1"))

    asyncio.run(scenario())
    assert bodies[0]["preconditions"] == {"uid": "uid-1"}


def test_a_stream_yields_the_open_response_and_raises_for_a_refusal_with_a_bounded_body() -> None:
    async def watch(request: web.Request) -> web.StreamResponse:
        if request.query.get("resourceVersion") == "old":
            return web.Response(status=410, reason="Gone", text="x" * 200_000)
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b'{"type":"ADDED"}\n')
        await response.write(b'{"type":"MODIFIED"}\n')
        return response

    async def scenario() -> tuple[bytes, ApiException]:
        async with api_server({("GET", "/api/v1/namespaces/shop/pods"): watch}) as io:
            path = PODS.path("shop")
            async with io.stream("GET", path, query={"watch": "true"}) as response:
                body = await response.content.read()
            with pytest.raises(ApiException) as raised:
                async with io.stream("GET", path, query={"watch": "true", "resourceVersion": "old"}):
                    pass
        return body, raised.value

    body, error = asyncio.run(scenario())
    assert body == b'{"type":"ADDED"}\n{"type":"MODIFIED"}\n'
    assert (error.status, error.reason) == (410, "Gone")
    assert error.body == "x" * 64 * 1024


def test_calls_are_bounded_and_open_streams_do_not_take_their_slots() -> None:
    running = 0
    most = 0
    release_streams = asyncio.Event()

    async def pod(request: web.Request) -> web.Response:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.02)
        running -= 1
        return web.json_response({"metadata": {"name": "r-1"}})

    async def follow(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        await response.write(b"started\n")
        await release_streams.wait()
        return response

    async def hold_stream(io: KubeIO, opened: asyncio.Event) -> None:
        async with io.stream("GET", POD_PATH + "/log", query={"follow": "true"}) as response:
            await response.content.readline()
            opened.set()
            await response.content.read()

    async def scenario() -> None:
        routes = {("GET", POD_PATH): pod, ("GET", POD_PATH + "/log"): follow}
        async with api_server(routes, max_concurrent_calls=2) as io:
            opened = [asyncio.Event() for _ in range(3)]
            streams = [asyncio.create_task(hold_stream(io, event)) for event in opened]
            await asyncio.wait_for(asyncio.gather(*(event.wait() for event in opened)), 5)
            # Three streams are open, more than the two call slots: calls still go through, two at a time.
            results = await asyncio.wait_for(asyncio.gather(*(io.get(PODS, "shop", "r-1") for _ in range(8))), 5)
            assert all(result == {"metadata": {"name": "r-1"}} for result in results)
            release_streams.set()
            await asyncio.wait_for(asyncio.gather(*streams), 5)

    asyncio.run(scenario())
    assert most == 2


def test_an_unreachable_api_server_is_a_temporary_failure_naming_the_cause() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    async def scenario() -> BaseException:
        io = KubeIO(client.Configuration(host=f"http://127.0.0.1:{port}"))
        try:
            with pytest.raises(aiohttp.ClientError) as raised:
                await io.get(PODS, "shop", "r-1")
            return raised.value
        finally:
            await io.close()

    decision = to_kopf_error(asyncio.run(scenario()))
    assert isinstance(decision, kopf.TemporaryError)
    assert "could not be reached" in str(decision) and "ClientConnectorError" in str(decision)


def test_a_closed_kubeio_fails_like_a_lost_connection() -> None:
    async def scenario() -> None:
        io = KubeIO(client.Configuration(host="http://127.0.0.1:9"))
        await io.close()
        with pytest.raises(aiohttp.ClientConnectionError, match="closed"):
            await io.get(PODS, "shop", "r-1")

    asyncio.run(scenario())
