"""Deterministic Pinterest-ad universe: a pure function of (seed, ads, clock offset)."""

from __future__ import annotations

import math
import random
from bisect import bisect
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from itertools import accumulate
from typing import Any

UTC = timezone.utc
DEFAULT_START = datetime(2026, 9, 1, tzinfo=UTC)
BASE_DAYS = 120  # the initial ads were found over this many days before `start`
ADVERTISERS = 120
TIMESERIES_POINTS = 30

Row = dict[str, Any]

COUNTRIES = ["US", "GB", "CA", "AU", "DE", "FR", "NL", "ES", "IT", "BR", "MX", "SE"]
COUNTRY_WEIGHTS = [40, 10, 8, 7, 6, 5, 3, 4, 3, 5, 4, 2]
LANGUAGE_OF = {"DE": "de", "FR": "fr", "NL": "nl", "ES": "es", "MX": "es", "IT": "it", "BR": "pt"}
LANGUAGE_OF |= {"SE": "sv"}

# Two-letter codes like the real `niche_v2`; each niche has its own product vocabulary.
NICHES: dict[str, tuple[list[str], list[str], str]] = {
    "BG": (
        ["Glow", "Vitamin C", "Hydrating", "Rose", "Overnight"],
        ["Serum", "Face Mask", "Lip Oil"],
        "female",
    ),
    "JY": (
        ["Gold", "Minimal", "Pearl", "Birthstone", "Layered"],
        ["Necklace", "Hoop Earrings", "Ring"],
        "female",
    ),
    "CG": (
        ["Linen", "Oversized", "Ribbed", "Vintage", "Cozy"],
        ["Cardigan", "Maxi Dress", "Hoodie"],
        "all",
    ),
    "HG": (
        ["Boho", "Ceramic", "Rattan", "Sunset", "Velvet"],
        ["Table Lamp", "Planter", "Throw Pillow"],
        "all",
    ),
    "KD": (
        ["Non-Stick", "Bamboo", "Marble", "Stackable", "Glass"],
        ["Pan Set", "Cutting Board", "Jars"],
        "all",
    ),
    "PT": (
        ["Orthopedic", "Calming", "Self-Cleaning", "Chew-Proof"],
        ["Dog Bed", "Cat Tree", "Leash"],
        "all",
    ),
    "FT": (
        ["Seamless", "Adjustable", "High-Waist", "Foldable"],
        ["Leggings", "Dumbbells", "Yoga Mat"],
        "all",
    ),
    "KB": (
        ["Montessori", "Organic", "Wooden", "Sensory"],
        ["Play Gym", "Swaddle", "Stacking Toy"],
        "female",
    ),
    "TG": (
        ["Magnetic", "Wireless", "Mini", "Smart", "Portable"],
        ["Charger", "Projector", "LED Strip"],
        "male",
    ),
    "WL": (
        ["Ashwagandha", "Collagen", "Sleep", "Gut Health"],
        ["Gummies", "Powder", "Tea Blend"],
        "all",
    ),
}
NICHE_CODES = list(NICHES)

BRAND_A = ["Glow", "Luna", "Nord", "Velvet", "Maple", "Sage", "Aurora", "Bloom", "Cedar", "Willow"]
BRAND_A += [
    "Koa",
    "Nova",
    "Olive",
    "Pebble",
    "Ember",
    "Haven",
    "Juniper",
    "Saffron",
    "Tide",
    "Fern",
]
BRAND_B = ["Beauty Co.", "Studio", "Home", "Goods", "Supply", "& Co", "Collective", "Lab", "House"]
BRAND_B += ["Atelier", "Market", "Living"]
TLDS = [".com", ".com", ".com", ".co", ".shop", ".store", ".co.uk", ".de"]

