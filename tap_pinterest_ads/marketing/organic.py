"""Organic content of the token's user: boards, their sections, and the pins of both. Full
table: neither boards nor pins carry an update time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tap_pinterest_ads.marketing.client import V5Stream

if TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context


class OrganicStream(V5Stream):
    state_partitioning_keys: list[str] = []  # no bookmark, so no state per board

    @property
    def partitions(self) -> list[dict[str, Any]] | None:
        return None


class BoardsStream(OrganicStream):
    name = "boards"
    path = "/boards"

    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        yield {"board_id": record["id"]}


class BoardSectionsStream(OrganicStream):
    name = "board_sections"
    path = "/boards/{board_id}/sections"
    parent_stream_type = BoardsStream

    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        row.setdefault("board_id", (context or {}).get("board_id"))
        return row

    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        yield {"board_id": record["board_id"], "section_id": record["id"]}


class BoardPinsStream(OrganicStream):
    name = "board_pins"
    path = "/boards/{board_id}/pins"
    parent_stream_type = BoardsStream


class BoardSectionPinsStream(OrganicStream):
    name = "board_section_pins"
    path = "/boards/{board_id}/sections/{section_id}/pins"
    parent_stream_type = BoardSectionsStream
