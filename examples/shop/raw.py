"""Raw extracts under the ``raw/`` key prefix. Real code would read a database; these generate
deterministic rows so the example runs anywhere without network access."""

import random

from kubeasset import MaterializeResult, MetadataValue, asset

_SEED = 20261124


@asset(
    key_prefix="raw",
    group_name="sales",
    kinds={"python"},
    owners=["team:sales"],
    tags={"tier": "bronze"},
    code_version="1",
)
def orders() -> MaterializeResult:
    """Orders as exported from the shop's database: one row per order line."""
    rng = random.Random(_SEED)
    rows = [
        {
            "order_id": i,
            "customer_id": rng.randint(1, 40),
            "day": f"2026-11-{rng.randint(1, 28):02d}",
            "amount": round(rng.uniform(5, 250), 2),
            "campaign": rng.choice(["black-friday", "newsletter", "none", "none"]),
        }
        for i in range(500)
    ]
    return MaterializeResult(
        value=rows,
        metadata={
            "dagster/row_count": len(rows),
            "source": MetadataValue.url("https://shop.example.com/exports/orders"),
        },
    )


@asset(key_prefix="raw", group_name="sales", kinds={"python"}, owners=["team:sales"], tags={"tier": "bronze"})
def customers() -> list[dict[str, object]]:
    """The customer register."""
    rng = random.Random(_SEED + 1)
    return [
        {"customer_id": i, "country": rng.choice(["DE", "FR", "NL", "US"]), "since": 2020 + rng.randint(0, 6)}
        for i in range(1, 41)
    ]


@asset(
    key_prefix="raw",
    group_name="marketing",
    kinds={"python"},
    owners=["team:marketing"],
    tags={"tier": "bronze"},
)
def campaigns() -> list[dict[str, object]]:
    """Marketing campaigns and what they cost."""
    return [
        {"campaign": "black-friday", "cost": 1200.0},
        {"campaign": "newsletter", "cost": 150.0},
    ]
