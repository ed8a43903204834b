"""`ad_accounts`: the run's directory of ad accounts, read once and shared with every stream
partitioned by ad account."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from tap_pinterest_ads.marketing.client import (
    AccountForbiddenError,
    NotFoundError,
    V5Family,
    V5Stream,
)

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context


class AdAccountsStream(V5Stream):
    name = "ad_accounts"

    def __init__(self, tap: Tap, *, family: V5Family) -> None:
        super().__init__(tap, family=family)
        family.account_reader = self.read_accounts

    @property
    def chosen(self) -> tuple[str, ...]:
        return self.family.settings.ad_account_ids

    @property
    def path(self) -> str:  # type: ignore[override]
        return "/ad_accounts/{ad_account_id}" if self.chosen else "/ad_accounts"

    @property
    def records_jsonpath(self) -> str:  # type: ignore[override]
        return "$" if self.chosen else "$.items[*]"

    @property
    def partitions(self) -> list[dict[str, Any]] | None:
        return None

    def read_accounts(self) -> Iterable[dict[str, Any]]:
        if not self.chosen:
            yield from self.request_records(None)
            return
        for account in self.chosen:
            try:
                yield from self.request_records({"ad_account_id": account})
            except (AccountForbiddenError, NotFoundError) as error:
                self.family.skip_account(account, str(error))

    def read(self, context: Context | None) -> Iterable[dict[str, Any]]:
        return (dict(account) for account in self.family.accounts())
