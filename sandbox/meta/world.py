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
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any

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


@dataclass(frozen=True)
class Delivery:
    """One ad on one day: what it spent and whom it reached."""

    spend_cents: int
    impressions: dict[int, int]
    """Person index -> impressions."""
    clickers: frozenset[int]
    link_clickers: frozenset[int]


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
    people: list[Person]
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
        self.customer_person = {p.customer_id: p.index for p in self.people if p.customer_id is not None}
        self._delivery = lru_cache(maxsize=200_000)(self._delivery_uncached)
        self._eligible_cache: dict[tuple[str, ...], list[int]] = {}
        self._followers_cache: dict[str, dict[date, int]] = {}
        self._page_days: dict[date, dict[str, int]] = {}
        self._ig_days: dict[date, dict[str, int]] = {}

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
        rng = stable_rng(self.world.seed, self.world.scale.name, "meta-delivery", ad_id, d.isoformat())
        spend = int(adset.daily_budget_cents / len(adset.ads) * rng.uniform(0.85, 1.1))
        cpm = rng.uniform(*CPM_CENTS)
        impressions_target = max(1, int(spend / cpm * 1000))
        eligible = self._eligible(adset.countries)
        reach_target = min(len(eligible), max(1, int(impressions_target / rng.uniform(1.2, 1.7))))
        reached = set(rng.sample(eligible, reach_target))
        touched = {t.person for t in self.touches_by_ad_day.get((ad_id, d), [])}
        reached |= touched
        impressions = {p: 1 + (1 if rng.random() < 0.45 else 0) for p in sorted(reached)}
        ordered = sorted(reached)
        clickers = {p for p in ordered if rng.random() < 0.018}
        clickers |= {t.person for t in self.touches_by_ad_day.get((ad_id, d), []) if t.kind == "click"}
        link_clickers = {p for p in sorted(clickers) if rng.random() < 0.7}
        link_clickers |= {t.person for t in self.touches_by_ad_day.get((ad_id, d), []) if t.kind == "click"}
        return Delivery(spend, impressions, frozenset(clickers), frozenset(link_clickers))

    def _eligible(self, countries: tuple[str, ...]) -> list[int]:
        if countries not in self._eligible_cache:
            self._eligible_cache[countries] = [p.index for p in self.people if p.country in countries]
        return self._eligible_cache[countries]

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
    def follows(self, platform: str, d: date) -> tuple[int, int]:
        """(new followers, unfollows) on day `d`: a base rate plus a share of the day's paid reach."""
        rng = stable_rng(self.world.seed, self.world.scale.name, "meta-follows", platform, d.isoformat())
        base = 3 if platform == "facebook" else 4
        paid = self.reach([a.id for a in self.active_ads(d)], [d])
        new = base + int(paid * (0.004 if platform == "facebook" else 0.006)) + rng.randint(0, 3)
        return new, rng.randint(0, 2)

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
        weights: dict[str, dict[str, float]] = {"age": {}, "gender": {}, "country": {}, "city": {}}
        gender_code = {"female": "F", "male": "M", "unknown": "U"}
        for p in self.people[: max(1, len(self.people) // 3)]:
            age = p.age if p.age != "18-24" or p.index % 9 else "13-17"
            weights["age"][age] = weights["age"].get(age, 0) + 1
            weights["gender"][gender_code[p.gender]] = weights["gender"].get(gender_code[p.gender], 0) + 1
            weights["country"][p.country] = weights["country"].get(p.country, 0) + 1
            cities = CITIES[p.country]
            city = cities[p.index % len(cities)]
            weights["city"][city] = weights["city"].get(city, 0) + 1
        return {k: _apportion(w, total) for k, w in weights.items()}


def _apportion(weights: dict[str, float], total: int) -> dict[str, int]:
    """Largest-remainder split of `total` in proportion to `weights` (the parts add up exactly)."""
    s = sum(weights.values())
    raw = {k: total * v / s for k, v in weights.items()}
    out = {k: int(v) for k, v in raw.items()}
    for k in sorted(raw, key=lambda k: (raw[k] - out[k], k), reverse=True)[: total - sum(out.values())]:
        out[k] += 1
    return out


def generate(world: World) -> MetaWorld:
    seed, scale = world.seed, world.scale.name
    rng = stable_rng(seed, scale, "meta")
    people: list[Person] = []
    for c in world.customers:
        r = stable_rng(seed, "meta-person", c.id)
        people.append(Person(len(people), r.choices(AGE_BUCKETS, AGE_WEIGHTS)[0], r.choices(GENDERS, GENDER_WEIGHTS)[0],
                             c.country_code, c.id))
    prospects = world.scale.customers * 60
    countries = [c for c, _ in PROSPECT_COUNTRIES]
    cweights = [w for _, w in PROSPECT_COUNTRIES]
    for _ in range(prospects):
        people.append(Person(len(people), rng.choices(AGE_BUCKETS, AGE_WEIGHTS)[0], rng.choices(GENDERS, GENDER_WEIGHTS)[0],
                             rng.choices(countries, cweights)[0]))

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
    customer_person = {p.customer_id: p.index for p in people if p.customer_id is not None}
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
