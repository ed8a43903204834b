"""Deterministic delivery metrics, computed on demand from a hash of (seed, ad id, day), never
stored: every ad has a daily vector of additive counts, and an ad group, campaign or ad account
is the exact sum of its ads, so aggregates agree at every level. Ratios and dollar amounts are
derived from the summed counts. Conversions are attributed to the day of the ad action and keep
arriving for up to their attribution window (30 days for clicks by default) as the sandbox clock
moves; with ``TIME_OF_CONVERSION`` they land on the day they happen instead, so a past day no
longer changes.

Delivery: an ad delivers every day from its campaign's start (or its own creation, if later) to
the campaign's end, or yesterday: the clock's own day is not reported yet. Drafts, deleted drafts
and ads whose review is not APPROVED never deliver; the current ACTIVE/PAUSED status does not
rewrite history (the sandbox keeps none)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone

from .assets import Row

MASK = (1 << 64) - 1
WINDOWS = (0, 1, 7, 14, 30, 60)
# Conversions a window attributes, relative to the default window of that action (click and
# engagement: 30 days; view: 1 day).
WINDOW_SHARE = {0: 0.0, 1: 0.45, 7: 0.75, 14: 0.88, 30: 1.0, 60: 1.08}
VIEW_SHARE = {0: 0.0, 1: 1.0, 7: 1.6, 14: 1.9, 30: 2.2, 60: 2.4}
WEEKDAY = (1.0, 1.02, 1.04, 1.0, 0.95, 1.12, 1.18)  # Monday first
CONVERTING = ("WEB_CONVERSION", "CATALOG_SALES", "CONSIDERATION")
SILENT_STATUSES = {"DRAFT", "DELETED_DRAFT"}

# The additive counts, in vector order. VIDEO and CONVERSION parts are zero for an ad without
# video or conversion tracking, and absent from every row of an entity that has none.
DELIVERY = (
    "IMPRESSION_1",
    "IMPRESSION_2",
    "CLICKTHROUGH_1",
    "CLICKTHROUGH_2",
    "OUTBOUND_CLICK_1",
    "OUTBOUND_CLICK_2",
    "REPIN_1",
    "REPIN_2",
    "ENGAGEMENT_1",
    "ENGAGEMENT_2",
    "SPEND_IN_MICRO_DOLLAR",
    "WEB_SESSIONS_1",
    "WEB_SESSIONS_2",
)
VIDEO = (
    "VIDEO_3SEC_VIEWS_1",
    "VIDEO_3SEC_VIEWS_2",
    "VIDEO_MRC_VIEWS_1",
    "VIDEO_MRC_VIEWS_2",
    "VIDEO_P25_COMBINED_1",
    "VIDEO_P25_COMBINED_2",
    "VIDEO_P50_COMBINED_1",
    "VIDEO_P50_COMBINED_2",
    "VIDEO_P75_COMBINED_1",
    "VIDEO_P75_COMBINED_2",
    "VIDEO_P95_COMBINED_1",
    "VIDEO_P95_COMBINED_2",
    "VIDEO_P100_COMPLETE_1",
    "VIDEO_P100_COMPLETE_2",
    "VIDEO_WATCH_SECONDS",  # internal: for the average watch time
)
ACTIONS = ("CLICK", "ENGAGEMENT", "VIEW")
EVENTS = ("CHECKOUT", "SIGNUP", "LEAD", "ADD_TO_CART", "PAGE_VISIT")
VALUED = ("CHECKOUT", "SIGNUP")  # the first two events; conversions() relies on that order
CONVERSION = tuple(
    name
    for action in ACTIONS
    for event in EVENTS
    for name in (
        f"TOTAL_{action}_{event}",
        *((f"TOTAL_{action}_{event}_VALUE_IN_MICRO_DOLLAR",) if event in VALUED else ()),
    )
)
FIELDS = (*DELIVERY, *VIDEO, *CONVERSION)
AT = {name: index for index, name in enumerate(FIELDS)}
VIDEO_SLICE = slice(len(DELIVERY), len(DELIVERY) + len(VIDEO))
CONVERSION_SLICE = slice(len(DELIVERY) + len(VIDEO), len(FIELDS))
WIDTH = len(FIELDS)

Vector = list[int]


def mix(value: int) -> int:
    """splitmix64's finaliser: a cheap, well-spread 64-bit hash."""
    value = (value + 0x9E3779B97F4A7C15) & MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK
    return value ^ (value >> 31)


