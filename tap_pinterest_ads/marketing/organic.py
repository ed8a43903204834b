"""Organic content of the token's user: boards, their sections, and the pins of both. Full
table: neither boards nor pins carry an update time."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tap_pinterest_ads.marketing.client import V5Stream

if TYPE_CHECKING:
    from collections.abc import Iterable

    import requests
    from singer_sdk.helpers.types import Context


class OrganicStream(V5Stream):
    state_partitioning_keys: list[str] = []  # no bookmark, so no state per board

    @property
    def partitions(self) -> list[dict[str, Any]] | None:
        return None


class BoardsStream(OrganicStream):
    name = "boards"
    path = "/boards"

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, Any]]:
        # A whole page of boards is known before its first is emitted: the child streams read
        # ahead the boards the SDK will hand them next.
        rows = list(super().parse_response(response))
        self.family.boards += [str(row["id"]) for row in rows]
        yield from rows

    def read(self, context: Context | None) -> Iterable[dict[str, Any]]:
        self.family.boards.clear()
        self.family.sections.clear()
        return super().read(context)

    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        yield {"board_id": record["id"]}


class BoardChildStream(OrganicStream):
    def upcoming(self) -> list[dict[str, Any]]:
        return [{"board_id": board} for board in self.family.boards]


class BoardSectionsStream(BoardChildStream):
    name = "board_sections"
    path = "/boards/{board_id}/sections"
    parent_stream_type = BoardsStream

    def read(self, context: Context | None) -> Iterable[dict[str, Any]]:
        assert context is not None
        sections = []
        for row in super().read(context):
            sections.append(str(row["id"]))
            yield row
        self.family.sections[str(context["board_id"])] = sections

    def post_process(
        self, row: dict[str, Any], context: Context | None = None
    ) -> dict[str, Any] | None:
        row.setdefault("board_id", (context or {}).get("board_id"))
        return row

    def generate_child_contexts(
        self, record: dict[str, Any], context: Context | None
    ) -> Iterable[Context | None]:
        yield {"board_id": record["board_id"], "section_id": record["id"]}


class BoardPinsStream(BoardChildStream):
    name = "board_pins"
    path = "/boards/{board_id}/pins"
    parent_stream_type = BoardsStream


class BoardSectionPinsStream(OrganicStream):
    name = "board_section_pins"
    path = "/boards/{board_id}/sections/{section_id}/pins"
    parent_stream_type = BoardSectionsStream

    def upcoming(self) -> list[dict[str, Any]]:
        # Board by board, as far as every board's sections are read: the SDK's order.
        known = []
        for board in self.family.boards:
            if board not in self.family.sections:
                break
            known += [{"board_id": board, "section_id": s} for s in self.family.sections[board]]
        return known
