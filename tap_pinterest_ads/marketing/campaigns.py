"""The ads hierarchy of each ad account: campaigns, ad groups, ads, and keywords per ad group."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tap_pinterest_ads.marketing.client import V5Family, V5Stream

if TYPE_CHECKING:
    import requests
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context


class EntityStream(V5Stream):
    """Campaigns, ad groups and ads: incremental on `updated_time`, every entity status."""

    replication_key = "updated_time"
    sends_statuses = True


class CampaignsStream(EntityStream):
    name = "campaigns"
    path = "/ad_accounts/{ad_account_id}/campaigns"


class AdsStream(EntityStream):
    name = "ads"
    path = "/ad_accounts/{ad_account_id}/ads"


class AdGroupsStream(EntityStream):
    name = "ad_groups"
    path = "/ad_accounts/{ad_account_id}/ad_groups"

    def __init__(self, tap: Tap, *, family: V5Family) -> None:
        super().__init__(tap, family=family)
        self._seen: list[str] = []

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        # Every ad group, changed or not, for keywords: the bookmark filter runs after this.
        for row in super().parse_response(response):
            self._seen.append(str(row["id"]))
            yield row

    def read(self, context: Context | None) -> Iterable[dict[str, Any]]:
        assert context is not None
        self._seen = []
        yield from super().read(context)
        self.family.ad_groups[str(context["ad_account_id"])] = list(self._seen)

    def ids(self, context: Context) -> list[str]:
        """Every ad group id of the account: from this run's sync, else read now."""
        account = str(context["ad_account_id"])
        if account not in self.family.ad_groups:
            self.family.ad_groups[account] = [
                str(row["id"]) for row in self.request_records(context)
            ]
        return self.family.ad_groups[account]


class KeywordsStream(V5Stream):
    """Full table. Without a filter the API lists only keywords whose parent is the account;
    those made in Ads Manager hang under ad groups, so each ad group is asked too."""

    name = "keywords"
    path = "/ad_accounts/{ad_account_id}/keywords"

    def __init__(self, tap: Tap, *, family: V5Family, ad_groups: AdGroupsStream) -> None:
        super().__init__(tap, family=family)
        self.ad_groups = ad_groups

    def query(self, context: Context) -> dict[str, Any]:
        return {"ad_group_id": context["ad_group_id"]} if "ad_group_id" in context else {}

    def read(self, context: Context | None) -> Iterable[dict[str, Any]]:
        assert context is not None
        yield from self.request_records(context)  # unfiltered: the account's own keywords
        for group in self.ad_groups.ids(context):
            yield from self.request_records({**context, "ad_group_id": group})
