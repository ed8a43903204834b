"""Async reports (`POST /ad_accounts/{id}/reports`): the report streams named as in Airbyte's
source-pinterest, `custom_reports` from the config, and the runner the daily analytics streams
also use for days older than the sync endpoints keep.

Several jobs of a stream run at once, each polled with backoff; a finished file is downloaded
at once (its link lives five minutes) without the bearer header (the link is pre-signed: the
token must not leave for the storage host) and parsed as it streams in, a row at a time.
"""

from __future__ import annotations

import codecs
import datetime as dt
import json
import time
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests
from singer_sdk.exceptions import FatalAPIError

from tap_pinterest_ads.marketing.columns import enums
from tap_pinterest_ads.marketing.metrics import AnalyticsStream, record_schema
from tap_pinterest_ads.marketing.settings import Attribution, CustomReport

if TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_pinterest_ads.marketing.client import V5Family
    from tap_pinterest_ads.marketing.metrics import AnalyticsShared

REPORT_DAYS_BACK = 913  # the API keeps 914 days for reports; a day of slack for clock skew
REPORT_WINDOW_DAYS = 185  # "the time range … must be less than 186 days"
PRODUCT_ITEM_DAYS_BACK = 91
PRODUCT_ITEM_WINDOW_DAYS = 31
POLL_FIRST_SECONDS = 0.5
POLL_MAX_SECONDS = 30.0
JOB_DEADLINE_SECONDS = 3600.0  # a report still running after an hour is not coming
JOB_ATTEMPTS = 3  # creations of one report before its failures end the run
DOWNLOAD_TRIES = 3
DOWNLOAD_CHUNK = 1 << 16
FAILED = ("FAILED", "EXPIRED", "CANCELLED", "DOES_NOT_EXIST")
# The id each level's rows are keyed by in the file ({id: [rows]}), as a column name.
LEVEL_IDS = {
    "ADVERTISER": "ADVERTISER_ID",
    "CAMPAIGN": "CAMPAIGN_ID",
    "AD_GROUP": "AD_GROUP_ID",
    "PIN_PROMOTION": "PIN_PROMOTION_ID",
    "KEYWORD": "KEYWORD_ID",
    "PRODUCT_GROUP": "PRODUCT_GROUP_ID",
    "PRODUCT_ITEM": "PRODUCT_ITEM_ID",
}
TARGETING_FIELDS = ("TARGETING_TYPE", "TARGETING_VALUE")


class ReportFailedError(FatalAPIError):
    """A report job kept failing, never finished, or its file could not be read."""


def async_columns(columns: Iterable[str]) -> tuple[str, ...]:
    """The columns reports can give (all sync columns but a sync-only one or two)."""
    allowed = set(enums()["async_columns"])
    return tuple(c for c in columns if c in allowed)


def level_id(level: str) -> str:
    return LEVEL_IDS[level.removesuffix("_TARGETING")]


def report_keys(level: str) -> tuple[str, ...]:
    targeting = TARGETING_FIELDS if level.endswith("_TARGETING") else ()
    return ("AD_ACCOUNT_ID", level_id(level), "DATE", *targeting)


def level_limits(level: str) -> tuple[int, int]:
    """Days back the API keeps reports of this level, and days per report."""
    if level.startswith("PRODUCT_ITEM"):
        return PRODUCT_ITEM_DAYS_BACK, PRODUCT_ITEM_WINDOW_DAYS
    return REPORT_DAYS_BACK, REPORT_WINDOW_DAYS


def period_start(day: dt.date, granularity: str) -> dt.date:
    if granularity == "MONTH":
        return day.replace(day=1)
    if granularity == "WEEK":
        return day - dt.timedelta(days=day.weekday())
    return day


def next_period(day: dt.date, granularity: str) -> dt.date:
    """The first day of the period after the one `day` starts."""
    if granularity == "MONTH":
        return (day + dt.timedelta(days=32)).replace(day=1)
    return day + dt.timedelta(days=7 if granularity == "WEEK" else 1)


