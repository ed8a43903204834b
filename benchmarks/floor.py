"""The floor: the fewest moving parts that make the tap's requests and write its records.

    python -m benchmarks.floor ad-library --api-url URL --api-key KEY [--search all]
    python -m benchmarks.floor v5 --api-url URL/v5 --client-id ID --client-secret S \
        --refresh-token T [--streams campaigns,ads,...]

`ad-library` is the tap's `pinterest_ads` full sync of one unfiltered search (pages of 50 sorted
by `datefound`, newest first, following `scroll`) with its `pinterest_ad_search_matches` rows;
`v5` is a full sync of the v5 entity streams (pages of 250 following `bookmark`; every entity
status; keywords per ad account and per 250 ad groups). One `requests.Session`, msgspec for JSON,
Singer messages on stdout: a SCHEMA per stream, the RECORDs, one STATE at the end. No retries,
pacing or checks: it is what the tap's work costs without the tap, on a well-behaved sandbox.
`benchmarks/vs_floor.py` checks that both make the same requests and write the same records.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import requests

Row = dict[str, Any]
SCHEMAS = Path(__file__).resolve().parent.parent / "schemas"
UTC = dt.timezone.utc
ENTITY_STATUSES = ["ACTIVE", "PAUSED", "ARCHIVED", "DRAFT", "DELETED_DRAFT"]
V5_PAGE_SIZE = 250
# stream -> (path, parameters, replication key); {ad_account_id} streams run per ad account.
# Ad groups first, as the tap: a 403 that skips an account then comes from the same request.
ACCOUNT_LISTS: dict[str, tuple[str, dict[str, Any], str | None]] = {
    "ad_groups": (
        "/ad_accounts/{ad_account_id}/ad_groups",
        {"entity_statuses": ENTITY_STATUSES},
        "updated_time",
    ),
    "campaigns": (
        "/ad_accounts/{ad_account_id}/campaigns",
        {"entity_statuses": ENTITY_STATUSES},
        "updated_time",
    ),
    "ads": (
        "/ad_accounts/{ad_account_id}/ads",
        {"entity_statuses": ENTITY_STATUSES},
        "updated_time",
    ),
    "audiences": ("/ad_accounts/{ad_account_id}/audiences", {}, "updated_timestamp"),
    "customer_lists": ("/ad_accounts/{ad_account_id}/customer_lists", {}, "updated_time"),
    "conversion_tags": ("/ad_accounts/{ad_account_id}/conversion_tags", {}, None),
    "catalogs": ("/catalogs", {}, None),
    "catalogs_feeds": ("/catalogs/feeds", {}, None),
    "catalogs_product_groups": ("/catalogs/product_groups", {}, None),
}
ORGANIC = ("boards", "board_sections", "board_pins", "board_section_pins")
V5_STREAMS = ("ad_accounts", *ACCOUNT_LISTS, "keywords", *ORGANIC)


class Writer:
    """Singer messages to stdout, encoded by msgspec."""

    def __init__(self) -> None:
        self.encoder = msgspec.json.Encoder()
        self.out = sys.stdout.buffer
        self.properties: dict[str, frozenset[str]] = {}

    def schema(self, stream: str, keys: list[str], replication_key: str | None = None) -> None:
        schema = msgspec.json.decode((SCHEMAS / f"{stream}.json").read_bytes())
        self.properties[stream] = frozenset(schema["properties"])
        message: Row = {
            "type": "SCHEMA",
            "stream": stream,
            "schema": schema,
            "key_properties": keys,
        }
        if replication_key:
            message["bookmark_properties"] = [replication_key]
        self.write(message)

    def records(self, stream: str, rows: list[Row]) -> None:
        now = dt.datetime.now(UTC).isoformat().replace("+00:00", "Z")
        for row in rows:
            self.write({"type": "RECORD", "stream": stream, "record": row, "time_extracted": now})

    def write(self, message: Row) -> None:
        self.out.write(self.encoder.encode(message) + b"\n")


# --- the ad library ---------------------------------------------------------------------------


def instant(value: Any) -> str | None:
    """The tap's one date-time form (second precision, explicit UTC); None when unreadable."""
    if value is None:
        return None
    text = str(value)
    try:
        if text.isdigit() and len(text) != 8:  # epoch seconds, or milliseconds
            seconds = int(text)
            parsed = dt.datetime.fromtimestamp(seconds / (1000 if seconds > 10**11 else 1), UTC)
        else:
            parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    parsed = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    return parsed.replace(microsecond=0).isoformat()


