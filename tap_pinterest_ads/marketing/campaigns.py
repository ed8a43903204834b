"""The ads hierarchy of each ad account: campaigns, ad groups, ads, and keywords per ad group."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from singer_sdk import metrics
from singer_sdk.exceptions import FatalAPIError

from tap_pinterest_ads.marketing.client import V5Family, V5Stream

MAX_AD_GROUP_IDS = 250  # the spec's maxItems for keywords' `ad_group_ids`
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

    def read(self, context: Context | None) -> Iterable[dict[str, Any]]:
        # Every ad group, changed or not, for keywords: the bookmark filter runs after this.
        assert context is not None
        seen = []
        for row in super().read(context):
            seen.append(str(row["id"]))
            yield row
        self.family.ad_groups[str(context["ad_account_id"])] = seen

    def ids(self, context: Context) -> list[str]:
        """Every ad group id of the account: from this run's sync, else read now."""
        account = str(context["ad_account_id"])
        if account not in self.family.ad_groups:
            self.family.ad_groups[account] = [
                str(row["id"]) for row in self.request_records(context)
            ]
        return self.family.ad_groups[account]


class KeywordsRefusedError(FatalAPIError):
    """400/414 to `ad_group_ids`: the batch filter is not open to this user (a BETA)."""


class KeywordsStream(V5Stream):
    """Full table. Without a filter the API lists only keywords whose parent is the account;
    those made in Ads Manager hang under ad groups. `ad_group_ids` (BETA in the spec) lists up
    to 250 ad groups' keywords at once; where the API refuses or ignores it, each ad group is
    asked alone for the rest of the run, as Airbyte does."""

    name = "keywords"
    path = "/ad_accounts/{ad_account_id}/keywords"

    def __init__(self, tap: Tap, *, family: V5Family, ad_groups: AdGroupsStream) -> None:
        super().__init__(tap, family=family)
        self.ad_groups = ad_groups
        self.batched = True

    def query(self, context: Context) -> dict[str, Any]:
        return {k: context[k] for k in ("ad_group_id", "ad_group_ids") if k in context}

    def get_http_request_counter(self) -> metrics.Counter:
        # One METRIC line per ad group (hundreds) would bury the log: `read` says it once.
        counter = super().get_http_request_counter()
        counter.logger = _QUIET_METRICS
        return counter

    def classify_error(self, response: requests.Response, *, retriable: bool) -> None:
        asked = response.request.url if response.request else response.url
        if response.status_code in {400, 414} and "ad_group_ids=" in str(asked):
            raise KeywordsRefusedError(f"{response.status_code} ({self.api_message(response)})")
        super().classify_error(response, retriable=retriable)

    def unbatch(self, reason: str) -> None:
        if not self.batched:  # another account's reader found it first
            return
        self.batched = False
        self.logger.warning(
            "keywords: the API does not serve `ad_group_ids` here (%s): each ad group is asked "
            "alone for the rest of the run",
            reason,
        )

    def batch_rows(self, context: Context, batch: list[str]) -> Iterable[dict[str, Any]]:
        """The keywords of up to 250 ad groups; stops (False) before any row if the API
        refuses the filter or ignores it (it answers keywords of other parents)."""
        parents, served = set(batch), 0
        try:
            for row in self.request_records({**context, "ad_group_ids": batch}):
                if str(row.get("parent_id")) not in parents:
                    if served:  # half a batch already out: nothing safe to fall back to
                        raise FatalAPIError(
                            f"keywords: ad group filter answered keyword {row.get('id')} of "
                            f"{row.get('parent_type')} {row.get('parent_id')}, not asked for"
                        )
                    self.unbatch("it answered keywords of parents not asked for")
                    return
                served += 1
                yield row
        except KeywordsRefusedError as error:
            if served:
                raise
            self.unbatch(str(error))

    def read(self, context: Context | None) -> Iterable[dict[str, Any]]:
        assert context is not None
        groups = self.ad_groups.ids(context)
        found = 0
        for row in self.request_records(context):  # unfiltered: the account's own keywords
            found += 1
            yield row
        pending = groups
        while pending and self.batched:
            for row in self.batch_rows(context, pending[:MAX_AD_GROUP_IDS]):
                found += 1
                yield row
            if self.batched:
                pending = pending[MAX_AD_GROUP_IDS:]
        for group in pending:
            for row in self.request_records({**context, "ad_group_id": group}):
                found += 1
                yield row
        self.logger.info(
            "keywords: ad account %s: %d keywords from the account and its %d ad groups",
            context["ad_account_id"],
            found,
            len(groups),
        )