def report_windows(
    start: dt.date, end: dt.date, days: int, granularity: str
) -> Iterator[tuple[dt.date, dt.date]]:
    """Windows of at most `days` days that never split a week or month: a period cut in two
    would come back as two partial rows with the same key."""
    first = start
    while first <= end:
        last = min(first + dt.timedelta(days=days - 1), end)
        if last < end:
            boundary = period_start(last + dt.timedelta(days=1), granularity)
            last = boundary - dt.timedelta(days=1) if boundary > first else last
        yield first, last
        first = last + dt.timedelta(days=1)


@dataclass(frozen=True)
class ReportSpec:
    level: str
    start: dt.date
    end: dt.date
    granularity: str
    columns: tuple[str, ...]
    targeting_types: tuple[str, ...]
    attribution: Attribution

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "start_date": self.start.isoformat(),
            "end_date": self.end.isoformat(),
            "granularity": self.granularity,
            "level": self.level,
            "columns": list(self.columns),
            "report_format": "JSON",  # CSV zero-fills: a missing metric must stay null
            **self.attribution.query(),
        }
        if self.targeting_types:
            body["targeting_types"] = list(self.targeting_types)
        return body

    def describe(self, account: str) -> str:
        return f"the {self.level} report of ad account {account} for {self.start}..{self.end}"


class _JsonReader:
    """JSON values read one at a time off a byte stream; only the unread part is kept."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = iter(chunks)
        self.utf8 = codecs.getincrementaldecoder("utf-8")()
        self.decoder = json.JSONDecoder()
        self.text = ""
        self.pos = 0

    def _more(self) -> bool:
        chunk = next(self.chunks, None)
        added = self.utf8.decode(chunk or b"", final=chunk is None)
        self.text = self.text[self.pos :] + added
        self.pos = 0
        return chunk is not None

    def peek(self) -> str:
        """The next character that is not blank ("" at the end)."""
        while True:
            stripped = len(self.text) - len(self.text[self.pos :].lstrip())
            self.pos = stripped if stripped > self.pos else self.pos
            if self.pos < len(self.text):
                return self.text[self.pos]
            if not self._more():
                return ""

    def take(self, char: str) -> None:
        found = self.peek()
        if found != char:
            raise ValueError(f"expected {char!r} in the report file, found {found!r}")
        self.pos += 1

    def skip(self, char: str) -> bool:
        if self.peek() == char:
            self.pos += 1
            return True
        return False

    def value(self) -> Any:
        self.peek()
        while True:
            try:
                value, self.pos = self.decoder.raw_decode(self.text, self.pos)
            except json.JSONDecodeError:
                if not self._more():
                    raise
                continue
            return value


def report_rows(chunks: Iterable[bytes]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(entity id, row) from a JSON report file `{"<id>": [row, …], …}`, as it streams in."""
    reader = _JsonReader(chunks)
    if reader.peek() == "":
        return  # an empty file: no rows
    reader.take("{")
    while not reader.skip("}"):
        key = reader.value()
        reader.take(":")
        reader.take("[")
        while not reader.skip("]"):
            yield str(key), reader.value()
            reader.skip(",")
        reader.skip(",")


@dataclass
class _Job:
    spec: ReportSpec
    attempts: int = 0
    token: str = ""
    started: float = 0.0
    due: float = 0.0
    wait: float = POLL_FIRST_SECONDS
    failures: list[str] = field(default_factory=list)


