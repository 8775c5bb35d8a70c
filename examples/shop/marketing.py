"""Marketing reporting: which campaigns paid off."""

from kubeasset import AssetIn, MaterializeResult, MetadataValue, asset

_MARKETING = {"group_name": "marketing", "owners": ["team:marketing"], "kinds": {"python"}}


@asset(ins={"raw_campaigns": AssetIn(key=["raw", "campaigns"])}, tags={"tier": "silver"}, **_MARKETING)
def campaign_performance(
    raw_campaigns: list[dict[str, object]], cleaned_orders: list[dict[str, object]]
) -> dict[str, float]:
    """Revenue earned per unit of campaign cost."""
    revenue: dict[str, float] = {}
    for row in cleaned_orders:
        campaign = str(row["campaign"])
        revenue[campaign] = revenue.get(campaign, 0.0) + float(str(row["amount"]))
    return {
        str(c["campaign"]): round(revenue.get(str(c["campaign"]), 0.0) / float(str(c["cost"])), 3)
        for c in raw_campaigns
    }


@asset(tags={"tier": "gold"}, kinds={"markdown"}, group_name="marketing", owners=["team:marketing"])
def marketing_report(campaign_performance: dict[str, float], top_customers: list[int]) -> MaterializeResult:
    """A one-page report for the marketing team."""
    lines = ["# Campaigns", ""]
    lines += [f"- {name}: {ratio:.2f} revenue per unit of cost" for name, ratio in campaign_performance.items()]
    lines += ["", f"Top customers to target: {', '.join(map(str, top_customers))}"]
    report = "\n".join(lines)
    return MaterializeResult(value=report, metadata={"report": MetadataValue.md(report)})
