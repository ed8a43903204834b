"""Audiences, customer lists and conversion tags of each ad account."""

from __future__ import annotations

from tap_pinterest_ads.marketing.client import V5Stream


class AudiencesStream(V5Stream):
    name = "audiences"
    path = "/ad_accounts/{ad_account_id}/audiences"
    replication_key = "updated_timestamp"  # audiences name it so


class CustomerListsStream(V5Stream):
    name = "customer_lists"
    path = "/ad_accounts/{ad_account_id}/customer_lists"
    replication_key = "updated_time"


class ConversionTagsStream(V5Stream):
    """Full table: a tag has no update time. The list is not paged (`{items}` only)."""

    name = "conversion_tags"
    path = "/ad_accounts/{ad_account_id}/conversion_tags"
