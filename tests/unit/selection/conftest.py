"""A small, documented asset graph (a shop's data warehouse) that every selection test selects from.

Dependencies (an arrow points from a dependency to the asset that depends on it)::

    raw/orders ----> stg_orders ----+
                                    +--> orders --+--> customers ----> customer_report
    raw/payments --> stg_payments --+             |        ^
                                                  |        |
                                                  +--------|-------> revenue_report
    raw/customers -> stg_customers ------------------------+

    standalone                       (no dependencies, no dependents)

Precisely: stg_orders <- raw/orders; stg_payments <- raw/payments; stg_customers <- raw/customers;
orders <- stg_orders, stg_payments; customers <- stg_customers, orders;
revenue_report <- orders; customer_report <- customers.

| asset           | group     | kinds       | tags                     | owners                          |
|-----------------|-----------|-------------|--------------------------|---------------------------------|
| raw/orders      | raw       | python      | tier=bronze              | team:ingest                     |
| raw/payments    | raw       | s3, csv     | tier=bronze              | team:ingest                     |
| raw/customers   | raw       | s3          | pii="" (empty value)     | alice@example.com               |
| stg_orders      | staging   | dbt         | tier=silver              |                                 |
| stg_payments    | staging   | dbt         | tier=silver              |                                 |
| stg_customers   | staging   | dbt         | pii="", tier=silver      |                                 |
| orders          | marts     | dbt         | tier=gold                | team:sales                      |
| customers       | marts     | dbt         | tier=gold, pii=yes       | team:sales, alice@example.com   |
| revenue_report  | reporting | csv         | tier=gold                | team:sales                      |
| customer_report | reporting | csv         |                          | team:sales                      |
| standalone      | default   |             |                          |                                 |

The graph's code location is ``shop``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType

import pytest

from kubeasset.graph import AssetGraph, AssetKey, AssetSpec
from kubeasset.selection import parse_selection


def _spec(
    key: str,
    deps: Sequence[str] = (),
    group: str = "default",
    kinds: Sequence[str] = (),
    tags: Mapping[str, str] | None = None,
    owners: Sequence[str] = (),
) -> AssetSpec:
    return AssetSpec(
        key=AssetKey.from_user_string(key),
        deps=tuple(AssetKey.from_user_string(dep) for dep in deps),
        group_name=group,
        kinds=frozenset(kinds),
        tags=MappingProxyType(dict(tags or {})),
        owners=tuple(owners),
    )


SHOP_SPECS = (
    _spec("raw/orders", group="raw", kinds=["python"], tags={"tier": "bronze"}, owners=["team:ingest"]),
    _spec("raw/payments", group="raw", kinds=["s3", "csv"], tags={"tier": "bronze"}, owners=["team:ingest"]),
    _spec("raw/customers", group="raw", kinds=["s3"], tags={"pii": ""}, owners=["alice@example.com"]),
    _spec("stg_orders", ["raw/orders"], group="staging", kinds=["dbt"], tags={"tier": "silver"}),
    _spec("stg_payments", ["raw/payments"], group="staging", kinds=["dbt"], tags={"tier": "silver"}),
    _spec("stg_customers", ["raw/customers"], "staging", ["dbt"], {"pii": "", "tier": "silver"}),
    _spec("orders", ["stg_orders", "stg_payments"], "marts", ["dbt"], {"tier": "gold"}, ["team:sales"]),
    _spec(
        "customers",
        ["stg_customers", "orders"],
        "marts",
        ["dbt"],
        {"tier": "gold", "pii": "yes"},
        ["team:sales", "alice@example.com"],
    ),
    _spec("revenue_report", ["orders"], "reporting", ["csv"], {"tier": "gold"}, ["team:sales"]),
    _spec("customer_report", ["customers"], "reporting", ["csv"], owners=["team:sales"]),
    _spec("standalone"),
)


@pytest.fixture(scope="session")
def graph() -> AssetGraph:
    return AssetGraph(SHOP_SPECS, code_location="shop")


@pytest.fixture(scope="session")
def all_assets() -> frozenset[str]:
    """Every key of the shop graph, as ``a/b`` strings."""
    return frozenset(spec.key.to_user_string() for spec in SHOP_SPECS)


@pytest.fixture(scope="session")
def select(graph: AssetGraph) -> Callable[[str], set[str]]:
    """Parse and resolve a selection string over the shop graph, as a set of ``a/b`` key strings."""

    def run(text: str) -> set[str]:
        return {key.to_user_string() for key in parse_selection(text).resolve(graph)}

    return run
