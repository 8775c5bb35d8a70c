"""The kubelet's API client ends its watches when it stops, even one whose connection was closed at the same
moment by the watching thread (a stopping kubelet must not fail on a stream that already ended)."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from kubeasset.cluster.kubelet.kube_client import KubeClient
from kubeasset.errors import KubeletError


class _WatchHandler(http.server.BaseHTTPRequestHandler):
    """Sends one watch event and then holds the stream open, as an idle API server watch does."""

    protocol_version = "HTTP/1.1"
    release = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        body = b'{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(body), body))
        self.wfile.flush()
        self.release.wait(10)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the signature http.server uses
        return


@pytest.fixture()
def watch_server() -> Iterator[str]:
    _WatchHandler.release.clear()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _WatchHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    _WatchHandler.release.set()
    server.shutdown()
    server.server_close()


def _client(host: str) -> KubeClient:
    configuration = client.Configuration()
    configuration.host = host
    return KubeClient(configuration)


def _watch_in_thread(api: KubeClient) -> tuple[threading.Thread, list[Any]]:
    seen: list[Any] = []

    def watch() -> None:
        try:
            for event in api.watch("/api/v1/pods", {}):
                seen.append(event["object"]["metadata"]["name"])
        except KubeletError as error:
            seen.append(error)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not seen and time.monotonic() < deadline:
        time.sleep(0.01)
    assert seen == ["a"], "the watch did not deliver the first event"
    return thread, seen


def test_close_streams_ends_a_blocked_watch(watch_server: str) -> None:
    api = _client(watch_server)
    thread, seen = _watch_in_thread(api)

    api.close_streams()

    thread.join(5)
    assert not thread.is_alive(), "the watch thread still blocks after close_streams()"
    assert len(seen) == 2 and isinstance(seen[1], KubeletError)


@pytest.mark.parametrize(
    "end",
    [
        pytest.param(lambda stream: stream.connection.close(), id="socket closed"),
        pytest.param(lambda stream: stream.close(), id="response closed"),
        pytest.param(lambda stream: stream.release_conn(), id="connection back in the pool"),
    ],
)
def test_close_streams_tolerates_a_stream_that_ended_meanwhile(watch_server: str, end: Callable[[Any], None]) -> None:
    api = _client(watch_server)
    events = api.watch("/api/v1/pods", {})
    assert next(events)["object"]["metadata"]["name"] == "a"
    # A watching thread's stream can end at the moment the kubelet stops, while it is still registered.
    (stream,) = api._streams
    end(stream)

    api.close_streams()  # the socket-closed case raised OSError: [Errno 9] Bad file descriptor

    events.close()
    assert not api._streams
