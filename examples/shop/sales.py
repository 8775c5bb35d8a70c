"""Sales reporting built from the raw extracts."""

from collections import defaultdict

from kubeasset import AssetIn, MaterializeResult, MetadataValue, asset

_SALES = {"group_name": "sales", "owners": ["team:sales"], "kinds": {"python"}}


@asset(ins={"raw_orders": AssetIn(key=["raw", "orders"])}, tags={"tier": "silver"}, code_version="2", **_SALES)
def cleaned_orders(raw_orders: list[dict[str, object]]) -> MaterializeResult:
    """Orders without test purchases (amount under 10) and with numeric amounts."""
    rows = [row for row in raw_orders if float(str(row["amount"])) >= 10]
    return MaterializeResult(
        value=rows,
        metadata={"dagster/row_count": len(rows), "dropped": len(raw_orders) - len(rows)},
    )


@asset(tags={"tier": "gold"}, **_SALES)
def daily_revenue(cleaned_orders: list[dict[str, object]]) -> MaterializeResult:
    """Revenue per day."""
    totals: dict[str, float] = defaultdict(float)
    for row in cleaned_orders:
        totals[str(row["day"])] += float(str(row["amount"]))
    revenue = {day: round(total, 2) for day, total in sorted(totals.items())}
    return MaterializeResult(
        value=revenue,
        metadata={"days": len(revenue), "best_day": MetadataValue.json(max(revenue.items(), key=lambda kv: kv[1]))},
    )


@asset(
    ins={"raw_customers": AssetIn(key=["raw", "customers"])},
    tags={"tier": "gold", "pii": ""},
    **_SALES,
)
def customer_lifetime_value(
    cleaned_orders: list[dict[str, object]], raw_customers: list[dict[str, object]]
) -> dict[int, float]:
    """Total spend per customer, for every known customer."""
    spend = {int(str(c["customer_id"])): 0.0 for c in raw_customers}
    for row in cleaned_orders:
        spend[int(str(row["customer_id"]))] += float(str(row["amount"]))
    return {customer: round(total, 2) for customer, total in spend.items()}


@asset(tags={"tier": "gold"}, **_SALES)
def top_customers(customer_lifetime_value: dict[int, float]) -> list[int]:
    """The ten customers who spent most."""
    ranked = sorted(customer_lifetime_value.items(), key=lambda kv: (-kv[1], kv[0]))
    return [customer for customer, _ in ranked[:10]]
