"""The example code location: a small online shop's sales and marketing assets.

`kubeasset materialize -d examples -m shop` runs it on this machine; the manifests in
``examples/manifests/`` run the same module in a cluster. ``defs`` is the one Definitions object
kubeasset looks for.
"""

from kubeasset import Definitions, define_asset_job

from . import marketing, raw, sales

defs = Definitions(
    assets=[
        raw.orders,
        raw.customers,
        raw.campaigns,
        sales.cleaned_orders,
        sales.daily_revenue,
        sales.customer_lifetime_value,
        sales.top_customers,
        marketing.campaign_performance,
        marketing.marketing_report,
    ],
    jobs=[
        define_asset_job("sales_job", "group:sales", description="Everything the sales team reports on"),
        define_asset_job(
            "marketing_job", "group:marketing", tags={"team": "marketing"}, description="Campaign reporting"
        ),
    ],
)
