"""Leader election against the real API server: one replica leads, the others stand by doing nothing, a clean
stop hands the Lease over at once, a dead leader is replaced once its Lease ran out, and a leader that finds
someone else on its Lease stops.

Short timings (retry 0.5 s, renew deadline 2 s, Lease 3 s or 10 s) keep the module at about 20 seconds.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from kubeasset.controller.kube import KubeIO, load_configuration
from kubeasset.controller.leader import LEASES, LeaderElector
from kubeasset.controller.operator import ControllerOptions, run_async
from kubeasset.controller.runtime import Controller
from kubeasset.errors import LeadershipLostError
from kubeasset.reconcile.leader_lease import LeaseTiming, format_micro_time
from tests.integration.conftest import eventually
from tests.integration.controller.conftest import code_location, create

SHORT = LeaseTiming(lease_duration_seconds=3, renew_deadline_seconds=2.0, retry_period_seconds=0.5)
#: For the replicas: a lease long enough that a handover within seconds can only be the leader's release.
REPLICAS = LeaseTiming(lease_duration_seconds=10, renew_deadline_seconds=2.0, retry_period_seconds=0.5)
LEASE = "kubeasset-controller"


class Lease:
    """The test's own hands on the Lease: read it, and write it as a replica that is not the code under test.
    Blocking calls (the sync client), so that a test can use it inside or outside an event loop."""

    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self.api_client = client.ApiClient(load_configuration(kubeconfig))
        self.namespace = namespace

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        request = self.api_client.param_serialize(
            method=method,
            resource_path=path,
            header_params={"Accept": "application/json", "Content-Type": "application/json"},
            body=body,
            auth_settings=["BearerToken"],
        )
        response = self.api_client.call_api(*request, _request_timeout=(10.0, 60.0))
        data = response.read()  # type: ignore[no-untyped-call]
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        result: dict[str, Any] = json.loads(data)
        return result

    def read(self) -> dict[str, Any] | None:
        try:
            return self._call("GET", LEASES.path(self.namespace, LEASE))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def holder(self) -> str | None:
        return ((self.read() or {}).get("spec") or {}).get("holderIdentity")

    def write(self, holder: str | None, duration: int = 3600) -> None:
        """Name ``holder`` (None: released) on the Lease, renewed now; creates it when missing."""
        now = format_micro_time(datetime.now(UTC))
        spec: dict[str, Any] = {"leaseDurationSeconds": duration, "acquireTime": now, "renewTime": now}
        if holder is not None:
            spec["holderIdentity"] = holder
        current = self.read()
        if current is None:
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": LEASE}}
            self._call("POST", LEASES.path(self.namespace), body={**body, "spec": spec})
        else:
            current["spec"] = spec
            self._call("PUT", LEASES.path(self.namespace, LEASE), body=current)


@pytest.fixture
def lease(kubeconfig: Path, namespace: str) -> Iterator[Lease]:
    hands = Lease(kubeconfig, namespace)
    yield hands
    hands.api_client.close()  # type: ignore[no-untyped-call]


def test_one_leader_clean_handover_and_takeover_after_a_dead_leaders_lease(
    kubeconfig: Path, namespace: str, lease: Lease
) -> None:
    async def scenario() -> None:
        ios = [KubeIO(load_configuration(kubeconfig)) for _ in range(3)]
        a, b, c = (LeaderElector(io, namespace, identity=who, timing=SHORT) for io, who in zip(ios, "abc", strict=True))
        try:
            assert await a.acquire()
            hold_a = asyncio.create_task(a.hold())
            standby = asyncio.create_task(b.acquire())
            # Longer than a lease: a's renewals keep it, b keeps standing by.
            await asyncio.sleep(SHORT.lease_duration_seconds + 1)
            assert not standby.done() and not hold_a.done()
            assert lease.holder() == "a" and a.leading and not b.leading

            # Clean stop: b takes over at its next try, not after the lease.
            hold_a.cancel()
            started = time.monotonic()
            await a.release()
            assert await asyncio.wait_for(standby, 2.0)
            assert time.monotonic() - started < 1.5
            taken = lease.read()
            assert taken is not None and taken["spec"]["holderIdentity"] == "b"
            assert taken["spec"]["leaseTransitions"] == 1

            # b dies without releasing (its renewals just stop): c waits out the rest of b's lease.
            hold_b = asyncio.create_task(b.hold())
            await asyncio.sleep(1.0)
            hold_b.cancel()
            died = time.monotonic()
            assert await asyncio.wait_for(c.acquire(), SHORT.lease_duration_seconds + 3)
            waited = time.monotonic() - died
            assert SHORT.lease_duration_seconds - SHORT.retry_period_seconds - 0.2 <= waited
            assert waited <= SHORT.lease_duration_seconds + 1.5
            assert lease.holder() == "c" and lease.read()["spec"]["leaseTransitions"] == 2  # type: ignore[index]

            # Someone else's name on c's Lease: c's hold gives up at its next renewal, without writing.
            hold_c = asyncio.create_task(c.hold())
            await asyncio.sleep(0.6)
            lease.write("intruder")
            with pytest.raises(LeadershipLostError, match="lost leadership of Lease .* to intruder"):
                await asyncio.wait_for(hold_c, 2.0)
            assert not c.leading and lease.holder() == "intruder"
            await c.release()  # not ours any more: left alone
            assert lease.holder() == "intruder"
        finally:
            for io in ios:
                await io.close()

    asyncio.run(scenario())


class Replica:
    """One controller replica (run_async with leader election) in a thread; unlike ControllerThread its start
    does not wait for kopf to be ready, since a standby never gets there."""

    def __init__(self, kubeconfig: Path, namespace: str) -> None:
        self.options = ControllerOptions(
            namespaces=[namespace],
            kubeconfig=kubeconfig,
            leader_election=True,
            leader_election_namespace=namespace,
            lease_timing=REPLICAS,
        )
        self.stop = threading.Event()
        self.ready = threading.Event()
        self.controller: Controller | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._main, daemon=True)
        self.thread.start()

    def _main(self) -> None:
        try:
            asyncio.run(run_async(self.options, stop_flag=self.stop, ready_flag=self.ready, on_start=self._started))
        except BaseException as error:  # noqa: BLE001 - inspected by the test
            self.error = error

    def _started(self, controller: Controller) -> None:
        self.controller = controller

    def reconciles(self) -> int:
        queue = self.controller.queue if self.controller else None
        return queue.reconciles if queue else 0

    def halt(self, timeout: float = 20.0) -> None:
        self.stop.set()
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the replica did not stop"


def test_a_standby_controller_starts_nothing_until_it_leads_and_exits_when_it_loses_the_lease(
    kubeconfig: Path, namespace: str, crds: list[dict[str, Any]], api_client: client.ApiClient, lease: Lease
) -> None:
    lease.write("someone-else")  # a live leader elsewhere, with a long lease
    first = Replica(kubeconfig, namespace)
    second: Replica | None = None
    try:
        time.sleep(2.0)
        # Standing by: no work queue, no kopf watches, the Lease untouched.
        assert first.thread.is_alive() and first.error is None
        assert first.controller is None and not first.ready.is_set()
        assert lease.holder() == "someone-else"

        lease.write(None, duration=1)  # the other leader releases
        assert first.ready.wait(15), f"the standby did not take over: {first.error!r}"
        holder = lease.holder()
        assert holder is not None and holder != "someone-else"
        create(client.CustomObjectsApi(api_client), namespace, code_location("shop", "shop"))
        eventually(lambda: first.reconciles() > 0, "the leader reconciling a new CodeLocation", 10)

        second = Replica(kubeconfig, namespace)
        time.sleep(1.5)
        assert second.controller is None and not second.ready.is_set()
        assert lease.holder() == holder

        first.halt()
        assert first.error is None
        # Released: the standby leads well before the 10 s lease could have run out.
        assert second.ready.wait(6), f"the standby did not take over after a clean stop: {second.error!r}"
        assert lease.holder() not in (None, holder)

        lease.write("intruder")
        second.thread.join(20)
        assert not second.thread.is_alive(), "the replica kept running after losing its Lease"
        assert isinstance(second.error, LeadershipLostError) and "to intruder" in str(second.error)
        assert lease.holder() == "intruder"  # a replica that lost does not release someone else's Lease
    finally:
        for replica in (first, second):
            if replica is not None and replica.thread.is_alive():
                replica.halt()
