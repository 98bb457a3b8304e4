"""Meta's part of the synthetic business: a Facebook Page, an Instagram business account and a Meta ad account.

Derived deterministically from the core world (same seed, same customers, same Shopify orders):

- an audience pool of people (`Person`); the first ones *are* the shop's customers (same country), the rest are
  prospects. Every person has a fixed age bucket, gender and country, so a breakdown's reach is a real count of
  distinct people, and reach over several days or ads is the size of a union, never a sum;
- ad campaigns (one evergreen retargeting campaign and a prospecting flight every ~45 days), each with two ad sets
  of two ads. Each active ad and day spends part of its ad set's budget and reaches a deterministic sample of the
  pool (`delivery`);
- ad purchases are Shopify orders: a share of orders placed while an ad was running is preceded by a click on that
  ad (0 to 10 days before, so some fall outside 7-day click attribution) or by a view on the day before. The
  conversion is reported on the day of the click or view (action_report_time=impression), so purchases for a day
  keep arriving after that day: the late conversions a re-read window must pick up;
- organic content: a Page post every 3 days and an Instagram post or reel every 2 days whose metrics grow towards
  their final values over the first days; Instagram stories every 2 days that live 24 hours; followers on both
  platforms grow with a base rate plus a share of the day's paid reach (the campaigns bring followers).

Ground truth for tests comes from the same objects through `MetaWorld` methods that do not go through the
simulator's rendering (`ads_manager`, `reach`, `page_day`, ...). Money is held in cents.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
from bisect import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from itertools import accumulate
from typing import Any, overload

import numpy as np

from sandbox.world.core import World, stable_rng

AGE_BUCKETS = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AGE_WEIGHTS = (12, 30, 25, 16, 10, 7)
GENDERS = ("female", "male", "unknown")
GENDER_WEIGHTS = (54, 43, 3)
PROSPECT_COUNTRIES = (("US", 60), ("CA", 12), ("GB", 12), ("DE", 8), ("FR", 8))
IG_AGE_BUCKETS = ("13-17", "18-24", "25-34", "35-44", "45-54", "55-64", "65+")
CITIES = {
    "US": ("Portland, Oregon", "Austin, Texas", "Brooklyn, New York", "Chicago, Illinois", "Denver, Colorado"),
    "CA": ("Toronto, Ontario", "Vancouver, British Columbia"),
    "GB": ("London, England",),
    "DE": ("Berlin, Berlin",),
    "FR": ("Lyon, Auvergne-Rhône-Alpes",),
}

BREAKDOWNS: tuple[tuple[str, ...], ...] = ((), ("age",), ("gender",), ("age", "gender"), ("country",))
"""The breakdown combinations the simulated insights accept, in their column order."""
ATTRIBUTION_SETTING = "7d_click_1d_view"
"""The account's (and every ad set's) attribution setting: 7-day click or 1-day view, Meta's default."""
CLICK_WINDOWS = {"1d_click": 1, "7d_click": 7, "28d_click": 28}
VIEW_WINDOWS = {"1d_view": 1}
PURCHASE_ACTION_TYPES = ("omni_purchase", "purchase", "offsite_conversion.fb_pixel_purchase")
"""Meta reports the same purchases under several action types with the same value: sum one, never all."""
CPM_CENTS = (900, 1600)
"""Cost per thousand impressions drawn per ad and day, in cents."""
AD_TOUCH_SHARE = 0.4
"""Share of the orders placed while an ad is running that are preceded by an ad click or view."""
VIEW_TOUCH_SHARE = 0.25
"""Of those touches, the share that is a view (on the day before the order) rather than a click."""


def meta_id(*parts: Any, digits: int = 15, prefix: str = "") -> str:
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()
    return prefix + str(int(digest[:15], 16) % (9 * 10 ** (digits - 1)) + 10 ** (digits - 1))


def day_start(d: date) -> datetime:
    return datetime.combine(d, time(0), tzinfo=UTC)


def days_between(start: date, end: date) -> Iterable[date]:
    """Every day from `start` to `end`, both included."""
    d = start
    while d <= end:
        yield d
        d += timedelta(days=1)


@dataclass(frozen=True)
class Person:
    index: int
    age: str
    gender: str
    country: str
    customer_id: int | None = None


@dataclass
class Ad:
    id: str
    name: str
    adset_id: str
    campaign_id: str
    created_time: datetime


@dataclass
class AdSet:
    id: str
    name: str
    campaign_id: str
    daily_budget_cents: int
    countries: tuple[str, ...]
    start: date
    stop: date
    created_time: datetime
    ads: list[Ad] = field(default_factory=list)


@dataclass
class Campaign:
    id: str
    name: str
    objective: str
    start: date
    stop: date
    """Last day the campaign delivers (inclusive)."""
    created_time: datetime
    adsets: list[AdSet] = field(default_factory=list)

    def status(self, now: datetime) -> str:
        """Flights are paused after their last day; a scheduled one is already ACTIVE (it waits for its start)."""
        return "PAUSED" if now.date() > self.stop else "ACTIVE"

    def updated_time(self, now: datetime) -> datetime:
        stopped = day_start(self.stop + timedelta(days=1))
        return stopped if stopped <= now else self.created_time


@dataclass(frozen=True)
class Touch:
    """An ad click or view that preceded a Shopify order."""

    order_id: int
    customer_id: int
    person: int
    ad_id: str
    kind: str
    """"click" or "view"."""
    at: datetime
    order_at: datetime
    value_cents: int


