"""Builders of the v5 objects that hang off an ad account or the token user, other than the
campaign tree: each returns a row exactly as the API serves it."""

from __future__ import annotations

import random
from datetime import datetime, timezone
from typing import Any

Row = dict[str, Any]

ID_BASE = {
    "ad_account": 549_755_885_175,
    "campaign": 626_744_128_982,
    "ad_group": 2_680_060_704_746,
    "ad": 687_195_134_316,
    "pin": 813_744_226_420_795_884,
    "audience": 2_542_620_905_473,
    "customer_list": 2_542_620_900_000,
    "keyword": 2_886_364_308_355,
    "conversion_tag": 2_614_258_434_216,
    "catalog": 2_680_059_592_705,
    "feed": 2_680_059_592_800,
    "product_group": 4_432_120_011_010,
    "board": 549_755_885_175_000,
    "section": 5_027_630_990_032,
}
YEAR = 365 * 86400
DAY = 86400
WORDS = ("Spring", "Holiday", "Evergreen", "Launch", "Retarget", "Prospecting", "Catalog", "Brand")
TOPICS = ("Home Decor", "Recipes", "Outfits", "Garden", "Travel", "Skincare", "DIY", "Fitness")
USERNAME = "sandbox_user"


def iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Maker:
    """Seeded id and time source plus the leaf-object builders."""

    def __init__(self, seed: int, now: int) -> None:
        self.seed, self.now = seed, now
        self.rng = random.Random(f"v5:{seed}")
        self.next_id = dict(ID_BASE)

    def _id(self, kind: str) -> str:
        self.next_id[kind] += self.rng.randint(1, 97)
        return str(self.next_id[kind])

    def _times(self, since: int) -> tuple[int, int]:
        created = self.rng.randint(since, self.now - 1)
        return created, self.rng.randint(created, self.now)

    def _words(self) -> str:
        return f"{self.rng.choice(WORDS)} {self.rng.choice(TOPICS)}"

    def keyword(self, parent_id: str, parent_type: str) -> Row:
        return {
            "id": self._id("keyword"),
            "archived": False,  # archiving deletes a keyword: the API lists none archived
            "parent_id": parent_id,
            "parent_type": parent_type,
            "type": "keyword",
            "bid": None,
            "match_type": self.rng.choice(("BROAD", "PHRASE", "EXACT", "EXACT_NEGATIVE")),
            "value": self._words().lower(),
        }

    def audience(self, account_id: str, since: int, sources: dict[str, str]) -> Row:
        created, updated = self._times(since)
        kind = self.rng.choice(("CUSTOMER_LIST", "VISITOR", "ENGAGEMENT", "ACTALIKE"))
        rules: dict[str, dict[str, Any]] = {
            "CUSTOMER_LIST": {"customer_list_id": sources["customer_list"]},
            "VISITOR": {
                "visitor_source_id": sources["conversion_tag"],
                "retention_days": self.rng.choice((30, 60, 180)),
                "event": "checkout",
            },
            "ENGAGEMENT": {"engager_type": 1, "engagement_domain": ["shop.example.com"]},
            "ACTALIKE": {"seed_id": [sources["customer_list"]], "country": "US", "percentage": 5},
        }
        rule = rules[kind]
        size = self.rng.choice((None, 900, 12_000, 250_000, 4_100_000))
        return {
            "id": self._id("audience"),
            "ad_account_id": account_id,
            "name": f"{self._words()} {kind.lower()}",
            "audience_type": kind,
            "description": None if self.rng.random() < 0.4 else "Built by the sandbox",
            "rule": rule,
            "size": size,
            "status": "READY"
            if size and size >= 1000
            else self.rng.choice(("TOO_SMALL", "INITIALIZING")),
            "type": "audience",
            "created_timestamp": created,
            "updated_timestamp": updated,
            "created_by_company_name": None,
        }

    def customer_list(self, account_id: str) -> Row:
        created, updated = self._times(self.now - YEAR)
        uploaded = self.rng.randint(0, 50_000)
        return {
            "id": self._id("customer_list"),
            "ad_account_id": account_id,
            "name": f"{self._words()} customers",
            "status": self.rng.choice(("PROCESSING", "READY", "TOO_SMALL", "UPLOADING")),
            "num_batches": self.rng.randint(1, 12),
            "num_uploaded_user_records": uploaded,
            "num_removed_user_records": self.rng.randint(0, uploaded // 10),
            "exceptions": {},
            "created_time": created,
            "updated_time": updated,
            "type": "customerlist",
        }

    def conversion_tag(self, account_id: str) -> Row:
        tag_id = self._id("conversion_tag")
        fired = self.rng.randint(self.now - 30 * DAY, self.now) * 1000
        return {
            "ad_account_id": account_id,
            "id": tag_id,
            "name": f"{self._words()} tag",
            "status": self.rng.choices(("ACTIVE", "PAUSED", "ARCHIVED"), (70, 15, 15))[0],
            "code_snippet": f"<script>pintrk('load', '{tag_id}');</script>",
            "enhanced_match_status": self.rng.choice(("NOT_VALIDATED", "VALIDATION_COMPLETE")),
            "last_fired_time_ms": fired if self.rng.random() < 0.8 else None,
            "version": "3",
            "configs": {"aem_enabled": self.rng.random() < 0.5, "md_frequency": 1},
        }

    def catalog(self, catalog_type: str) -> Row:
        created, updated = self._times(self.now - 2 * YEAR)
        return {
            "id": self._id("catalog"),
            "name": f"{self._words()} catalog",
            "catalog_type": catalog_type,
            "created_at": iso(created),
            "updated_at": iso(updated),
        }

    def feed(self, catalog: Row, number: int) -> Row:
        """A feed of the catalog's type, with the fields the spec gives that type."""
        created, updated = self._times(self.now - YEAR)
        secured = self.rng.random() < 0.7
        feed = {
            "id": self._id("feed"),
            "name": f"{catalog['name']} feed {number}",
            "catalog_type": catalog["catalog_type"],
            "format": self.rng.choice(("TSV", "CSV", "XML")),
            "location": f"https://feeds.example.com/{catalog['id']}/{number}.csv",
            "status": self.rng.choice(("ACTIVE", "ACTIVE", "INACTIVE")),
            # The real API returns the feed's download login; a tap must not keep it.
            "credentials": (
                {"username": f"feeduser{number}", "password": f"feed-secret-{catalog['id']}"}
                if secured
                else None
            ),
            "default_availability": "IN_STOCK",
            "default_country": "US",
            "default_currency": "USD",
            "default_locale": "en-US",
            "preferred_processing_schedule": (
                {"time": "02:00", "timezone": "America/New_York"} if secured else None
            ),
            "created_at": iso(created),
            "updated_at": iso(updated),
        }
        if catalog["catalog_type"] == "HOTEL":  # no country or availability; names its catalog
            del feed["default_availability"], feed["default_country"]
            feed["catalog_id"] = catalog["id"]
        return feed

    def product_group(self, catalog: Row, feed: Row) -> Row:
        created, updated = self._times(self.now - YEAR)
        skus = [f"sku-{self.rng.randint(1000, 9999)}" for _ in range(self.rng.randint(1, 4))]
        if catalog["catalog_type"] == "HOTEL":  # the spec's hotel groups: no feed, status, locale
            return {
                "id": self._id("product_group"),
                "name": f"{self._words()} stays",
                "description": None,
                "filters": {"any_of": [{"HOTEL_ID": {"values": skus, "negated": False}}]},
                "catalog_id": catalog["id"],
                "catalog_type": "HOTEL",
                "type": "MERCHANT_CREATED",
                "created_at": created,
                "updated_at": updated,
            }
        return {
            "id": self._id("product_group"),
            "name": f"{self._words()} group",
            "description": None,
            "filters": {"any_of": [{"ITEM_ID": {"values": skus, "negated": False}}]},
            "feed_id": feed["id"],
            "catalog_id": catalog["id"],
            "catalog_type": "RETAIL",
            "status": self.rng.choice(("ACTIVE", "INACTIVE")),
            "is_featured": False,
            "type": "MERCHANT_CREATED",
            "country": "US",
            "locale": "en-US",
            "created_at": created,  # seconds here; served per the product_group_time quirk
            "updated_at": updated,
        }

    def board(self, number: int) -> Row:
        created, updated = self._times(self.now - 3 * YEAR)
        return {
            "id": self._id("board"),
            "name": f"{self.rng.choice(TOPICS)} ideas {number}",
            "description": None if number % 3 == 0 else "Saved by the sandbox",
            "owner": {"username": USERNAME},
            "privacy": self.rng.choices(("PUBLIC", "SECRET", "PROTECTED"), (70, 20, 10))[0],
            "pin_count": 0,
            "follower_count": self.rng.randint(0, 5000),
            "collaborator_count": self.rng.randint(0, 3),
            "created_at": iso(created),
            "board_pins_modified_at": iso(updated),
            "media": {"image_cover_url": None, "pin_thumbnail_urls": []},
            "is_ads_only": False,
        }

    def section(self, board: Row, number: int) -> Row:
        return {"id": self._id("section"), "name": f"{board['name']} part {number}"}

    def pin(self, board: Row, section_id: str | None, created: int) -> Row:
        pin_id = self._id("pin")
        image = f"https://i.pinimg.example.com/{pin_id}.jpg"
        return {
            "id": pin_id,
            "created_at": iso(created),
            "link": f"https://shop.example.com/idea/{pin_id[-6:]}",
            "title": self._words(),
            "description": "A sandbox pin",
            "dominant_color": "#6E7874",
            "alt_text": None,
            "board_id": board["id"],
            "board_section_id": section_id,
            "board_owner": {"username": USERNAME},
            "media": {
                "media_type": "image",
                "images": {"600x": {"width": 600, "height": 900, "url": image}},
            },
            "parent_pin_id": None,
            "is_owner": True,
            "is_standard": True,
            "has_been_promoted": self.rng.random() < 0.2,
            "creative_type": "REGULAR",
            "pin_metrics": None,
        }

    def user(self, boards: int, pins: int) -> Row:
        return {
            "account_type": "BUSINESS",
            "id": str(ID_BASE["ad_account"] * 10),
            "username": USERNAME,
            "business_name": "Sandbox Shop",
            "profile_image": "https://i.pinimg.example.com/avatar.jpg",
            "website_url": "https://shop.example.com",
            "about": "The token user of the sandbox",
            "board_count": boards,
            "pin_count": pins,
            "follower_count": 1234,
            "following_count": 56,
            "monthly_views": 78_900,
        }