def unit(value: int, part: int) -> float:
    """The `part`-th 16-bit slice of a hash as a number in [0, 1)."""
    return ((value >> (16 * part)) & 0xFFFF) / 65536.0


def day_of(timestamp: int) -> int:
    return datetime.fromtimestamp(timestamp, timezone.utc).date().toordinal()


def iso_day(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


@dataclass(frozen=True)
class Attribution:
    click: int = 30
    engagement: int = 30
    view: int = 1
    at_conversion: bool = False  # conversion_report_time=TIME_OF_CONVERSION

    @property
    def longest(self) -> int:
        return max(self.click, self.engagement, self.view)


def arrived(window: int, lag: int) -> float:
    """Share of a day's attributed conversions reported `lag` days after it (lag 0: by the end
    of the day itself): most arrive at once, the rest over the window."""
    if lag < 0:
        return 0.0
    if lag >= window:
        return 1.0
    return 0.55 + 0.45 * math.sqrt((lag + 1) / (window + 1))


@dataclass(frozen=True)
class Profile:
    """What drives an ad's numbers; derived from its id and the seed."""

    key: int
    first: int  # first and last day it delivers (None: until yesterday)
    last: int | None
    scale: float  # paid impressions on an average day
    earned: float
    ctr: float
    outbound: float
    saves: float
    closeups: float
    cpm: float  # micro-currency per thousand paid impressions
    video: bool
    converts: bool
    rates: tuple[float, ...]  # per event: conversions per click, engagement, thousand views
    order_value: int  # micro-currency per checkout
    signup_value: int


def profile(seed: int, ad: Row, group: Row, campaign: Row) -> Profile | None:
    """None for an ad that never delivers."""
    if SILENT_STATUSES & {campaign["status"], group["status"], ad["status"]}:
        return None
    if ad["review_status"] != "APPROVED":
        return None
    key = mix(seed * 1_000_003 ^ int(ad["id"]))
    first = max(day_of(campaign["start_time"]), day_of(ad["created_time"]))
    last = day_of(campaign["end_time"]) if campaign["end_time"] else None
    h1, h2 = mix(key ^ 1), mix(key ^ 2)
    converts = campaign["objective_type"] in CONVERTING
    rates = tuple(0.002 + 0.06 * unit(mix(key ^ (10 + i)), 0) for i in range(len(EVENTS)))
    return Profile(
        key=key,
        first=first,
        last=last,
        scale=40 * 75 ** unit(h1, 0),
        earned=0.05 + 0.35 * unit(h1, 1),
        ctr=0.002 + 0.018 * unit(h1, 2),
        outbound=0.5 + 0.4 * unit(h1, 3),
        saves=0.002 + 0.01 * unit(h2, 0),
        closeups=0.005 + 0.02 * unit(h2, 1),
        cpm=2_000_000 + 13_000_000 * unit(h2, 2),
        video=ad["creative_type"] == "VIDEO",
        converts=converts,
        rates=rates,
        order_value=int(20_000_000 + 130_000_000 * unit(h2, 3)) // 10_000 * 10_000,
        signup_value=5_000_000,
    )


def delivery(p: Profile, day: int) -> Vector:
    """The ad's counts for one day before conversions: delivery, then video."""
    h = mix(p.key ^ (day * 0x9E3779B97F4A7C15 & MASK))
    g = mix(h ^ 0x5851F42D4C957F2D)
    paid = int(p.scale * WEEKDAY[day % 7] * (0.6 + 0.8 * unit(h, 0)))
    earned = int(paid * p.earned * (0.7 + 0.6 * unit(h, 1)))
    clicks = int(paid * p.ctr * (0.7 + 0.6 * unit(h, 2)))
    clicks2 = int(earned * p.ctr * 0.6)
    out, out2 = int(clicks * p.outbound), int(clicks2 * p.outbound)
    saves, saves2 = int(paid * p.saves * (0.6 + 0.8 * unit(h, 3))), int(earned * p.saves)
    eng = clicks + saves + int(paid * p.closeups * (0.7 + 0.6 * unit(g, 0)))
    eng2 = clicks2 + saves2 + int(earned * p.closeups)
    spend = int(paid * p.cpm / 1000 * (0.9 + 0.2 * unit(g, 1)))
    row = [paid, earned, clicks, clicks2, out, out2, saves, saves2, eng, eng2, spend]
    row += [int(out * 0.92), int(out2 * 0.92)]
    if p.video:
        v1 = int(paid * (0.2 + 0.2 * unit(g, 2)))
        v2 = int(earned * 0.3)
        row += [v1, v2, int(v1 * 0.8), int(v2 * 0.8)]
        a, b = v1, v2
        for share in (0.75, 0.7, 0.7, 0.8, 0.9):  # P25 .. P100 of those who started
            a, b = int(a * share), int(b * share)
            row += [a, b]
        row.append(int((v1 + v2) * (4 + 8 * unit(g, 3))))
    else:
        row += [0] * len(VIDEO)
    return row


I_CLICKS = (AT["CLICKTHROUGH_1"], AT["CLICKTHROUGH_2"])
I_SAVES = (AT["REPIN_1"], AT["REPIN_2"])
I_IMPRESSIONS = (AT["IMPRESSION_1"], AT["IMPRESSION_2"])


def attributed(p: Profile, day: int, shares: Sequence[float], base: Vector) -> list[float]:
    """A day's final conversions per (action, event), before rounding; `shares`: what each
    action's window attributes, `base`: the day's delivery."""
    h = mix(p.key ^ (day * 0xD1B54A32D192ED03 & MASK))
    noise = [mix(h ^ k) for k in range(4)]  # 16 slices for the 15 (action, event) pairs
    drivers = (
        base[I_CLICKS[0]] + base[I_CLICKS[1]],
        (base[I_SAVES[0]] + base[I_SAVES[1]]) * 0.5,
        (base[I_IMPRESSIONS[0]] + base[I_IMPRESSIONS[1]]) / 500,
    )
    out: list[float] = []
    k = 0
    for a in range(len(ACTIONS)):
        scale = drivers[a] * shares[a]
        for rate in p.rates:
            out.append(scale * rate * (0.5 + unit(noise[k >> 2], k & 3)))
            k += 1
    return out


def conversions(p: Profile, day: int, today: int, windows: Attribution, base: Vector) -> Vector:
    """The conversion part of the vector as reported on `today` for `day`."""
    spans = (windows.click, windows.engagement, windows.view)
    shares = (WINDOW_SHARE[spans[0]], WINDOW_SHARE[spans[1]], VIEW_SHARE[spans[2]])
    per_event = len(EVENTS)
    counts: list[int]
    if windows.at_conversion:
        # What converted on `day`, from the actions of the window's days before it.
        counts = [0] * (len(ACTIONS) * per_event)
        for back in range(windows.longest + 1):
            action_day = day - back
            if not active(p, action_day, today):
                continue
            earlier = attributed(p, action_day, shares, delivery(p, action_day))
            for a, w in enumerate(spans):
                if back > w:
                    continue
                now, before = arrived(w, back), arrived(w, back - 1)
                for i in range(a * per_event, (a + 1) * per_event):
                    counts[i] += int(earlier[i] * now) - int(earlier[i] * before)
    else:
        finals = attributed(p, day, shares, base)
        arrivals = [arrived(w, today - 1 - day) for w in spans]
        counts = [int(f * arrivals[i // per_event]) for i, f in enumerate(finals)]
    out: Vector = []
    for i, count in enumerate(counts):
        event = i % per_event
        out.append(count)
        if event == 0:  # CHECKOUT
            out.append(count * p.order_value)
        elif event == 1:  # SIGNUP
            out.append(count * p.signup_value)
    return out


def active(p: Profile, day: int, today: int) -> bool:
    return p.first <= day < today and (p.last is None or day <= p.last)


def ad_day(p: Profile, day: int, today: int, windows: Attribution) -> Vector | None:
    """The ad's full vector for a day, None when it has nothing to report."""
    delivering = active(p, day, today)
    late = windows.at_conversion and p.converts and p.first <= day < today
    if not delivering and not late:
        return None
    row = delivery(p, day) if delivering else [0] * (len(DELIVERY) + len(VIDEO))
    if p.converts:
        row += conversions(p, day, today, windows, row)
    else:
        row += [0] * len(CONVERSION)
    return row if any(row) else None


def add(total: Vector, row: Sequence[int]) -> None:
    for i, value in enumerate(row):
        if value:
            total[i] += value


def summed(
    profiles: Iterable[Profile], days: range, today: int, windows: Attribution
) -> Iterator[tuple[int, Vector]]:
    """(day, sum over the profiles) for each day of `days` any of them reports."""
    totals: dict[int, Vector] = {}
    for p in profiles:
        last = today - 1 if p.last is None else min(today - 1, p.last)
        if windows.at_conversion and p.converts:
            last = min(today - 1, last + windows.longest)  # conversions after the last action
        for day in range(max(days.start, p.first), min(days.stop, last + 1)):
            row = ad_day(p, day, today, windows)
            if row is not None:
                total = totals.get(day)
                if total is None:
                    totals[day] = row
                else:
                    add(total, row)
    for day in sorted(totals):
        yield day, totals[day]


# -- columns ---------------------------------------------------------------------------------
def _ratio(num: float, den: float, scale: float = 1.0) -> float | None:
    return num / den * scale if den else None


def _sum(*names: str) -> tuple[int, ...]:
    return tuple(AT[n] for n in names)


# Columns that are a sum of counts.
SUMS: dict[str, tuple[int, ...]] = {
    "PAID_IMPRESSION": _sum("IMPRESSION_1"),
    "TOTAL_IMPRESSION": _sum("IMPRESSION_1", "IMPRESSION_2"),
    "TOTAL_CLICKTHROUGH": _sum("CLICKTHROUGH_1", "CLICKTHROUGH_2"),
    "TOTAL_ENGAGEMENT": _sum("ENGAGEMENT_1", "ENGAGEMENT_2"),
    "TOTAL_WEB_SESSIONS": _sum("WEB_SESSIONS_1", "WEB_SESSIONS_2"),
    "TOTAL_VIDEO_3SEC_VIEWS": _sum("VIDEO_3SEC_VIEWS_1", "VIDEO_3SEC_VIEWS_2"),
    "TOTAL_VIDEO_P0_COMBINED": _sum("VIDEO_3SEC_VIEWS_1", "VIDEO_3SEC_VIEWS_2"),
    "VIDEO_P0_COMBINED_1": _sum("VIDEO_3SEC_VIEWS_1"),
    "VIDEO_P0_COMBINED_2": _sum("VIDEO_3SEC_VIEWS_2"),
    "TOTAL_VIDEO_MRC_VIEWS": _sum("VIDEO_MRC_VIEWS_1", "VIDEO_MRC_VIEWS_2"),
    **{
        f"TOTAL_VIDEO_P{p}_COMBINED": _sum(f"VIDEO_P{p}_COMBINED_1", f"VIDEO_P{p}_COMBINED_2")
        for p in (25, 50, 75, 95)
    },
    "TOTAL_VIDEO_P100_COMPLETE": _sum("VIDEO_P100_COMPLETE_1", "VIDEO_P100_COMPLETE_2"),
}
for _event in EVENTS:
    SUMS[f"TOTAL_{_event}"] = _sum(*(f"TOTAL_{a}_{_event}" for a in ACTIONS))
    if _event in VALUED:
        SUMS[f"TOTAL_{_event}_VALUE_IN_MICRO_DOLLAR"] = _sum(
            *(f"TOTAL_{a}_{_event}_VALUE_IN_MICRO_DOLLAR" for a in ACTIONS)
        )
for _action in ACTIONS:  # every sandbox conversion is a web one
    for _suffix in ("", "_VALUE_IN_MICRO_DOLLAR"):
        SUMS[f"TOTAL_WEB_{_action}_CHECKOUT{_suffix}"] = _sum(f"TOTAL_{_action}_CHECKOUT{_suffix}")
SUMS["TOTAL_WEB_CHECKOUT"] = SUMS["TOTAL_CHECKOUT"]
SUMS["TOTAL_WEB_CHECKOUT_VALUE_IN_MICRO_DOLLAR"] = SUMS["TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR"]
SUMS["TOTAL_CONVERSIONS"] = tuple(AT[n] for n in CONVERSION if not n.endswith("MICRO_DOLLAR"))
VIDEO_COLUMNS = {
    *VIDEO[:-1],
    *(n for n in SUMS if "VIDEO" in n),
    "PAID_VIDEO_VIEWABLE_RATE",
    "TOTAL_VIDEO_AVG_WATCHTIME_IN_SECOND",
    "ECPV_IN_DOLLAR",
    "ECPCV_IN_DOLLAR",
    "ECPCV_P95_IN_DOLLAR",
    "VIDEO_SPEND_IN_DOLLAR",
}
CONVERSION_COLUMNS = {
    *CONVERSION,
    *(n for n in SUMS if any(e in n for e in EVENTS) or n == "TOTAL_CONVERSIONS"),
    "CHECKOUT_ROAS",
    "WEB_CHECKOUT_ROAS",
    "WEB_CHECKOUT_COST_PER_ACTION",
    "PAGE_VISIT_COST_PER_ACTION",
    "TOTAL_CHECKOUT_CONVERSION_RATE",
    "TOTAL_PAGE_VISIT_CONVERSION_RATE",
    "TOTAL_SIGNUP_CONVERSION_RATE",
    "TOTAL_LEAD_CONVERSION_RATE",
    "TOTAL_ADD_TO_CART_CONVERSION_RATE",
}


def derived(v: Sequence[int]) -> dict[str, float | None]:
    """Ratios and dollar amounts of a summed vector (None: no denominator)."""
    spend = v[AT["SPEND_IN_MICRO_DOLLAR"]]
    paid, earned = v[AT["IMPRESSION_1"]], v[AT["IMPRESSION_2"]]
    clicks, clicks2 = v[AT["CLICKTHROUGH_1"]], v[AT["CLICKTHROUGH_2"]]
    outbound = v[AT["OUTBOUND_CLICK_1"]]
    eng = v[AT["ENGAGEMENT_1"]]
    views = v[AT["VIDEO_3SEC_VIEWS_1"]] + v[AT["VIDEO_3SEC_VIEWS_2"]]
    checkouts = sum(v[i] for i in SUMS["TOTAL_CHECKOUT"])
    value = sum(v[i] for i in SUMS["TOTAL_CHECKOUT_VALUE_IN_MICRO_DOLLAR"])
    visits = sum(v[i] for i in SUMS["TOTAL_PAGE_VISIT"])
    all_clicks = clicks + clicks2
    out: dict[str, float | None] = {
        "SPEND_IN_DOLLAR": spend / 1_000_000,
        "CPC_IN_MICRO_DOLLAR": _ratio(spend, clicks),
        "ECPC_IN_MICRO_DOLLAR": _ratio(spend, clicks),
        "ECPC_IN_DOLLAR": _ratio(spend, clicks, 1e-6),
        "CPM_IN_MICRO_DOLLAR": _ratio(spend, paid, 1000),
        "ECPM_IN_MICRO_DOLLAR": _ratio(spend, paid, 1000),
        "CPM_IN_DOLLAR": _ratio(spend, paid, 1e-3),
        "ECPE_IN_DOLLAR": _ratio(spend, eng, 1e-6),
        "COST_PER_OUTBOUND_CLICK_IN_DOLLAR": _ratio(spend, outbound, 1e-6),
        "COST_PER_OUTBOUND_CLICK_IN_DOLLAR_1": _ratio(spend, outbound, 1e-6),
        "CTR": _ratio(clicks, paid),
        "ECTR": _ratio(clicks, paid),
        "CTR_2": _ratio(clicks2, earned),
        "OUTBOUND_CTR_1": _ratio(outbound, paid),
        "ENGAGEMENT_RATE": _ratio(eng, paid),
        "EENGAGEMENT_RATE": _ratio(eng, paid),
        "REPIN_RATE": _ratio(v[AT["REPIN_1"]], paid),
        "TOTAL_REPIN_RATE": _ratio(v[AT["REPIN_1"]] + v[AT["REPIN_2"]], paid + earned),
        "PAID_VIDEO_VIEWABLE_RATE": _ratio(v[AT["VIDEO_MRC_VIEWS_1"]], paid),
        "TOTAL_VIDEO_AVG_WATCHTIME_IN_SECOND": _ratio(v[AT["VIDEO_WATCH_SECONDS"]], views),
        "ECPV_IN_DOLLAR": _ratio(spend, v[AT["VIDEO_3SEC_VIEWS_1"]], 1e-6),
        "ECPCV_IN_DOLLAR": _ratio(spend, v[AT["VIDEO_P100_COMPLETE_1"]], 1e-6),
        "ECPCV_P95_IN_DOLLAR": _ratio(spend, v[AT["VIDEO_P95_COMBINED_1"]], 1e-6),
        "VIDEO_SPEND_IN_DOLLAR": spend / 1_000_000,
        "CHECKOUT_ROAS": _ratio(value, spend),
        "WEB_CHECKOUT_ROAS": _ratio(value, spend),
        "WEB_CHECKOUT_COST_PER_ACTION": _ratio(spend, checkouts),
        "PAGE_VISIT_COST_PER_ACTION": _ratio(spend, visits),
    }
    for event in ("CHECKOUT", "PAGE_VISIT", "SIGNUP", "LEAD", "ADD_TO_CART"):
        count = sum(v[i] for i in SUMS[f"TOTAL_{event}"])
        out[f"TOTAL_{event}_CONVERSION_RATE"] = _ratio(count, all_clicks)
    return out


def metric_values(
    v: Sequence[int], columns: Iterable[str], video: bool, converts: bool
) -> dict[str, int | float]:
    """The requested metric columns the sandbox models, for a summed vector of an entity that
    has (or lacks) video and conversion tracking; a metric it lacks is left out."""
    ratios: dict[str, float | None] | None = None
    out: dict[str, int | float] = {}
    for name in columns:
        if (name in VIDEO_COLUMNS and not video) or (name in CONVERSION_COLUMNS and not converts):
            continue
        index = AT.get(name)
        if index is not None and name != "VIDEO_WATCH_SECONDS":
            out[name] = v[index]
        elif name in SUMS:
            out[name] = sum(v[i] for i in SUMS[name])
        else:
            if ratios is None:
                ratios = derived(v)
            value = ratios.get(name)
            if value is not None:
                out[name] = value
    return out