@dataclass(frozen=True, eq=False)
class Delivery:
    """One ad on one day: what it spent and whom it reached.

    Held as arrays (the people reached, ascending; their impressions; who clicked) so that a report sums them without a
    Python loop per person; `impressions`, `clickers` and `link_clickers` give the same as dict and sets."""

    spend_cents: int
    persons: np.ndarray
    """Person indexes reached, ascending (int32)."""
    counts: np.ndarray
    """Impressions of each of `persons` (1 or 2)."""
    clicked: np.ndarray
    """Whether each of `persons` clicked (bool)."""
    link_clicked: np.ndarray
    """Whether each of `persons` clicked a link (bool)."""

    @cached_property
    def impressions(self) -> dict[int, int]:
        """Person index -> impressions, ascending by person."""
        return dict(zip(self.persons.tolist(), self.counts.tolist(), strict=True))

    @cached_property
    def clickers(self) -> frozenset[int]:
        return frozenset(self.persons[self.clicked].tolist())

    @cached_property
    def link_clickers(self) -> frozenset[int]:
        return frozenset(self.persons[self.link_clicked].tolist())

    @cached_property
    def total_impressions(self) -> int:
        return int(self.counts.sum())

    @cached_property
    def spend_shares(self) -> np.ndarray:
        """Each person's share of the spend: impressions x spend per impression."""
        return self.counts * (self.spend_cents / self.total_impressions)

    @cached_property
    def cell(self) -> dict[str, Any]:
        """This delivery alone as one cell (no breakdown); the spend summed person after person, as a report sums it."""
        return {"impressions": self.total_impressions, "spend": float(np.cumsum(self.spend_shares)[-1]),
                "reach": len(self.persons), "clicks": int(self.clicked.sum()), "links": int(self.link_clicked.sum())}


@dataclass(frozen=True, eq=False)
class _PerPerson:
    """Deliveries summed per person: the people reached (ascending), their impressions, spend, clicks and link clicks,
    and their positions in the order they were first reached; `single` when it is one delivery."""

    single: Delivery | None
    persons: np.ndarray
    imps: np.ndarray
    spend: np.ndarray
    clicks: np.ndarray
    links: np.ndarray
    first_seen: np.ndarray


