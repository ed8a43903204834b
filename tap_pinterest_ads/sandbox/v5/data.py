"""Deterministic v5 universe: ad accounts with their campaign trees, audiences, lists, tags and
catalogs, and the token user's boards and pins; a pure function of the seed, the start clock and
the advances made since."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from .assets import DAY, YEAR, Maker, Row, iso

STATUSES = ("ACTIVE", "PAUSED", "ARCHIVED", "DRAFT", "DELETED_DRAFT")
STATUS_WEIGHTS = (45, 25, 18, 8, 4)
DEFAULT_STATUSES = ("ACTIVE", "PAUSED")  # the spec's default for entity_statuses
# Per ad account: campaigns at the start, the token user's permissions, catalogs. The first
# two are owned by the token user, the others shared with it; the last one it cannot read.
ACCOUNTS: tuple[dict[str, Any], ...] = (
    {"campaigns": 150, "permissions": ["OWNER"], "readable": True, "catalogs": ("RETAIL", "HOTEL")},
    {"campaigns": 110, "permissions": ["OWNER"], "readable": True, "catalogs": ("RETAIL",)},
    {"campaigns": 70, "permissions": ["ANALYST"], "readable": True, "catalogs": ()},
    {"campaigns": 20, "permissions": ["FINANCE_VIEW"], "readable": False, "catalogs": ()},
)
OWNED = 2
# Campaigns at the start were created over this span, so an account has delivery history as far
# back as async reports reach (914 days).
HISTORY = 915 * DAY
BOARDS = 12
ENTITY_KINDS = ("campaigns", "ad_groups", "ads")
ACCOUNT_KINDS = (*ENTITY_KINDS, "keywords", "audiences", "customer_lists", "conversion_tags")
CATALOG_KINDS = ("catalogs", "feeds", "product_groups")
OBJECTIVES = ("AWARENESS", "CONSIDERATION", "WEB_CONVERSION", "CATALOG_SALES", "VIDEO_COMPLETION")
CREATIVES = ("REGULAR", "VIDEO", "SHOPPING", "CAROUSEL", "IDEA")
# Share of each kind whose update time one day of advance moves; new campaigns per account-day.
TOUCH_PER_DAY = {"campaigns": 0.03, "ad_groups": 0.03, "ads": 0.02, "audiences": 0.05}
NEW_CAMPAIGNS_PER_DAY = 1.5
NEW_PINS_PER_DAY = 3.0


def _count(rng: random.Random, expected: float) -> int:
    whole = int(expected)
    return whole + (rng.random() < expected - whole)


def updated_field(kind: str) -> str:
    return "updated_timestamp" if kind == "audiences" else "updated_time"


@dataclass(frozen=True)
class Size:
    """A universe of `accounts` ad accounts, all owned and readable, each with `campaigns`
    campaigns and exactly `ads` ads at the start (for benchmarks); None: the default mix."""

    accounts: int
    campaigns: int
    ads: int

    def specs(self) -> tuple[dict[str, Any], ...]:
        owned = {"permissions": ["OWNER"], "readable": True}
        return tuple(
            {**owned, "campaigns": self.campaigns, "catalogs": ("RETAIL",) if i == 0 else ()}
            for i in range(self.accounts)
        )


@dataclass
class Account:
    row: Row
    readable: bool
    owned: bool


class V5Universe(Maker):
    """Rows are stored exactly as served, each table in id order (ids grow with creation time,
    as the spec says of the real ones)."""

    def __init__(self, seed: int, now: int, size: Size | None = None) -> None:
        super().__init__(seed, now)
        self.size = size
        self.accounts: list[Account] = []
        self.tables: dict[str, dict[str, list[Row]]] = {}
        self.catalogs: dict[str, dict[str, list[Row]]] = {}
        self.boards: list[Row] = []
        self.sections: dict[str, list[Row]] = {}
        self.pins: list[Row] = []
        self.feed_catalog: dict[str, str] = {}  # retail feeds do not show their catalog
        for index, spec in enumerate(size.specs() if size else ACCOUNTS):
            self._account(index, spec)
        self._organic()

    def account(self, account_id: str) -> Account | None:
        return next((a for a in self.accounts if a.row["id"] == account_id), None)

    def counts(self) -> dict[str, int]:
        totals = dict.fromkeys((*ACCOUNT_KINDS, *CATALOG_KINDS), 0)
        for tables in (*self.tables.values(), *self.catalogs.values()):
            for kind, rows in tables.items():
                totals[kind] += len(rows)
        sections = sum(len(rows) for rows in self.sections.values())
        return {**totals, "boards": len(self.boards), "sections": sections, "pins": len(self.pins)}

    # -- building ------------------------------------------------------------------------
    def _account(self, index: int, spec: dict[str, Any]) -> None:
        created, updated = self._times(self.now - 3 * YEAR)
        owned = index < OWNED or self.size is not None
        owner = "sandbox_user" if owned else f"partner_{index}"
        row = {
            "id": self._id("ad_account"),
            "name": f"Sandbox Ads {index + 1}",
            "owner": {"username": owner, "id": str(7_000_000_000 + index)},
            "country": ("US", "GB", "DE", "FR")[index % 4],
            "currency": ("USD", "GBP", "EUR", "EUR")[index % 4],
            "permissions": spec["permissions"],
            "created_time": created,
            "updated_time": updated,
        }
        account_id = row["id"]
        self.accounts.append(Account(row, spec["readable"], owned))
        tables: dict[str, list[Row]] = {kind: [] for kind in ACCOUNT_KINDS}
        self.tables[account_id] = tables
        campaigns = spec["campaigns"]
        for number in range(campaigns):
            ads = None
            if self.size is not None:  # exactly size.ads ads, spread evenly
                ads = self.size.ads // campaigns + (number < self.size.ads % campaigns)
            self._campaign(account_id, self.now - HISTORY, ads)
        for _ in range(2):  # keywords on the account itself: the only ones listed unfiltered
            tables["keywords"].append(self.keyword(account_id, "advertiser"))
        for _ in range(self.rng.randint(3, 6)):
            tables["customer_lists"].append(self.customer_list(account_id))
        for _ in range(self.rng.randint(3, 5)):
            tables["conversion_tags"].append(self.conversion_tag(account_id))
        for _ in range(self.rng.randint(8, 14)):
            tables["audiences"].append(self._audience(account_id, self.now - YEAR))
        self.catalogs[account_id] = {kind: [] for kind in CATALOG_KINDS}
        for catalog_type in spec["catalogs"]:
            self._catalog(account_id, catalog_type)

    def _audience(self, account_id: str, since: int) -> Row:
        tables = self.tables[account_id]
        sources = {
            "customer_list": self.rng.choice(tables["customer_lists"])["id"],
            "conversion_tag": self.rng.choice(tables["conversion_tags"])["id"],
        }
        return self.audience(account_id, since, sources)

    def _catalog(self, account_id: str, catalog_type: str) -> None:
        owned = self.catalogs[account_id]
        catalog = self.catalog(catalog_type)
        owned["catalogs"].append(catalog)
        for number in range(1, self.rng.randint(1, 2) + 1):
            feed = self.feed(catalog, number)
            self.feed_catalog[feed["id"]] = catalog["id"]
            owned["feeds"].append(feed)
            for _ in range(self.rng.randint(2, 4)):
                owned["product_groups"].append(self.product_group(catalog, feed))

    def _status(self, parent: str | None) -> str:
        if parent in ("ARCHIVED", "DRAFT", "DELETED_DRAFT"):
            return parent  # archiving cascades; drafts hold drafts
        status = self.rng.choices(STATUSES, STATUS_WEIGHTS)[0]
        if parent is not None and status in ("DRAFT", "DELETED_DRAFT"):
            return "PAUSED"
        return status

    def _campaign(self, account_id: str, since: int, ads: int | None = None) -> Row:
        """`ads`: exactly this many ads over its ad groups (None: 2 to 6 per ad group)."""
        created, updated = self._times(since)
        start = created + self.rng.randint(0, 20) * DAY
        end = start + self.rng.randint(7, 200) * DAY if self.rng.random() < 0.6 else None
        cap = self.rng.randint(50, 5000) * 1_000_000
        row = {
            "id": self._id("campaign"),
            "ad_account_id": account_id,
            "name": f"{self._words()} {self.next_id['campaign'] % 1000}",
            "status": self._status(None),
            "lifetime_spend_cap": cap if self.rng.random() < 0.3 else None,
            "daily_spend_cap": cap // 30 if self.rng.random() < 0.5 else None,
            "order_line_id": None,
            "tracking_urls": None,
            "start_time": start,
            "end_time": end,
            "is_flexible_daily_budgets": self.rng.random() < 0.2,
            "is_automated_campaign": False,
            "is_campaign_budget_optimization": self.rng.random() < 0.3,
            "is_performance_plus": False,
            "objective_type": self.rng.choice(OBJECTIVES),
            "created_time": created,
            "updated_time": updated,
            "type": "campaign",
        }
        self._summarise(row)
        self.tables[account_id]["campaigns"].append(row)
        groups = self.rng.randint(1, 3)
        if ads is not None:
            groups = max(1, min(groups, ads))
        for number in range(groups):
            share = None if ads is None else ads // groups + (number < ads % groups)
            self._ad_group(row, created, share)
        return row

    def _summarise(self, row: Row) -> None:
        status = row["status"]
        if row["type"] == "pinpromotion":
            row["summary_status"] = row["review_status"] if status == "ACTIVE" else status
        elif status != "ACTIVE":
            row["summary_status"] = status
        elif row["start_time"] > self.now:
            row["summary_status"] = "NOT_STARTED"
        elif row["end_time"] and row["end_time"] < self.now:
            row["summary_status"] = "COMPLETED"
        else:
            row["summary_status"] = "RUNNING"

    def _ad_group(self, campaign: Row, since: int, ads: int | None = None) -> None:
        created, updated = self._times(since)
        budget = self.rng.randint(5, 500) * 1_000_000
        row = {
            "id": self._id("ad_group"),
            "ad_account_id": campaign["ad_account_id"],
            "campaign_id": campaign["id"],
            "name": f"{campaign['name']} / group {self.rng.randint(1, 99)}",
            "status": self._status(campaign["status"]),
            "budget_in_micro_currency": budget,
            "bid_in_micro_currency": budget // 100 if self.rng.random() < 0.5 else None,
            "budget_type": self.rng.choice(("DAILY", "LIFETIME")),
            "start_time": campaign["start_time"],
            "end_time": campaign["end_time"],
            "targeting_spec": {
                "GENDER": [self.rng.choice(("male", "female", "unknown"))],
                "AGE_BUCKET": sorted(self.rng.sample(("18-24", "25-34", "35-44", "45-49"), 2)),
                "APPTYPE": ["iphone", "android_mobile", "web"],
                "LOCATION": ["US"],
            },
            "lifetime_frequency_cap": -1,
            "tracking_urls": None,
            "auto_targeting_enabled": self.rng.random() < 0.5,
            "placement_group": "ALL",
            "pacing_delivery_type": "STANDARD",
            "conversion_learning_mode_type": None,
            "feed_profile_id": "0",
            "billable_event": self.rng.choice(("CLICKTHROUGH", "IMPRESSION")),
            "bid_strategy_type": self.rng.choice(("AUTOMATIC_BID", "MAX_BID")),
            "optimization_goal_metadata": {},
            "targeting_template_ids": None,
            "is_creative_optimization": False,
            "created_time": created,
            "updated_time": updated,
            "type": "adgroup",
        }
        self._summarise(row)
        tables = self.tables[campaign["ad_account_id"]]
        tables["ad_groups"].append(row)
        for _ in range(self.rng.randint(2, 6) if ads is None else ads):
            self._ad(row, created)
        for _ in range(self.rng.randint(0, 4)):
            tables["keywords"].append(self.keyword(row["id"], "ad_group"))

    def _ad(self, group: Row, since: int) -> None:
        created, updated = self._times(since)
        review = self.rng.choices(("APPROVED", "PENDING", "REJECTED"), (85, 10, 5))[0]
        number = self.next_id["ad"] % 100_000
        row = {
            "id": self._id("ad"),
            "ad_account_id": group["ad_account_id"],
            "campaign_id": group["campaign_id"],
            "ad_group_id": group["id"],
            "pin_id": self._id("pin"),
            "name": f"Ad {number}",
            "status": self._status(group["status"]),
            "creative_type": self.rng.choice(CREATIVES),
            "destination_url": f"https://shop.example.com/p/{number}",
            "click_tracking_url": None,
            "view_tracking_url": None,
            "android_deep_link": None,
            "ios_deep_link": None,
            "carousel_android_deep_links": None,
            "carousel_destination_urls": None,
            "carousel_ios_deep_links": None,
            "tracking_urls": None,
            "is_pin_deleted": False,
            "is_removable": self.rng.random() < 0.5,
            "lead_form_id": None,
            "collection_items_destination_url_template": None,
            "grid_click_type": "CLOSEUP",
            "customizable_cta_type": None,
            "quiz_pin_data": None,
            "rejected_reasons": ["LANDING_PAGE"] if review == "REJECTED" else [],
            "rejection_labels": ["Landing page"] if review == "REJECTED" else [],
            "review_status": review,
            "created_time": created,
            "updated_time": updated,
            "type": "pinpromotion",
        }
        self._summarise(row)
        self.tables[group["ad_account_id"]]["ads"].append(row)

    def _organic(self) -> None:
        for number in range(1, BOARDS + 1):
            board = self.board(number)
            self.boards.append(board)
            self.sections[board["id"]] = [
                self.section(board, n) for n in range(1, self.rng.randint(0, 3) + 1)
            ]
            for _ in range(self.rng.randint(0, 40)):
                self._pin(board, self.rng.randint(self.now - 2 * YEAR, self.now - 1))

    def _pin(self, board: Row, created: int) -> None:
        sections = self.sections[board["id"]]
        inside = sections and self.rng.random() < 0.4
        section_id = self.rng.choice(sections)["id"] if inside else None
        self.pins.append(self.pin(board, section_id, created))
        board["pin_count"] += 1
        board["board_pins_modified_at"] = max(board["board_pins_modified_at"], iso(created))

    def user_account(self) -> Row:
        return self.user(len(self.boards), len(self.pins))

    # -- time travel ----------------------------------------------------------------------
    def advance(self, now: int) -> dict[str, int]:
        """Move the clock to `now`: some objects change in between, some are created."""
        then, days = self.now, (now - self.now) / DAY
        self.now = now
        self.rng = random.Random(f"v5:{self.seed}:advance:{then}:{now}")
        touched = added = 0
        for account_id, tables in self.tables.items():
            for kind, share in TOUCH_PER_DAY.items():
                rows = tables[kind]
                for row in self.rng.sample(
                    rows, min(len(rows), _count(self.rng, len(rows) * share * days))
                ):
                    self._touch(kind, row, then)
                    touched += 1
            for _ in range(_count(self.rng, NEW_CAMPAIGNS_PER_DAY * days)):
                self._campaign(account_id, then)
                added += 1
        for _ in range(_count(self.rng, NEW_PINS_PER_DAY * days)):
            self._pin(self.rng.choice(self.boards), self.rng.randint(then, now))
            added += 1
        for tables in self.tables.values():
            for kind in ENTITY_KINDS:
                for row in tables[kind]:
                    if row["status"] == "ACTIVE":
                        self._summarise(row)  # a campaign may start or end as the clock moves
        return {"v5_updated": touched, "v5_added": added}

    def _touch(self, kind: str, row: Row, since: int) -> None:
        row[updated_field(kind)] = self.rng.randint(since + 1, self.now)
        if kind in ENTITY_KINDS and row["status"] in ("ACTIVE", "PAUSED"):
            row["status"] = "PAUSED" if row["status"] == "ACTIVE" else "ACTIVE"
            self._summarise(row)
