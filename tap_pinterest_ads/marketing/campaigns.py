"""The ads hierarchy of each ad account: campaigns, ad groups, ads, and keywords per ad group."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from singer_sdk import metrics

from tap_pinterest_ads.marketing.client import V5Family, V5Stream

_QUIET_METRICS = logging.getLogger("tap_pinterest_ads.marketing.quiet_metrics")
_QUIET_METRICS.setLevel(logging.WARNING)

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

    def get_http_request_counter(self) -> metrics.Counter:
        # One METRIC line per ad group (hundreds) would bury the log: `read` says it once.
        counter = super().get_http_request_counter()
        counter.logger = _QUIET_METRICS
        return counter

    def read(self, context: Context | None) -> Iterable[dict[str, Any]]:
        assert context is not None
        groups = self.ad_groups.ids(context)
        lists = [context, *({**context, "ad_group_id": group} for group in groups)]
        found = 0
        for each in lists:  # the first, unfiltered: the account's own keywords
            for row in self.request_records(each):
                found += 1
                yield row
        self.logger.info(
            "keywords: ad account %s: %d keywords from the account and its %d ad groups",
            context["ad_account_id"],
            found,
            len(groups),
        )