def day(value: Any) -> str | None:
    found = instant(value)
    return found[:10] if found else None


def ad_library(args: argparse.Namespace) -> None:
    writer = Writer()
    writer.schema("pinterest_ads", ["id"], "datefound")
    writer.schema("pinterest_ad_search_matches", ["search_name", "id"])
    known = writer.properties["pinterest_ads"]
    schema = msgspec.json.decode((SCHEMAS / "pinterest_ads.json").read_bytes())["properties"]
    formats = {name: spec.get("format") for name, spec in schema.items()}
    convert: dict[str | None, Callable[[Any], Any]] = {"date-time": instant, "date": day}
    run_started = dt.datetime.now(UTC).replace(microsecond=0).isoformat()

    def shape(row: Row) -> Row:
        record = {
            key: convert[formats[key]](value) if formats[key] in convert else value
            for key, value in row.items()
            if key in known and key not in ("id", "datefound", "extra_fields")
        }
        record["id"] = str(row["id"]).strip()
        record["datefound"] = instant(row.get("datefound"))
        record["extra_fields"] = {k: v for k, v in row.items() if k not in known} or None
        raw = row.get("datefound")
        record["datefound_raw"] = None if raw is None else str(raw)
        record["search_name"] = args.search
        return record

    session = requests.Session()
    session.headers["X-API-Key"] = args.api_key
    params: Row = {"sorting": "datefound", "sortdirection": "desc", "limit": args.page_size}
    newest: str | None = None
    scroll = None
    while True:
        response = session.get(
            f"{args.api_url}/api/v1/pinterest-ads",
            params={**params, "scroll": scroll} if scroll else params,
            timeout=60,
        )
        response.raise_for_status()
        body = msgspec.json.decode(response.content)
        records = [shape(row) for row in body.get("data") or ()]
        writer.records("pinterest_ads", records)
        matches = [
            {
                "search_name": args.search,
                "id": r["id"],
                "datefound": r["datefound"],
                "last_matched_at": run_started,
            }
            for r in records
        ]
        writer.records("pinterest_ad_search_matches", matches)
        newest = max([newest or "", *(r["datefound"] or "" for r in records)]) or None
        scroll = body.get("scroll")
        if not records or not scroll:
            break
    partition = {"context": {"search_name": args.search}, "replication_key": "datefound"}
    writer.write(
        {
            "type": "STATE",
            "value": {
                "bookmarks": {
                    "pinterest_ads": {
                        "partitions": [{**partition, "replication_key_value": newest}]
                    }
                }
            },
        }
    )


# --- the v5 entities -------------------------------------------------------------------------


class ForbiddenError(Exception):
    """403 for an ad account: the tap skips the account for the rest of the run."""


class V5:
    def __init__(self, args: argparse.Namespace) -> None:
        self.url = args.api_url.rstrip("/")
        self.session = requests.Session()
        token = self.session.post(
            f"{self.url}/oauth/token",
            auth=(args.client_id, args.client_secret),
            data={
                "grant_type": "refresh_token",
                "refresh_token": args.refresh_token,
                "continuous_refresh": "true",
            },
            timeout=60,
        )
        token.raise_for_status()
        self.session.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def pages(self, path: str, params: Row) -> Iterator[list[Row]]:
        """Each page of a list; a 409 (no catalog) is an empty list."""
        bookmark = None
        while True:
            query = {"page_size": V5_PAGE_SIZE, **params}
            if bookmark:
                query["bookmark"] = bookmark
            response = self.session.get(f"{self.url}{path}", params=query, timeout=60)
            if response.status_code == 409:
                return
            if response.status_code == 403:
                raise ForbiddenError(path)
            response.raise_for_status()
            body = msgspec.json.decode(response.content)
            yield body["items"]
            bookmark = body.get("bookmark")
            if not bookmark:
                return