class _Words:
    """The stream of `random.Random(seed)`, drawn in bulk through numpy.

    CPython's `random` and numpy's `RandomState` are the same Mersenne Twister, seeded alike from an array of
    32-bit words, and `random()` (two words: a >> 5, b >> 6) and `getrandbits(k <= 32)` (one word >> (32 - k)) are
    fixed functions of its words; so a per-person draw of a delivery gives exactly what the per-person Python loop
    gave, without a Python call per person (which made the simulator's CPU grow with the audience pool)."""

    _local = threading.local()
    """One `RandomState` per thread, reseeded for every stream (a fresh one costs 15 times a reseed); a thread draws
    one stream at a time."""

    def __init__(self, seed: int, ahead: int = 1024) -> None:
        self._ahead = ahead
        if not hasattr(self._local, "state"):
            self._local.state = np.random.RandomState(0)
        self._state: np.random.RandomState = self._local.state
        key = np.frombuffer(seed.to_bytes(max(1, (seed.bit_length() + 31) // 32) * 4, "little"), dtype="<u4")
        self._state.seed(key)  # CPython's `random_seed`: init_by_array over the 32-bit words of the seed, low first
        self._buf = np.empty(0, dtype=np.uint64)
        self._pos = 0

    def peek(self, n: int) -> np.ndarray:
        """The next `n` words, not consumed."""
        have = len(self._buf) - self._pos
        if have < n:
            more = self._state.randint(0, 2**32, size=max(n - have, self._ahead), dtype=np.uint32).astype(np.uint64)
            self._buf = np.concatenate((self._buf[self._pos:], more))
            self._pos = 0
        return self._buf[self._pos:self._pos + n]

    def skip(self, n: int) -> None:
        self._pos += n

    def sync(self, rng: random.Random) -> None:
        """Move `rng` past the words consumed here (needs `ahead=0`: nothing drawn and not consumed)."""
        assert self._pos == len(self._buf), "words drawn ahead"
        state: Any = self._state.get_state(legacy=True)  # ("MT19937", key, pos, has_gauss, gauss)
        version, _, gauss = rng.getstate()
        rng.setstate((version, (*state[1].tolist(), int(state[2])), gauss))

    def uniform(self, a: float, b: float) -> float:
        """`random.uniform(a, b)`."""
        return a + (b - a) * float(self.randoms(1)[0])

    def randoms(self, n: int) -> np.ndarray:
        """`n` values of `random()`, in order."""
        w = self.peek(2 * n)
        self.skip(2 * n)
        return ((w[0::2] >> 5).astype(np.float64) * 67108864.0 + (w[1::2] >> 6).astype(np.float64)) * (1.0 / 9007199254740992.0)

    def sample_indexes(self, n: int, k: int) -> np.ndarray:
        """The indexes `random.sample(population of n, k)` picks when it uses its set method (n > its set size):
        `randbelow(n)` draws (`getrandbits(n.bit_length())`, again while >= n), an index drawn before drawn again,
        until k are picked."""
        shift = np.uint64(32 - n.bit_length())
        chunk = k + k // 2 + 64
        while k:
            j = self.peek(chunk) >> shift
            ok = np.flatnonzero(j < n)
            drawn = j[ok]
            new = np.flatnonzero(~_repeats(drawn))
            if len(new) >= k:
                self.skip(int(ok[new[k - 1]]) + 1)
                return drawn[new[:k]]
            chunk *= 2
        return np.empty(0, dtype=np.uint64)

    def reserve(self, n: int) -> None:
        """Draw the next `n` words at once (fewer, larger draws)."""
        self.peek(n)


def _distinct(a: np.ndarray) -> np.ndarray:
    """The distinct values of `a`, ascending (`np.unique` without its hashing, which is many times slower here)."""
    s = np.sort(a)
    return s[np.concatenate(([True], s[1:] != s[:-1]))] if len(s) else s


def _by_value_then_position(a: np.ndarray) -> np.ndarray:
    """The positions of `a` sorted by value, then by position (a stable argsort), from one sort of int64 keys."""
    bits = max(1, len(a).bit_length())
    return (np.sort((a.astype(np.int64) << bits) | np.arange(len(a), dtype=np.int64)) & ((1 << bits) - 1))


def _repeats(a: np.ndarray) -> np.ndarray:
    """Whether each value of `a` (non-negative, < 2**32) occurred at an earlier position."""
    order = _by_value_then_position(a)
    again = np.zeros(len(a), dtype=bool)
    again[order[1:]] = a[order[1:]] == a[order[:-1]]
    return again


def _first_occurrences(a: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`np.unique(a, return_index=True, return_inverse=True)` for non-negative values < 2**32."""
    if not len(a):
        return a, np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    order = _by_value_then_position(a)
    ordered = a[order]
    starts = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    inverse = np.empty(len(a), dtype=np.int64)
    inverse[order] = np.cumsum(starts) - 1
    return ordered[starts], order[starts], inverse


def _stable_seed(*parts: Any) -> int:
    """The seed of `stable_rng(*parts)` (sandbox.world.core), for a stream drawn through `_Words`."""
    return int(hashlib.sha256(":".join(str(p) for p in parts).encode()).hexdigest()[:16], 16)


def _sample_uses_set(n: int, k: int) -> bool:
    """Whether `random.sample` (CPython 3.11) picks with a set of drawn indexes rather than from a shrinking pool."""
    setsize = 21
    if k > 5:
        setsize += 4 ** math.ceil(math.log(k * 3, 4))
    return n > setsize


class People(Sequence[Person]):
    """The audience pool as columns (an index per age bucket, gender and country per person): the xlarge pool is
    9 million people, too many to hold as objects or to build one by one. Indexing gives a `Person`."""

    def __init__(self, age: np.ndarray, gender: np.ndarray, country: np.ndarray, countries: tuple[str, ...],
                 customer_ids: list[int]) -> None:
        self.age, self.gender, self.country = age, gender, country
        self.countries = countries
        """The distinct countries of the pool, sorted; `country` indexes into it."""
        self.customer_ids = customer_ids
        """The first `len(customer_ids)` people are these customers."""

    def __len__(self) -> int:
        return len(self.age)

    @overload
    def __getitem__(self, i: int) -> Person: ...
    @overload
    def __getitem__(self, i: slice) -> list[Person]: ...
    def __getitem__(self, i: int | slice) -> Person | list[Person]:
        if isinstance(i, slice):
            return [self[k] for k in range(*i.indices(len(self)))]
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        i = int(i)
        return Person(i, AGE_BUCKETS[self.age[i]], GENDERS[self.gender[i]], self.countries[self.country[i]],
                      self.customer_ids[i] if i < len(self.customer_ids) else None)

    def __iter__(self) -> Iterator[Person]:
        return (self[i] for i in range(len(self)))

    def column(self, dimension: str) -> tuple[np.ndarray, tuple[str, ...]]:
        """The column of `dimension` (age, gender or country) and the values its indexes stand for."""
        return {"age": (self.age, AGE_BUCKETS), "gender": (self.gender, GENDERS),
                "country": (self.country, self.countries)}[dimension]


@dataclass
class Post:
    """A Facebook Page post, an Instagram feed post or reel, or an Instagram story."""

    id: str
    platform: str
    """"facebook" or "instagram"."""
    kind: str
    """facebook: photo|video|link; instagram: IMAGE|CAROUSEL_ALBUM|REELS|STORY."""
    created: datetime
    caption: str
    final: dict[str, int]
    """Final (lifetime) metric values; `value(metric, at)` grows towards them."""

    def value(self, metric: str, at: datetime) -> int:
        age_hours = (at - self.created).total_seconds() / 3600
        if age_hours <= 0:
            return 0
        if self.kind == "STORY":
            age_hours = min(age_hours, 24)
            return int(self.final[metric] * min(1.0, age_hours / 20))
        return int(self.final[metric] * (1 - math.exp(-age_hours / 18)))

    @property
    def is_story(self) -> bool:
        return self.kind == "STORY"

    def expires_at(self) -> datetime | None:
        return self.created + timedelta(hours=24) if self.is_story else None


@dataclass
class MetaWorld:
    world: World
    people: People
    page_id: str
    page_name: str
    ig_user_id: str
    ig_username: str
    ad_account_id: str
    """Without the `act_` prefix."""
    business_id: str
    campaigns: list[Campaign]
    touches: list[Touch]
    posts: list[Post]
    fb_followers_start: int
    ig_followers_start: int

    def __post_init__(self) -> None:
        self.adsets = [s for c in self.campaigns for s in c.adsets]
        self.ads = [a for s in self.adsets for a in s.ads]
        self.campaigns_by_id = {c.id: c for c in self.campaigns}
        self.adsets_by_id = {s.id: s for s in self.adsets}
        self.ads_by_id = {a.id: a for a in self.ads}
        self.posts_by_id = {p.id: p for p in self.posts}
        self.touches_by_ad_day: dict[tuple[str, date], list[Touch]] = {}
        for t in self.touches:
            self.touches_by_ad_day.setdefault((t.ad_id, t.at.date()), []).append(t)
        self.customer_person = {c: i for i, c in enumerate(self.people.customer_ids)}
        self._delivery = lru_cache(maxsize=200_000)(self._delivery_uncached)
        self._eligible_cache: dict[tuple[str, ...], np.ndarray] = {}
        self._paid_reach: dict[date, int] = {}
        self._follows: dict[tuple[str, date], tuple[int, int]] = {}
        self._demographic_weights: dict[str, dict[str, int]] | None = None
        self._followers_cache: dict[str, dict[date, int]] = {}
        self._page_days: dict[date, dict[str, int]] = {}
        self._ig_days: dict[date, dict[str, int]] = {}
        self._cells: dict[tuple[tuple[str, ...], tuple[date, ...], tuple[str, ...]], dict[tuple[tuple[str, str], ...], dict[str, Any]]] = {}
        self._last_per_person: tuple[tuple[tuple[str, ...], tuple[date, ...]], _PerPerson | None] | None = None
        self._indexed = False
        self._index_lock = threading.Lock()

    @property
    def now(self) -> datetime:
        return self.world.now

    @property
    def first_day(self) -> date:
        return min(c.start for c in self.campaigns)

    def last_complete_day(self, now: datetime | None = None) -> date:
        """Meta serves today's partial figures too; the world's insights end with yesterday (complete days)."""
        return (now or self.now).date() - timedelta(days=1)

    # --- ads ------------------------------------------------------------------------------------------------
    def active_ads(self, d: date) -> list[Ad]:
        return [a for s in self.adsets if s.start <= d <= s.stop for a in s.ads]

    def delivery(self, ad_id: str, d: date) -> Delivery | None:
        return self._delivery(ad_id, d)  # type: ignore[no-any-return]

    def _delivery_uncached(self, ad_id: str, d: date) -> Delivery | None:
        ad = self.ads_by_id[ad_id]
        adset = self.adsets_by_id[ad.adset_id]
        if not adset.start <= d <= adset.stop:
            return None
        labels = (self.world.seed, self.world.scale.name, "meta-delivery", ad_id, d.isoformat())
        words = _Words(_stable_seed(*labels), ahead=6)  # the stream of `stable_rng(*labels)`
        spend = int(adset.daily_budget_cents / len(adset.ads) * words.uniform(0.85, 1.1))
        cpm = words.uniform(*CPM_CENTS)
        impressions_target = max(1, int(spend / cpm * 1000))
        eligible = self._eligible(adset.countries)
        reach_target = min(len(eligible), max(1, int(impressions_target / words.uniform(1.2, 1.7))))
        touches = self.touches_by_ad_day.get((ad_id, d), [])
        touched = np.array(sorted({t.person for t in touches}), dtype=np.int32)
        click_touched = np.array(sorted({t.person for t in touches if t.kind == "click"}), dtype=np.int32)
        if not _sample_uses_set(len(eligible), reach_target):  # a pool this small only in tiny worlds: Python's own draw
            rng = stable_rng(*labels)
            rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0, 1)
            return self._delivery_small(rng, spend, eligible, reach_target, touched, click_touched)
        # Draw for draw what `random.sample`, then a `random()` per person reached (impressions), per person (click)
        # and per clicker (link click) gave in the per-person loop (`tests/sandbox/meta` holds that loop as reference).
        words.reserve(7 * reach_target + 4 * len(touched) + 256)
        picked = eligible[words.sample_indexes(len(eligible), reach_target)]
        persons = _distinct(np.concatenate((picked, touched))) if len(touched) else np.sort(picked)
        counts = (1 + (words.randoms(len(persons)) < 0.45)).astype(np.int8)
        clicked = words.randoms(len(persons)) < 0.018
        at_touch = np.searchsorted(persons, click_touched)  # the touched are among the reached
        clicked[at_touch] = True
        where = np.flatnonzero(clicked)
        link_clicked = np.zeros(len(persons), dtype=bool)
        link_clicked[where] = words.randoms(len(where)) < 0.7
        link_clicked[at_touch] = True
        return Delivery(spend, persons, counts, clicked, link_clicked)

    @staticmethod
    def _delivery_small(rng: random.Random, spend: int, eligible: np.ndarray, reach_target: int, touched: np.ndarray,
                        click_touched: np.ndarray) -> Delivery:
        reached = set(rng.sample(eligible.tolist(), reach_target)) | set(touched.tolist())
        ordered = sorted(reached)
        counts = [1 + (1 if rng.random() < 0.45 else 0) for _ in ordered]
        clickers = {p for p in ordered if rng.random() < 0.018} | set(click_touched.tolist())
        link_clickers = {p for p in sorted(clickers) if rng.random() < 0.7} | set(click_touched.tolist())
        persons = np.array(ordered, dtype=np.int32)
        return Delivery(spend, persons, np.array(counts, dtype=np.int8), np.isin(persons, list(clickers)),
                        np.isin(persons, list(link_clickers)))

    def _eligible(self, countries: tuple[str, ...]) -> np.ndarray:
        """The indexes of the people in these countries, ascending (int32)."""
        if countries not in self._eligible_cache:
            codes = [i for i, c in enumerate(self.people.countries) if c in countries]
            self._eligible_cache[countries] = np.flatnonzero(np.isin(self.people.country, codes)).astype(np.int32)
        return self._eligible_cache[countries]

    def breakdown_cells(self, ad_ids: Sequence[str], days: Sequence[date], dimensions: Sequence[str]
                        ) -> tuple[dict[tuple[tuple[str, str], ...], dict[str, Any]], np.ndarray, np.ndarray]:
        """Delivery of these ads over these days per breakdown value of `dimensions` (age, gender, country; none: one
        cell): impressions, spend, reach (distinct people), clicks and link clicks. Also the people reached (ascending)
        and each one's cell index, to place a conversion in its cell.

        Summed per person first, then over a cell's people, in the order (ads, then days, then people ascending) the
        per-person dicts of the reference computation were filled, so that the float spend is the same to the bit."""
        return self._cells_of(self._per_person(ad_ids, days), dimensions)

    def _per_person(self, ad_ids: Sequence[str], days: Sequence[date]) -> _PerPerson | None:
        """The deliveries of these ads over these days summed per person (the part every breakdown shares)."""
        dvs = [dv for a in ad_ids for d in days if (dv := self.delivery(a, d)) is not None]
        if not dvs:
            return None
        if len(dvs) == 1:
            dv = dvs[0]
            return _PerPerson(dv, dv.persons, dv.counts.astype(np.int64), dv.spend_shares, dv.clicked.astype(np.int64),
                              dv.link_clicked.astype(np.int64), np.arange(len(dv.persons)))
        all_persons = np.concatenate([dv.persons for dv in dvs])
        persons, first, inverse = _first_occurrences(all_persons)
        imps = np.bincount(inverse, weights=np.concatenate([dv.counts for dv in dvs]), minlength=len(persons)).astype(np.int64)
        # bincount adds each weight to its bin in input order, as `np.add.at` (the same floats to the bit) but in one
        # pass without add.at's per-element dispatch (a 28-day reach report's union is ~10^6 deliveries of people).
        spend = np.bincount(inverse, weights=np.concatenate([dv.spend_shares for dv in dvs]), minlength=len(persons))
        clicks = np.bincount(inverse[np.concatenate([dv.clicked for dv in dvs])], minlength=len(persons))
        links = np.bincount(inverse[np.concatenate([dv.link_clicked for dv in dvs])], minlength=len(persons))
        first_seen = np.argsort(first)  # positions are distinct: any sort keeps their order
        return _PerPerson(None, persons, imps, spend, clicks, links, first_seen)

    def _cells_of(self, pp: _PerPerson | None, dimensions: Sequence[str]
                  ) -> tuple[dict[tuple[tuple[str, str], ...], dict[str, Any]], np.ndarray, np.ndarray]:
        if pp is None:
            return {}, np.empty(0, dtype=np.int32), np.empty(0, dtype=np.int64)
        persons = pp.persons
        if pp.single is not None and not dimensions:
            return {(): pp.single.cell}, persons, np.zeros(len(persons), dtype=np.int64)
        cell = np.zeros(len(persons), dtype=np.int64)
        labels: list[tuple[tuple[str, str], ...]] = [()]
        for dimension in dimensions:
            column, values = self.people.column(dimension)
            cell = cell * len(values) + column[persons]
            labels = [k + ((dimension, v),) for k in labels for v in values]
        n = len(labels)
        reach = np.bincount(cell, minlength=n)
        cell_imps = np.bincount(cell, weights=pp.imps, minlength=n)
        cell_clicks = np.bincount(cell, weights=pp.clicks, minlength=n)
        cell_links = np.bincount(cell, weights=pp.links, minlength=n)
        first_seen = pp.first_seen
        # people in the order they were first reached (bincount sums in input order, as add.at did)
        cell_spend = np.bincount(cell[first_seen], weights=pp.spend[first_seen], minlength=n)
        out = {labels[i]: {"impressions": int(cell_imps[i]), "spend": float(cell_spend[i]), "reach": int(reach[i]),
                           "clicks": int(cell_clicks[i]), "links": int(cell_links[i])}
               for i in np.flatnonzero(reach).tolist()}
        return out, persons, cell

    def cells(self, ad_ids: Sequence[str], days: Sequence[date], dimensions: Sequence[str]) -> dict[tuple[tuple[str, str], ...], dict[str, Any]]:
        """`breakdown_cells(...)[0]`, computed once per (ads, days, dimensions): a report's page is then lookups, not a
        pass over the people reached. The people themselves are not kept (see `cell_index`)."""
        key = (tuple(ad_ids), tuple(days), tuple(dimensions))
        found = self._cells.get(key)
        if found is None:
            # The last per-person sums are kept: the 28-day reach reports ask for the same ads and days by two
            # breakdowns in a row (age+gender, country), a union over every delivery of the window each time.
            # Only multi-day unions are kept: a day's own cells (a re-read window's new day) come between the two.
            last = self._last_per_person
            if last is None or last[0] != key[:2]:
                last = (key[:2], self._per_person(ad_ids, days))
                if len(days) > 1:
                    self._last_per_person = last
            found = self._cells[key] = self._cells_of(last[1], dimensions)[0]
        return found

    def cell_index(self, person: int, dimensions: Sequence[str]) -> int:
        """The index of `person`'s cell among `breakdown_cells`' labels for `dimensions` (its `cell_of` value)."""
        index = 0
        for dimension in dimensions:
            column, values = self.people.column(dimension)
            index = index * len(values) + int(column[person])
        return index

    def index(self) -> None:
        """Compute, once, what the simulator's pages are read from: every ad's delivery on every day of the world (to
        its pre-generated end), each day's cells per ad, ad set, campaign and the account for every breakdown the API
        accepts, the followers on each day (they grow with the day's paid reach) and the followers' mix. The simulator
        calls it on its first Meta request, so that a page costs lookups and not the audience pool's draws (the pool
        grows with the world's scale, the campaigns do not)."""
        with self._index_lock:
            if self._indexed:
                return
            last = self.world.end_time.date()
            groups = ([(a.id,) for a in self.ads] + [tuple(a.id for a in s.ads) for s in self.adsets]
                      + [tuple(a.id for s in c.adsets for a in s.ads) for c in self.campaigns] + [tuple(a.id for a in self.ads)])
            for d in days_between(self.first_day, last):
                active = {a.id for a in self.active_ads(d)}
                for ids in groups:
                    if active.intersection(ids):
                        pp = self._per_person(ids, (d,))  # once for the five breakdowns
                        for dims in BREAKDOWNS:
                            self._cells[ids, (d,), dims] = self._cells_of(pp, dims)[0]
            for platform in ("facebook", "instagram"):
                self.followers_end_of(platform, last)
            self.demographic_weights()  # a pass over a third of the pool
            self._indexed = True

    def attributed(self, touch: Touch, window: str) -> bool:
        """Whether `touch` earns the order under `window` (e.g. 7d_click), as Meta counts it."""
        gap = touch.order_at - touch.at
        if gap < timedelta(0):
            return False
        if window in CLICK_WINDOWS:
            return touch.kind == "click" and gap <= timedelta(days=CLICK_WINDOWS[window])
        if window in VIEW_WINDOWS:
            return touch.kind == "view" and gap <= timedelta(days=VIEW_WINDOWS[window])
        return False

    def attributed_setting(self, touch: Touch, setting: str = ATTRIBUTION_SETTING) -> bool:
        windows = {"7d_click_1d_view": ("7d_click", "1d_view"), "1d_click": ("1d_click",), "7d_click": ("7d_click",),
                   "1d_click_1d_view": ("1d_click", "1d_view")}[setting]
        return any(self.attributed(touch, w) for w in windows)

    def conversions(self, ad_ids: Iterable[str], d: date, now: datetime, person_filter: Any = None) -> list[Touch]:
        """Touches on day `d` by these ads whose order had happened by `now` (reported on the touch day)."""
        out = []
        for ad_id in ad_ids:
            for t in self.touches_by_ad_day.get((ad_id, d), []):
                if t.order_at <= now and (person_filter is None or person_filter(self.people[t.person])):
                    out.append(t)
        return out

    def reach(self, ad_ids: Iterable[str], days: Iterable[date], person_filter: Any = None) -> int:
        """Distinct people reached by these ads over these days: a union, never a sum."""
        seen: set[int] = set()
        for d in days:
            for ad_id in ad_ids:
                dv = self.delivery(ad_id, d)
                if dv is not None:
                    seen.update(p for p in dv.impressions if person_filter is None or person_filter(self.people[p]))
        return len(seen)

    def ads_manager(self, campaign_id: str | None, since: date, until: date, now: datetime | None = None,
                    setting: str = ATTRIBUTION_SETTING) -> dict[str, Any]:
        """What Ads Manager shows for a campaign (or the account) over [since, until] with an attribution setting:
        spend, reach (distinct people), purchases and purchase value of the orders its clicks and views earned, ROAS."""
        now = now or self.now
        ads = [a.id for a in self.ads if campaign_id is None or a.campaign_id == campaign_id]
        days = list(days_between(since, min(until, self.last_complete_day(now))))
        spend = 0
        for d in days:
            for ad_id in ads:
                dv = self.delivery(ad_id, d)
                spend += dv.spend_cents if dv else 0
        won = [t for d in days for t in self.conversions(ads, d, now) if self.attributed_setting(t, setting)]
        value = sum(t.value_cents for t in won)
        return {"spend_cents": spend, "purchases": len(won), "purchase_value_cents": value,
                "reach": self.reach(ads, days), "roas": (value / spend) if spend else None}

    # --- organic --------------------------------------------------------------------------------------------
    def paid_reach(self, d: date) -> int:
        """Distinct people the ads reached on day `d` (what `reach` gives for the day's active ads), once per day."""
        if d not in self._paid_reach:
            dvs = [dv for a in self.active_ads(d) if (dv := self.delivery(a.id, d)) is not None]
            self._paid_reach[d] = len(_distinct(np.concatenate([dv.persons for dv in dvs]))) if dvs else 0
        return self._paid_reach[d]

    def follows(self, platform: str, d: date) -> tuple[int, int]:
        """(new followers, unfollows) on day `d`: a base rate plus a share of the day's paid reach."""
        if (platform, d) not in self._follows:
            rng = stable_rng(self.world.seed, self.world.scale.name, "meta-follows", platform, d.isoformat())
            base = 3 if platform == "facebook" else 4
            new = base + int(self.paid_reach(d) * (0.004 if platform == "facebook" else 0.006)) + rng.randint(0, 3)
            self._follows[platform, d] = (new, rng.randint(0, 2))
        return self._follows[platform, d]

    def followers_end_of(self, platform: str, d: date) -> int:
        """Followers at the end of day `d` (cumulative from the world's start)."""
        cache = self._followers_cache.setdefault(platform, {})
        if d not in cache:
            count = self.fb_followers_start if platform == "facebook" else self.ig_followers_start
            day = self.world.start_time.date()
            known = [k for k in cache if k < d]
            if known:
                day = max(known)
                count = cache[day]
                day += timedelta(days=1)
            while day <= d:
                new, gone = self.follows(platform, day)
                count += new - gone
                cache[day] = count
                day += timedelta(days=1)
        return cache.get(d, self.fb_followers_start if platform == "facebook" else self.ig_followers_start)

    def followers_at(self, platform: str, now: datetime) -> int:
        """Followers now: the end of yesterday plus today's follows so far (pro rata)."""
        yesterday = self.followers_end_of(platform, now.date() - timedelta(days=1))
        new, gone = self.follows(platform, now.date())
        part = (now - day_start(now.date())).total_seconds() / 86400
        return yesterday + int((new - gone) * part)

    def visible_posts(self, platform: str, now: datetime, stories: bool = False) -> list[Post]:
        return [p for p in self.posts if p.platform == platform and p.created <= now and p.is_story == stories]

    def post_day_increment(self, post: Post, metric: str, d: date) -> int:
        return post.value(metric, day_start(d + timedelta(days=1))) - post.value(metric, day_start(d))

    def page_day(self, d: date) -> dict[str, int]:
        """The Page's daily insights for day `d` (complete days only)."""
        if d not in self._page_days:
            self._page_days[d] = self._page_day(d)
        return self._page_days[d]

    def _page_day(self, d: date) -> dict[str, int]:
        end = day_start(d + timedelta(days=1))
        posts = [p for p in self.posts if p.platform == "facebook" and end - timedelta(days=30) < p.created < end]
        inc = {m: sum(self.post_day_increment(p, m, d) for p in posts) for m in ("views", "reach", "reactions", "comments", "shares")}
        rng = stable_rng(self.world.seed, self.world.scale.name, "meta-page-day", d.isoformat())
        profile_views = rng.randint(20, 60)
        new, gone = self.follows("facebook", d)
        return {
            "page_media_view": inc["views"] + profile_views,
            "page_total_media_view_unique": int(inc["reach"] * 0.92) + profile_views // 2,
            "page_post_engagements": inc["reactions"] + inc["comments"] + inc["shares"],
            "page_follows": self.followers_end_of("facebook", d),
            "page_daily_follows_unique": new,
            "page_daily_unfollows_unique": gone,
        }

    def ig_day(self, d: date) -> dict[str, int]:
        """The Instagram account's daily insights for day `d`."""
        if d not in self._ig_days:
            self._ig_days[d] = self._ig_day(d)
        return self._ig_days[d]

    def _ig_day(self, d: date) -> dict[str, int]:
        end = day_start(d + timedelta(days=1))
        posts = [p for p in self.posts if p.platform == "instagram" and end - timedelta(days=30) < p.created < end]
        inc = {m: sum(self.post_day_increment(p, m, d) for p in posts if m in p.final)
               for m in ("views", "reach", "total_interactions")}
        new, gone = self.follows("instagram", d)
        return {"views": inc["views"], "reach": int(inc["reach"] * 0.9), "total_interactions": inc["total_interactions"],
                "follows": new, "unfollows": gone, "follower_count": new}

    def ig_follower_demographics(self, now: datetime) -> dict[str, dict[str, int]]:
        """Followers by age, gender, country and city, each breakdown summing to the current follower count."""
        total = self.followers_at("instagram", now)
        return {k: _apportion(w, total) for k, w in self.demographic_weights().items()}

    def demographic_weights(self) -> dict[str, dict[str, int]]:
        """The followers' mix: the first third of the pool by age (one in nine 18-24s is 13-17), gender, country and
        city, each counted in the order its values first appear. Counted once (it does not change with time)."""
        if self._demographic_weights is None:
            n = max(1, len(self.people) // 3)
            index = np.arange(n)
            age, gender, country = self.people.age[:n], self.people.gender[:n], self.people.country[:n]
            teen = len(IG_AGE_BUCKETS) - len(AGE_BUCKETS)  # "13-17" comes first in IG_AGE_BUCKETS
            ig_age = np.where((age == AGE_BUCKETS.index("18-24")) & (index % 9 == 0), 0, age + teen)
            city_names = [f"{c}|{city}" for c in self.people.countries for city in CITIES[c]]
            city_base = np.cumsum([0] + [len(CITIES[c]) for c in self.people.countries])[:-1]
            city_count = np.array([len(CITIES[c]) for c in self.people.countries])
            city = city_base[country] + index % city_count[country]
            gender_code = {"female": "F", "male": "M", "unknown": "U"}
            self._demographic_weights = {
                "age": _first_seen_counts(ig_age, list(IG_AGE_BUCKETS)),
                "gender": _first_seen_counts(gender, [gender_code[g] for g in GENDERS]),
                "country": _first_seen_counts(country, list(self.people.countries)),
                "city": _first_seen_counts(city, [c.split("|", 1)[1] for c in city_names]),
            }
        return self._demographic_weights


def _first_seen_counts(codes: np.ndarray, names: list[str]) -> dict[str, int]:
    """How often each code occurs, keyed by its name, in the order the codes first occur."""
    values, first, counts = np.unique(codes, return_index=True, return_counts=True)
    return {names[int(values[i])]: int(counts[i]) for i in np.argsort(first, kind="stable")}


def _apportion(weights: dict[str, int], total: int) -> dict[str, int]:
    """Largest-remainder split of `total` in proportion to `weights` (the parts add up exactly)."""
    s = sum(weights.values())
    raw = {k: total * v / s for k, v in weights.items()}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: (raw[k] - out[k], k), reverse=True)[: total - sum(out.values())]:
        out[k] += 1
    return out


def _choices(r: random.Random, weights: Sequence[int]) -> int:
    """The index `r.choices(population, weights)[0]` picks (one `random()`, bisected into the cumulated weights)."""
    cum = list(accumulate(weights))
    return bisect(cum, r.random() * (cum[-1] + 0.0), 0, len(cum) - 1)


def _people(world: World, rng: random.Random) -> People:
    """The audience pool: the customers (each from its own stream), then `60 x customers` prospects drawn from `rng`
    (an age bucket, a gender and a country each, one `random()` per choice), drawn in bulk with the same words."""
    seed = world.seed
    customer_ids, ages, genders, country_names = [], [], [], []
    for c in world.customers:
        r = stable_rng(seed, "meta-person", c.id)
        customer_ids.append(c.id)
        ages.append(_choices(r, AGE_WEIGHTS))
        genders.append(_choices(r, GENDER_WEIGHTS))
        country_names.append(c.country_code)
    prospect_countries = [c for c, _ in PROSPECT_COUNTRIES]
    countries = tuple(sorted(set(country_names) | set(prospect_countries)))
    code = {c: i for i, c in enumerate(countries)}
    prospect_code = np.array([code[c] for c in prospect_countries], dtype=np.uint8)
    age = [np.array(ages, dtype=np.uint8)]
    gender = [np.array(genders, dtype=np.uint8)]
    country = [np.array([code[c] for c in country_names], dtype=np.uint8)]
    cums = [np.array(list(accumulate(w)), dtype=np.float64) for w in (AGE_WEIGHTS, GENDER_WEIGHTS, [w for _, w in PROSPECT_COUNTRIES])]
    words = _Words(_stable_seed(world.seed, world.scale.name, "meta"), ahead=0)  # `rng`'s stream, not drawn from yet
    left = world.scale.customers * 60
    while left:
        n = min(left, 1_000_000)  # in slices: the xlarge pool's words at once would be 430 MB
        draws = words.randoms(3 * n).reshape(n, 3)
        picks = [np.minimum(np.searchsorted(cum[:-1], draws[:, i] * cum[-1], side="right"), len(cum) - 1).astype(np.uint8)
                 for i, cum in enumerate(cums)]
        age.append(picks[0])
        gender.append(picks[1])
        country.append(prospect_code[picks[2]])
        left -= n
    words.sync(rng)
    return People(np.concatenate(age), np.concatenate(gender), np.concatenate(country), countries, customer_ids)


def generate(world: World) -> MetaWorld:
    seed, scale = world.seed, world.scale.name
    rng = stable_rng(seed, scale, "meta")
    people = _people(world, rng)

    account = meta_id("ad-account")
    budget_scale = max(1.0, world.scale.customers / 120) ** 0.5
    campaigns: list[Campaign] = []

    def campaign(key: str, name: str, objective: str, start: date, stop: date, budget_cents: int) -> Campaign:
        cid = meta_id(seed, "campaign", key, digits=18, prefix="")
        created = day_start(start) - timedelta(days=2, hours=-10)
        camp = Campaign(cid, name, objective, start, stop, created)
        for s, (audience, countries_) in enumerate((("US & Canada", ("US", "CA")), ("Europe", ("GB", "DE", "FR")))):
            sid = meta_id(seed, "adset", key, s, digits=18)
            adset = AdSet(sid, f"{name} · {audience}", cid, int(budget_cents * (0.65 if s == 0 else 0.35) * budget_scale),
                          countries_, start, stop, created)
            for a, creative in enumerate(("Carousel", "Reel")):
                adset.ads.append(Ad(meta_id(seed, "ad", key, s, a, digits=18), f"{name} · {audience} · {creative}", sid, cid, created))
            camp.adsets.append(adset)
        return camp

    first = world.start_time.date() + timedelta(days=30)
    last = world.end_time.date()
    campaigns.append(campaign("evergreen", "Retargeting · evergreen", "OUTCOME_SALES", first, last, 500))
    n, start = 0, first + timedelta(days=10)
    themes = ("New harvest", "Brew gear", "Subscription club", "Holiday gifts", "Espresso week", "Spring roasts")
    while start < last:
        n += 1
        length = rng.randint(14, 35)
        stop = min(last, start + timedelta(days=length - 1))
        campaigns.append(campaign(f"flight-{n}", f"{themes[n % len(themes)]} · prospecting", "OUTCOME_SALES", start, stop,
                                  rng.choice((700, 1000, 1400))))
        start = stop + timedelta(days=rng.randint(15, 30))

    # Touches: some orders placed while an ad runs were preceded by a click or a view on that ad.
    customer_person = {c: i for i, c in enumerate(people.customer_ids)}
    touches: list[Touch] = []
    by_country_day: dict[tuple[str, date], list[Ad]] = {}
    adsets = [s for c in campaigns for s in c.adsets]
    for order in world.orders:
        if order.cancelled_at is not None:
            continue
        r = stable_rng(seed, scale, "meta-touch", order.id)
        if r.random() >= AD_TOUCH_SHARE:
            continue
        country = world.customer_by_id(order.customer_id).country_code
        view = r.random() < VIEW_TOUCH_SHARE
        gap = timedelta(hours=r.uniform(2, 22)) if view else timedelta(hours=r.uniform(0.2, 240))
        at = (order.created_at - gap).replace(microsecond=0)
        key = (country, at.date())
        if key not in by_country_day:
            by_country_day[key] = [a for s in adsets if s.start <= at.date() <= s.stop and country in s.countries for a in s.ads]
        candidates = by_country_day[key]
        if not candidates:
            continue
        ad = r.choice(candidates)
        touches.append(Touch(order.id, order.customer_id, customer_person[order.customer_id], ad.id,
                             "view" if view else "click", at, order.created_at, order.total_cents))

    # Organic content.
    posts: list[Post] = []
    page_id, ig_id = meta_id("page"), meta_id("ig-user", digits=17)
    fb_followers, ig_followers = 1200 * int(budget_scale ** 2), 900 * int(budget_scale ** 2)
    d = world.start_time.date()
    k = 0
    subjects = ("our new Ethiopia lot", "the pour-over ritual", "a roast day", "the burr grinder", "a cafe we love",
                "cold brew season", "the tasting table", "our roaster's notes")
    while d <= last:
        k += 1
        r = stable_rng(seed, scale, "meta-post", d.isoformat())
        subject = subjects[k % len(subjects)]
        if k % 3 == 0:
            kind = r.choice(("photo", "photo", "video", "link"))
            reach = int(fb_followers * r.uniform(0.06, 0.22))
            posts.append(Post(f"{page_id}_{meta_id(seed, 'fb-post', k, digits=16)}", "facebook", kind,
                              day_start(d) + timedelta(hours=17, minutes=r.randint(0, 50)), f"Behind the scenes: {subject}.",
                              {"reach": reach, "views": int(reach * r.uniform(1.2, 1.6)), "reactions": int(reach * r.uniform(0.02, 0.07)),
                               "comments": int(reach * r.uniform(0.002, 0.01)), "shares": int(reach * r.uniform(0.001, 0.006)),
                               "clicks": int(reach * r.uniform(0.01, 0.03))}))
        if k % 2 == 0:
            kind = r.choice(("IMAGE", "CAROUSEL_ALBUM", "REELS", "REELS"))
            reach = int(ig_followers * r.uniform(0.1, 0.35) * (1.8 if kind == "REELS" else 1))
            likes, comments = int(reach * r.uniform(0.03, 0.09)), int(reach * r.uniform(0.002, 0.01))
            saved, shares = int(reach * r.uniform(0.005, 0.02)), int(reach * r.uniform(0.002, 0.012))
            posts.append(Post(meta_id(seed, "ig-media", k, digits=17), "instagram", kind,
                              day_start(d) + timedelta(hours=13, minutes=r.randint(0, 50)), f"{subject.capitalize()} #coffee",
                              {"reach": reach, "views": int(reach * r.uniform(1.3, 2.5)), "likes": likes, "comments": comments,
                               "saved": saved, "shares": shares, "total_interactions": likes + comments + saved + shares}))
        if k % 2 == 1:
            reach = int(ig_followers * r.uniform(0.04, 0.12))
            replies, shares = int(reach * r.uniform(0.002, 0.01)), int(reach * r.uniform(0.001, 0.005))
            posts.append(Post(meta_id(seed, "ig-story", k, digits=17), "instagram", "STORY",
                              day_start(d) + timedelta(hours=9, minutes=r.randint(0, 50)), f"Today: {subject}",
                              {"reach": reach, "views": int(reach * r.uniform(1.05, 1.3)), "replies": replies, "shares": shares,
                               "total_interactions": replies + shares}))
        d += timedelta(days=1)
    return MetaWorld(world, people, page_id, "Northwind Roasters", ig_id, "northwind.roasters", account,
                     meta_id("business"), campaigns, touches, posts, fb_followers, ig_followers)