SHOPIFY_TECH = ["klaviyo", "judgeme", "loox", "afterpay", "recharge", "gorgias", "yotpo"]
COMMON_TECH = [
    "google-analytics",
    "meta-pixel",
    "pinterest-tag",
    "tiktok-pixel",
    "stripe",
    "paypal",
]
OTHER_PLATFORMS = [["woocommerce", "wordpress"], ["bigcommerce"], ["wix"], ["squarespace"]]
CURRENCIES = [("USD", 1.0), ("EUR", 0.92), ("GBP", 0.79), ("CAD", 1.36), ("AUD", 1.52)]
OFFSETS = [2, -5, 1, -4, 10, -3]  # hours, for the "ISO with offset" datefound format
CTA = ["Shop now", "Save this for later", "Limited stock", "Free shipping today", "Tap to see more"]
HOOKS = ["The {p} everyone's pinning", "Meet your new favourite {p}", "{p} that sold out 3 times"]
HOOKS += ["Why 10,000 people switched to our {p}", "Our best-selling {p} is back"]

GENDERS = ["all", "female", "male"]
_M = 9 * 10**17  # size of the 18-digit id space


class _Advertiser:
    """One of the ~120 promoters; ads inherit their page, store and audience from it."""

    name: str
    username: str
    page_id: str
    domain: str
    niche: str
    gender: str
    country: str
    shopify: bool
    shopify_domain: str | None
    tech: list[str]
    traffic: int | None
    currency: dict[str, Any]
    adscount: int

    def __init__(self, seed: int, k: int) -> None:
        rng = random.Random(f"{seed}:adv:{k}")
        a, b = rng.choice(BRAND_A), rng.choice(BRAND_B)
        self.name = f"{a} {b}"
        slug = f"{a}{b.split()[0]}".lower().replace("&", "and").replace(".", "")
        slug += "" if rng.random() < 0.6 else str(rng.randint(2, 99))
        self.username = slug if rng.random() < 0.7 else f"{slug}_official"
        self.page_id = str(rng.randint(10**17, 10**18 - 1))
        host = slug + rng.choice(TLDS)
        self.domain = f"www.{host}" if rng.random() < 0.3 else host
        self.niche = rng.choice(NICHE_CODES)
        self.gender = NICHES[self.niche][2] if rng.random() < 0.8 else "all"
        self.country = rng.choices(COUNTRIES, COUNTRY_WEIGHTS)[0]
        self.shopify = rng.random() < 0.8
        self.shopify_domain = f"{slug}.myshopify.com" if self.shopify else None
        if self.shopify:
            tech = ["shopify", *rng.sample(SHOPIFY_TECH, rng.randint(1, 3))]
        else:
            tech = list(rng.choice(OTHER_PLATFORMS))
        self.tech = tech + rng.sample(COMMON_TECH, rng.randint(0, 3))
        self.traffic = int(rng.lognormvariate(10, 1.5)) if rng.random() < 0.55 else None
        code_rate = CURRENCIES[0] if self.country in ("US", "MX", "BR") else rng.choice(CURRENCIES)
        self.currency = {"code": code_rate[0], "rate": code_rate[1], "active": True}
        self.adscount = min(400, int(rng.paretovariate(1.2) * 3))


@dataclass(slots=True)
class _Ad:
    """Static facts about one ad plus its cached repin time series."""

    found_day: int  # date ordinal
    found_ts: int
    started_day: int
    stop_ts: int | None  # when the ad stopped running, if it does
    scale: float
    tau: float
    velocity: float
    like_ratio: float
    comment_ratio: float
    react_ratio: float
    tracked_from: int  # day index (since found) of the sandbox's first day
    template: Row = field(default_factory=dict)
    p0: int = 0  # day index of points[0]
    points: list[dict[str, Any]] = field(default_factory=list)

    def repins(self, j: int) -> float:
        """Cumulative repins j days after being found: saturating curve plus steady drift."""
        return self.scale * (1 - math.exp(-(j + 1) / self.tau)) + self.velocity * j

    def series(self, k: int) -> list[dict[str, Any]]:
        """One point per sandbox day since the ad was found, the last TIMESERIES_POINTS."""
        # Points are facts about (ad, day), so a new clock reuses the cached ones and
        # only computes the days it has not seen; slicing leaves older rows' lists intact.
        # An ad that stopped before tracking began still shows its last observed day.
        first = max(min(self.tracked_from, k), k - TIMESERIES_POINTS + 1)
        if first < self.p0:
            self.p0, self.points = first, []
        pts = self.points[first - self.p0 : k + 1 - self.p0]
        repins = self.repins
        for j in range(first + len(pts), k + 1):
            pts.append({"date": _ymd(self.found_day + j), "value": int(repins(j))})
        self.p0, self.points = first, pts
        return pts