def v5(args: argparse.Namespace) -> None:
    streams = [s for s in V5_STREAMS if s in set(args.streams.split(","))]
    api = V5(args)
    writer = Writer()
    keys = {"ad_accounts": None, **{name: spec[2] for name, spec in ACCOUNT_LISTS.items()}}
    for stream in streams:
        writer.schema(stream, ["id"], keys.get(stream))

    def emit(stream: str, rows: list[Row], **extra: Any) -> None:
        if stream in streams:
            known = writer.properties[stream]
            shaped = [{k: v for k, v in (row | extra).items() if k in known} for row in rows]
            writer.records(stream, shaped)

    bookmarks: dict[str, list[Row]] = {}
    accounts = [row for page in api.pages("/ad_accounts", {}) for row in page]
    emit("ad_accounts", accounts)

    def sync_account(account: str) -> None:
        ad_groups: list[str] = []
        for stream, (path, params, replication_key) in ACCOUNT_LISTS.items():
            if stream not in streams and not (stream == "ad_groups" and "keywords" in streams):
                continue
            query = params if path.startswith("/ad_accounts") else {"ad_account_id": account}
            newest = None
            for rows in api.pages(path.format(ad_account_id=account), query):
                if stream == "catalogs_feeds":
                    rows = [{k: v for k, v in r.items() if k != "credentials"} for r in rows]
                if stream == "ad_groups":
                    ad_groups += [str(r["id"]) for r in rows]
                if replication_key:
                    newest = max([newest or 0, *(r[replication_key] for r in rows)])
                emit(stream, rows, ad_account_id=account)
            if replication_key and stream in streams:
                bookmarks.setdefault(stream, []).append(
                    {
                        "context": {"ad_account_id": account},
                        "replication_key": replication_key,
                        "replication_key_value": newest,
                    }
                )
        if "keywords" in streams:
            path = f"/ad_accounts/{account}/keywords"
            batches = [ad_groups[i : i + 250] for i in range(0, len(ad_groups), 250)]
            for query in [{}, *({"ad_group_ids": batch} for batch in batches)]:
                for rows in api.pages(path, query):
                    emit("keywords", rows, ad_account_id=account)

    for account in (str(a["id"]) for a in accounts):
        try:
            sync_account(account)
        except ForbiddenError:
            continue
    if set(ORGANIC) & set(streams):
        for boards in api.pages("/boards", {}):
            emit("boards", boards)
            for board in (str(b["id"]) for b in boards):
                for sections in api.pages(f"/boards/{board}/sections", {}):
                    emit("board_sections", sections, board_id=board)
                    for section in (str(s["id"]) for s in sections):
                        path = f"/boards/{board}/sections/{section}/pins"
                        for pins in api.pages(path, {}):
                            emit("board_section_pins", pins)
                for pins in api.pages(f"/boards/{board}/pins", {}):
                    emit("board_pins", pins)
    value = {"bookmarks": {name: {"partitions": parts} for name, parts in bookmarks.items()}}
    writer.write({"type": "STATE", "value": value})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    families = parser.add_subparsers(dest="family", required=True)
    library = families.add_parser("ad-library")
    library.add_argument("--api-url", required=True)
    library.add_argument("--api-key", required=True)
    library.add_argument("--search", default="all")
    library.add_argument("--page-size", type=int, default=50)
    marketing = families.add_parser("v5")
    marketing.add_argument("--api-url", required=True)
    marketing.add_argument("--client-id", required=True)
    marketing.add_argument("--client-secret", required=True)
    marketing.add_argument("--refresh-token", required=True)
    marketing.add_argument("--streams", default=",".join(V5_STREAMS))
    args = parser.parse_args()
    (ad_library if args.family == "ad-library" else v5)(args)


if __name__ == "__main__":
    main()
