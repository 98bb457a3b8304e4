"""Meta's facts for the shared failure-path suite (tests/failures/, see tests/failures/facts.py)."""

from __future__ import annotations

from tests.failures.facts import DriftCase, FailureFacts, UnknownFieldCase

RERUN_REQUESTS = 27
"""A re-run with nothing new on the small world at its reference date (the suite pins the pipeline's today to the
world's), by design (pipelines/meta/source.py): the token check and the Page token (2); the Page node, its insights
window and its recent posts (3); the Instagram node, media and stories (3) and its insights: the reach series plus
one totals call per day in the re-read window, and the follower demographics (9); the ad account, campaigns, ad sets
and ads (4); the two 28-day reach reports, one synchronous read each (2); and the four daily insights tables'
re-read windows, from 27 days before the last day loaded to yesterday, within `sync_max_days`: one synchronous read
each, a page apiece on the small world (4). Meta re-reads its windows on purpose: conversions arrive late."""

FACTS = FailureFacts(
    # The Page's follower count feeds social_overview (through int_meta__social_days_pivoted).
    drift=DriftCase(field="followers_count", table="page", column="followers_count"),
    unknown_field=UnknownFieldCase(table="page"),
    rerun_requests=lambda server: RERUN_REQUESTS,
    # Every table is re-read on every run: snapshots (Page, Instagram account, ads catalogue, token status) and the
    # re-read windows of the insights (late conversions, late organic metrics).
    snapshot_tables=(
        "token_status", "page", "page_insights", "page_posts", "ig_account", "ig_insights", "ig_media",
        "ig_follower_demographics", "ad_account", "ad_campaigns", "ad_adsets", "ads", "ads_insights",
        "ads_insights_campaign", "ads_insights_age_gender", "ads_insights_country", "ads_reach_age_gender",
        "ads_reach_country",
    ),
)