@lru_cache(maxsize=8192)
def _ymd(ordinal: int) -> str:
    return date.fromordinal(ordinal).isoformat()


_EPOCH_DAY = date(1970, 1, 1).toordinal()


def ymd_hms(ts: int) -> str:
    s = ts % 86400
    return f"{_ymd(ts // 86400 + _EPOCH_DAY)} {s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


def _datefound(r: float, r2: float, ts: int) -> str | int | None:
    if r < 0.70:
        return ymd_hms(ts)
    if r < 0.80:
        return _ymd(ts // 86400 + _EPOCH_DAY)
    if r < 0.88:
        return ymd_hms(ts).replace(" ", "T") + "Z"
    if r < 0.93:
        hours = OFFSETS[int(r2 * len(OFFSETS))]
        local = ymd_hms(ts + hours * 3600).replace(" ", "T")
        return f"{local}{'+' if hours >= 0 else '-'}{abs(hours):02d}:00"
    if r < 0.98:
        return ts
    return None if r2 < 0.5 else "0000-00-00 00:00:00"


def _cum(weights: list[int]) -> list[float]:
    return list(accumulate(float(w) for w in weights))


_COUNTRY_CUM = _cum(COUNTRY_WEIGHTS)
_EXTRA_COUNTRIES_CUM = _cum([55, 25, 12, 8])


def _make_ad(
    seed: int,
    n: int,
    advertisers: list[_Advertiser],
    adv_cum: list[float],
    day: int | None,
    start_day: int,
    ids: set[str],
) -> _Ad:
    rng = random.Random(f"{seed}:{n}")
    r = rng.random  # plain random() calls are several times cheaper than choice/randint

    def pick(seq: list[str]) -> str:
        return seq[int(r() * len(seq))]

    def weighted(cum: list[float]) -> int:
        return bisect(cum, r() * cum[-1])

    adv = advertisers[weighted(adv_cum)]
    if day is None:  # initial universe: recent days denser
        day = start_day - 1 - int(BASE_DAYS * r() ** 1.7)
    found_ts = (day - _EPOCH_DAY) * 86400 + int(r() * 86400)
    ad = _Ad(
        found_day=day,
        found_ts=found_ts,
        started_day=day - int(401 * r() ** 2.5),
        stop_ts=found_ts + 86400 + int(r() * 59 * 86400) if r() < 0.15 else None,
        scale=rng.lognormvariate(3.5, 1.3),
        tau=3 + 37 * r(),
        velocity=rng.expovariate(1 / 1.5) if r() < 0.7 else 0.0,
        like_ratio=0.0 if r() < 0.66 else 0.05 + 0.55 * r(),
        comment_ratio=0.08 * r(),
        react_ratio=0.05 + 0.25 * r(),
        tracked_from=max(0, start_day - day),
    )

    pin_id = str(10**17 + rng.getrandbits(64) % _M)
    while pin_id in ids:  # collisions are astronomically rare, but ids must be unique
        pin_id = str(int(pin_id) + 1)
    ids.add(pin_id)
    niche = adv.niche if r() < 0.9 else pick(NICHE_CODES)
    adjectives, nouns, _ = NICHES[niche]
    noun = pick(nouns)
    product = f"{pick(adjectives)} {noun}"
    slug = product.lower().replace(" ", "-")
    collection = noun.lower().replace(" ", "-").removesuffix("s") + "s"
    is_product = r() < 0.8
    path = f"/products/{slug}" if is_product else f"/collections/{collection}"
    link = f"https://{adv.domain}{path}"
    if r() < 0.4:
        link += f"?utm_source=pinterest&utm_medium=paid&utm_campaign={1000 + int(r() * 9000)}"
    product_id = str(7 * 10**12 + int(r() * 2 * 10**12)) if adv.shopify and is_product else None
    price = round(9 + 140 * r(), 2) if product_id and r() < 0.62 else None
    product_name = product if is_product or r() < 0.3 else None
    created = day - int(r() * 700)
    h = f"{rng.getrandbits(128):032x}"
    image = f"https://i.pinimg.com/originals/{h[:2]}/{h[2:4]}/{h[4:6]}/{h}.jpg"
    video = (
        f"https://v1.pinimg.com/videos/mc/720p/{h[:2]}/{h[2:4]}/{h[4:6]}/{h}.mp4"
        if r() < 0.3
        else None
    )
    countries = {adv.country}
    for _ in range(weighted(_EXTRA_COUNTRIES_CUM)):
        countries.add(COUNTRIES[weighted(_COUNTRY_CUM)])
    hook = pick(HOOKS).format(p=product.lower())
    ad.template = {
        "id": pin_id,
        "ad_id": str(687 * 10**10 + int(r() * 10**10)),
        "platform": "pinterest",
        "page_id": adv.page_id,
        "page_name": adv.name,
        "promoter_username": adv.username,
        "page_url": f"https://www.pinterest.com/{adv.username}/",
        "adscount": adv.adscount + int(r() * 3),
        "title": f"{product} | {adv.name}" if r() < 0.5 else hook,
        "ad_text": f"{hook}. {pick(CTA)} at {adv.domain.removeprefix('www.')}",
        "description": None if r() < 0.25 else f"{product} by {adv.name}. {pick(CTA)}.",
        "media_type": "video" if video else "image",
        "media_url": video or image,
        "image": image,
        "video": video,
        "pin_url": f"https://www.pinterest.com/pin/{pin_id}/",
        "link": link,
        "landing_url": link,
        "domain": adv.domain,
        "page_type": "product" if is_product else "collection",
        "product_name": product_name,
        "product_created": _ymd(created) if product_name and r() < 0.85 else None,
        "shopify_shopifydomain": adv.shopify_domain,
        "shopify_productid": product_id,
        "shopify_productprice": price,
        "shopify_currency": dict(adv.currency) if price is not None else None,
        "store_traffic": adv.traffic,
        "technologies": adv.tech,
        "likes": 0,
        "shares": 0,
        "comments": 0,
        "reactions": 0,
        "save_count": 0,
        "repin_count": 0,
        "repin_count_timeseries": [],
        "adscore": "Testing",
        "adscore_reasons": [],
        "started": _ymd(ad.started_day),
        "datefound": _datefound(r(), r(), ad.found_ts),
        "lastseen": "",
        "daysrunning": 0,
        "countries": sorted(countries, key=COUNTRIES.index),
        "language": LANGUAGE_OF.get(adv.country, "en"),
        "niche_v2": niche,
        "gender": adv.gender if r() < 0.85 else pick(GENDERS),
        "saved": r() < 0.03,
        "hidden": r() < 0.01,
        "total_adspend": None,
        "revenue": None,
        "dailyadspend": None,
        "adspend_history": None,
    }
    if r() < 0.03:
        ad.template["experiment_flags"] = {"ab": "b"}
    return ad


_REASONS = {
    (long, hot, big): [
        text
        for flag, text in (
            (long, "Running 30+ days"),
            (hot, "50+ repins"),
            (big, "Advertiser runs 10+ ads"),
        )
        if flag
    ]
    for long in (False, True)
    for hot in (False, True)
    for big in (False, True)
}


def _score(repins: int, days: int, adscount: int) -> tuple[str, list[str]]:
    """WinningHunter-style label; reasons lists are shared, served rows are read-only."""
    long, hot, big = days >= 30, repins >= 50, adscount >= 10
    if long and hot:
        return "Winning", _REASONS[long, hot, big]
    if repins >= 20 or (days >= 7 and big):
        return "Scaling", _REASONS[long, hot, big] or ["Growing engagement"]
    return "Testing", _REASONS[long, hot, big] or ["New creative"]


class AdUniverse:
    def __init__(self, seed: int, ads: int = 1500, start: datetime = DEFAULT_START) -> None:
        self.seed = seed
        self.initial_ads = ads
        self.start = start.astimezone(UTC)
        self._offset = timedelta(0)
        self._start_day = self.start.date().toordinal()
        self._advertisers = [_Advertiser(seed, k) for k in range(ADVERTISERS)]
        self._adv_cum = list(accumulate(1 / (k + 1) ** 0.8 for k in range(ADVERTISERS)))
        self._ads: list[_Ad] = []
        self._extra: list[_Ad] = []  # hostile rows added through the control route
        self._ids: set[str] = set()
        self._day_counts: list[int] = []  # ads found on sandbox day j (the date start + j)
        self._rows: tuple[timedelta, list[Row]] | None = None

    @property
    def now(self) -> datetime:
        return self.start + self._offset

    def advance(self, days: float | None = None, hours: float = 0) -> int:
        """Move the clock (one day when called bare); returns how many ads were found meanwhile."""
        if days is None:
            days = 0 if hours else 1
        if days < 0 or hours < 0:
            raise ValueError("the sandbox clock only moves forward")
        before = self.count()
        self._offset += timedelta(days=days, hours=hours)
        return self.count() - before

    def reset(self) -> None:
        self._offset = timedelta(0)
        self._ids.difference_update(ad.template["id"] for ad in self._extra)
        self._extra.clear()
        self._rows = None

    def add_ad(self, found_ts: int) -> Row:
        """One more ad, found at `found_ts`, deterministic from the seed and how many came before.

        Returns its template for the caller to spoil (see hostile.py).
        """
        day = found_ts // 86400 + _EPOCH_DAY
        n = -1 - len(self._extra)  # negative: never the seed of a universe ad
        ad = _make_ad(
            self.seed, n, self._advertisers, self._adv_cum, day, self._start_day, self._ids
        )
        ad.found_ts = found_ts
        ad.template["datefound"] = ymd_hms(found_ts)
        self._extra.append(ad)
        self._rows = None
        return ad.template

    @property
    def extra_count(self) -> int:
        return len(self._extra)

    def newest_found(self) -> int:
        return max(ad.found_ts for ad in [*self._specs(), *self._extra])

    def count(self) -> int:
        # A day's ads appear once that day is over, so every datefound is in the past.
        done = self.now.date().toordinal() - self._start_day
        while len(self._day_counts) < done:
            j = len(self._day_counts)
            self._day_counts.append(random.Random(f"{self.seed}:day:{j}").randint(25, 60))
        return self.initial_ads + sum(self._day_counts[:done])

    def _specs(self) -> list[_Ad]:
        total = self.count()
        n = len(self._ads)
        if n < total:
            days: list[int | None] = [None] * self.initial_ads
            for j, c in enumerate(self._day_counts):
                days += [self._start_day + j] * c
            for i in range(n, total):
                self._ads.append(
                    _make_ad(
                        self.seed,
                        i,
                        self._advertisers,
                        self._adv_cum,
                        days[i],
                        self._start_day,
                        self._ids,
                    )
                )
        return self._ads[:total]

    def ads(self) -> list[Row]:
        """Rows as served at the current clock; cached per clock, treat them as read-only."""
        if self._rows is not None and self._rows[0] == self._offset:
            return self._rows[1]
        now_ts = int(self.now.timestamp())
        today = self.now.date().toordinal()
        rows = []
        for ad in [*self._specs(), *self._extra]:
            seen = now_ts if ad.stop_ts is None else min(now_ts, ad.stop_ts)
            # The crawler records engagement only when it sees the ad: a stopped ad's freezes.
            k = min(today, seen // 86400 + _EPOCH_DAY) - ad.found_day
            g = ad.repins(k)
            shares = int(g)
            comments = int(g * ad.comment_ratio)
            days = seen // 86400 + _EPOCH_DAY - ad.started_day
            row = dict(ad.template)
            row["likes"] = row["save_count"] = int(g * ad.like_ratio)
            row["shares"] = row["repin_count"] = shares
            row["comments"] = comments
            row["reactions"] = int(g * ad.react_ratio) + comments
            row["repin_count_timeseries"] = ad.series(k)
            row["adscore"], row["adscore_reasons"] = _score(shares, days, row["adscount"])
            row["lastseen"] = ymd_hms(seen)
            row["daysrunning"] = days
            rows.append(row)
        self._rows = (self._offset, rows)
        return rows