class ReportRunner:
    """Runs the reports of one ad account for one stream, `reports_in_flight` at a time."""

    def __init__(self, stream: AnalyticsStream, context: Context) -> None:
        self.stream = stream
        self.context = context
        self.account = str(context["ad_account_id"])
        self.path = f"/ad_accounts/{self.account}/reports"
        # A plain session: no authenticator, no hooks. The link is pre-signed, and the bearer
        # token must never reach the storage host.
        self.files = requests.Session()

    def rows(self, specs: Iterable[ReportSpec]) -> Iterator[tuple[str, dict[str, Any]]]:
        pending = deque(_Job(spec) for spec in specs)
        running: list[_Job] = []
        limit = self.stream.shared.settings.reports_in_flight
        try:
            while pending or running:
                while pending and len(running) < limit:
                    running.append(self.create(pending.popleft()))
                job = min(running, key=lambda j: j.due)
                time.sleep(max(0.0, job.due - time.monotonic()))
                url = self.poll(job)
                if url is not None:
                    running.remove(job)
                    yield from self.download(job, url)
        finally:
            self.files.close()

    def create(self, job: _Job) -> _Job:
        if job.attempts >= JOB_ATTEMPTS:
            raise ReportFailedError(
                f"{self.stream.name}: {job.spec.describe(self.account)} failed "
                f"{job.attempts} times ({'; '.join(job.failures)}). Pinterest could not build "
                "it: rerun later; if it keeps failing, ask for fewer days (`start_date`) or "
                "columns."
            )
        if job.failures:
            self.stream.logger.warning(
                "%s: %s: %s; asking again (%d of %d)",
                self.stream.name,
                job.spec.describe(self.account),
                job.failures[-1],
                job.attempts + 1,
                JOB_ATTEMPTS,
            )
        job.attempts += 1
        answer = self.stream.send(self.context, "POST", self.path, body=job.spec.body())
        job.token = str(answer.get("token") or "")
        job.started = time.monotonic()
        job.wait = POLL_FIRST_SECONDS
        job.due = job.started + job.wait
        return job

    def poll(self, job: _Job) -> str | None:
        """The file's link once the job is FINISHED; None while it runs (or was re-created)."""
        answer = self.stream.call(self.context, self.path, {"token": job.token}) or {}
        status = str(answer.get("report_status"))
        if status == "FINISHED" and answer.get("url"):
            return str(answer["url"])
        now = time.monotonic()
        if status in FAILED or not job.token:
            message = answer.get("message")
            job.failures.append(f"{status}" + (f": {message}" if message else ""))
            self.create(job)
            return None
        if now - job.started > JOB_DEADLINE_SECONDS:
            raise ReportFailedError(
                f"{self.stream.name}: {job.spec.describe(self.account)} was still {status} "
                f"after {JOB_DEADLINE_SECONDS / 60:.0f} minutes. Rerun later."
            )
        job.due = now + job.wait
        job.wait = min(job.wait * 2, POLL_MAX_SECONDS)
        return None

    def download(self, job: _Job, url: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The file's rows; a broken or expired download resumes past the rows already given."""
        given = 0
        for attempt in range(1, DOWNLOAD_TRIES + 1):
            try:
                with self.files.get(url, stream=True, timeout=self.stream.timeout) as response:
                    response.raise_for_status()
                    chunks = response.iter_content(DOWNLOAD_CHUNK)
                    for index, row in enumerate(report_rows(chunks)):
                        if index >= given:
                            given += 1
                            yield row
                return
            except (requests.RequestException, ValueError) as error:
                # Not the URL itself in messages: its query string is a signature.
                host = urlsplit(url).hostname
                problem = f"downloading {job.spec.describe(self.account)} from {host}: {error}"
                if attempt == DOWNLOAD_TRIES:
                    raise ReportFailedError(
                        f"{self.stream.name}: {problem} ({attempt} tries). Rerun later."
                    ) from None
                self.stream.logger.warning("%s: %s; trying again", self.stream.name, problem)
                time.sleep(attempt)
                url = self.fresh_url(job) or url  # links live five minutes: ask for a new one

    def fresh_url(self, job: _Job) -> str | None:
        answer = self.stream.call(self.context, self.path, {"token": job.token}) or {}
        return str(answer["url"]) if answer.get("url") else None


class ReportStream(AnalyticsStream):
    """One report level, daily rows keyed by ad account, entity id, DATE (and breakdown)."""

    path = "/ad_accounts/{ad_account_id}/reports"
    level: str
    granularity = "DAY"
    # Each costs report jobs per ad account and run: chosen, not on by default (custom
    # reports, which the user asked for by name, are).
    selected_by_default = False

    @property
    def id_column(self) -> str:
        return level_id(self.level)

    @property
    def key_fields(self) -> tuple[str, ...]:  # type: ignore[override]
        return report_keys(self.level)

    @property
    def report_columns(self) -> tuple[str, ...]:
        return async_columns(self.columns)

    @property
    def targeting_types(self) -> tuple[str, ...]:
        return self.shared.settings.targeting_types if self.level.endswith("_TARGETING") else ()

    @property
    def attribution(self) -> Attribution:
        return self.shared.settings.attribution

    def read(self, context: Context | None) -> Iterable[dict[str, Any]]:
        assert context is not None
        account = str(context["ad_account_id"])
        days_back, days = level_limits(self.level)
        start, end = self.span(context, days_back)
        aligned = period_start(start, self.granularity)  # whole periods: the lookback's too
        if aligned < start and aligned < end - dt.timedelta(days=days_back):
            aligned = next_period(aligned, self.granularity)  # begun before the API's reach
        start = aligned
        specs = [
            ReportSpec(
                self.level,
                first,
                last,
                self.granularity,
                self.report_columns,
                self.targeting_types,
                self.attribution,
            )
            for first, last in report_windows(start, end, days, self.granularity)
        ]
        for key, row in ReportRunner(self, context).rows(specs):
            if self.targeting_types:  # some files name the breakdown in lower case
                row = {(k.upper() if k.startswith("targeting_") else k): v for k, v in row.items()}
            yield self.shape({self.id_column: key, **row}, account)


# Airbyte's names, so a team moving from source-pinterest finds the same tables.
REPORT_LEVELS = (
    ("advertiser_report", "ADVERTISER"),
    ("campaign_analytics_report", "CAMPAIGN"),
    ("ad_group_report", "AD_GROUP"),
    ("pin_promotion_report", "PIN_PROMOTION"),
    ("product_group_report", "PRODUCT_GROUP"),
    ("product_item_report", "PRODUCT_ITEM"),
    ("keyword_report", "KEYWORD"),
    ("advertiser_targeting_report", "ADVERTISER_TARGETING"),
    ("campaign_targeting_report", "CAMPAIGN_TARGETING"),
    ("ad_group_targeting_report", "AD_GROUP_TARGETING"),
    ("pin_promotion_targeting_report", "PIN_PROMOTION_TARGETING"),
    ("product_group_targeting_report", "PRODUCT_GROUP_TARGETING"),
)
REPORT_STREAMS: tuple[type[ReportStream], ...] = tuple(
    type(f"Report_{name}", (ReportStream,), {"name": name, "level": level})
    for name, level in REPORT_LEVELS
)


class CustomReportStream(ReportStream):
    """One entry of `custom_reports`: its level, granularity, columns, breakdowns and
    attribution, its own stream `custom_<name>` with a key."""

    def __init__(
        self, tap: Tap, *, family: V5Family, shared: AnalyticsShared, report: CustomReport
    ) -> None:
        self.name = report.stream
        self.report = report
        self.level = report.level
        self.granularity = report.granularity
        self.selected_by_default = True
        keys = self.key_fields
        super().__init__(
            tap,
            family=family,
            shared=shared,
            schema=record_schema(keys, self.extras, report.columns),
        )

    @property
    def columns(self) -> tuple[str, ...]:
        return self.report.columns

    @property
    def targeting_types(self) -> tuple[str, ...]:
        return self.report.targeting_types

    @property
    def attribution(self) -> Attribution:
        return self.report.attribution

    def first_day(self) -> dt.date | None:
        return self.report.start_date or super().first_day()


def report_schemas(columns: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The schema file of each built-in report stream: every sync column (what
    `analytics_columns` may name); a run narrows it to the configured ones."""
    return {
        name: record_schema(report_keys(level), ReportStream.extras, async_columns(columns))
        for name, level in REPORT_LEVELS
    }
