"""Catalogs, their feeds and product groups, per ad account (Business Access: `ad_account_id`
acts for the account's owner). Full table: small lists."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tap_pinterest_ads.marketing.client import V5Stream

if TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class CatalogStream(V5Stream):
    def query(self, context: Context) -> dict[str, Any]:
        return {"ad_account_id": context["ad_account_id"]}


class CatalogsStream(CatalogStream):
    name = "catalogs"
    path = "/catalogs"


class CatalogsFeedsStream(CatalogStream):
    name = "catalogs_feeds"
    path = "/catalogs/feeds"

    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        # The feed host's username and password: never emitted.
        row.pop("credentials", None)
        return super().post_process(row, context)


class CatalogsProductGroupsStream(CatalogStream):
    """An account without a catalog answers 409 code 4182: no rows (see V5Stream.read)."""

    name = "catalogs_product_groups"
    path = "/catalogs/product_groups"
