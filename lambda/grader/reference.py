"""The reference solver: an example agent for SCENARIO=hard, small and plain on purpose.

It reads what an AI may read and nothing else: the data index's documents and the change
events, with the history before the range. It never sees the answer key, the seed, the
catalog's draws or the generator's state. What it knows of the kinds is what
docs/scenarios.md publishes (the label definitions and the evidence table), as an expert
operator would know their systems.

Per merchant and hour:
1. Usual values: the median, over the previous WEEKS weeks, of the same hour of the week
   (offsets are fixed, so that is the same local hour and weekday); for conversion, of the
   same hour over the previous DAYS days and those weeks.
2. Evidence over the last POOL hours, as sums of counts (one hour of a small merchant is
   mostly noise): conversion and sessions per channel, each error code, latency.
3. A label fires when its published definition holds against the usual values.
4. Its cause is the row of the evidence table the evidence matches (which code rose, which
   channel fell, latency, the events just before), or a benign look-alike's (no finding).
5. One finding per merchant, label and episode (the label firing with gaps of at most QUIET
   hours), at the hour the cause was decided, with that cause.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import datetime

from generator import HIGH_ERROR_RATE, LOW_CONVERSION, MISSING_LOCATION, TRAFFIC_DROP, hour_index, stamp
from grader import baseline
from grader.scoring import hour_of

WEEKS = 4
DAYS = 7
# The hours back whose conversion gives the usual rate: the last DAYS days and the WEEKS weeks.
RATE_HOURS_BACK = sorted({24 * day for day in range(1, DAYS + 1)} | {168 * week for week in range(1, WEEKS + 1)})
HISTORY_HOURS = WEEKS * 168 + 30
POOL = 3
QUIET = 6
CONFIRM = 2  # the closed loop acts once the cause held 2 more hours
OUTAGE_HOURS = 24  # an outage's merchants seen within a day: one failover
LEVEL_HOURS, LEVEL_GAP = 12, 3
# The episode state at the range's start is worked out from this many hours before it,
# so a run of one hour finds what a run of a month finds in that hour.
LEAD_HOURS = 12
# How long a location loss waits for a geocoder status notice (they lag 1-3 h).
STATUS_WAIT = 3

CODES = ("declined", "timeout", "provider_unavailable", "fraud_blocked", "authentication_failed",
         "invalid_request")
CHANNELS = ("web", "app")
LEVELS = ("conversion", "sessions", "web_sessions", "app_sessions", "transactions")
# Everything the solver reads of a document.
OBSERVED_FIELDS = ("merchant_id", "timestamp", "payment_provider", "sessions", "transaction_count",
                   "failed_transactions", "location", "errors_by_code", "latency_p95_ms", "channels")

# The published root causes and accepted actions of the kinds it can name (docs/scenarios.md).
CAUSES = {
    "provider_outage": ("dependency", "payment_provider:{provider}", "failover_payment_provider"),
    "timeout_misconfiguration": ("configuration", "payment_gateway", "raise_gateway_timeout"),
    "fraud_rules_too_strict": ("risk_policy", "fraud_rules", "relax_fraud_rules"),
    "expired_credentials": ("credentials", "api_credentials", "rotate_api_credentials"),
    "channel_checkout_regression": ("code_defect", "checkout_release", "rollback_release"),
    "three_ds_failure": ("dependency", "three_d_secure", "switch_3ds_provider"),
    "pricing_error": ("configuration", "pricing", "revert_price_change"),
    "dns_misconfiguration": ("configuration", "storefront_dns", "fix_dns_record"),
    "app_crash_release": ("code_defect", "app_release", "rollback_app_release"),
    "cdn_outage": ("dependency", "cdn", "failover_cdn"),
    "location_feed_outage": ("data_pipeline", "location_feed", "restore_location_feed"),
    "merchant_record_edit": ("configuration", "merchant_record", "restore_merchant_record"),
    "geocoder_outage": ("dependency", "geocoder", "failover_geocoder"),
}
# The code each error cause raises (provider_unavailable: an outage or planned maintenance).
CODE_CAUSES = {"provider_unavailable": "provider_outage", "timeout": "timeout_misconfiguration",
               "fraud_blocked": "fraud_rules_too_strict", "authentication_failed": "expired_credentials"}
BENIGN = "benign"  # a look-alike: the label fires, but nothing is wrong
WAIT = None  # the cause is not decided yet


def _count(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a whole number from 0")
    return value


def checked(doc) -> dict:
    """What the solver reads of a document from an untrusted file, its fields checked: a ValueError
    naming the first that is not as the generator writes it."""
    doc = {**doc, **baseline.checked(doc)} if isinstance(doc, dict) else baseline.checked(doc)
    for name in ("transaction_count", "failed_transactions"):
        _count(doc.get(name), name)
    if "latency_p95_ms" in doc:
        _count(doc["latency_p95_ms"], "latency_p95_ms")
    for code, value in (doc.get("errors_by_code") or {}).items():
        _count(value, f"errors_by_code.{code}")
    for channel, counts in (doc.get("channels") or {}).items():
        if not isinstance(counts, dict):
            raise ValueError(f"channels.{channel} must be an object")
        for name in ("sessions", "transactions"):
            _count(counts.get(name, 0), f"channels.{channel}.{name}")
    return {name: doc[name] for name in OBSERVED_FIELDS if name in doc}


def _counts(doc: dict) -> dict:
    """The additive numbers of one document."""
    out = {"sessions": doc["sessions"], "transactions": doc["transaction_count"],
           "failed": doc["failed_transactions"]}
    for code in CODES:
        out[code] = doc.get("errors_by_code", {}).get(code, 0)
    for channel in CHANNELS:
        counts = doc.get("channels", {}).get(channel, {})
        out[f"{channel}_sessions"] = counts.get("sessions", 0)
        out[f"{channel}_transactions"] = counts.get("transactions", 0)
    return out


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole else None


class Merchant:
    """One merchant's documents by hour, and the evidence at any hour against its usual."""

    def __init__(self, docs: dict, unusual: set = frozenset()):
        self.docs = docs  # hour -> document
        self.unusual = unusual  # hours that are nobody's usual: announced campaigns
        self._counts: dict = {}
        self._pooled: dict = {}
        self._ratios: dict = {}
        self._volatility: dict = {}

    def counts(self, h: int) -> dict | None:
        if h not in self._counts:
            self._counts[h] = _counts(self.docs[h]) if h in self.docs else None
        return self._counts[h]

    def pooled(self, h: int, pool: int = POOL) -> dict | None:
        """Sums of the counts over the pool hours ending at h, latency their median; None if any is missing."""
        if (h, pool) not in self._pooled:
            hours = range(h - pool + 1, h + 1)
            out = None
            counts = [self.counts(p) for p in hours]
            if all(counts):
                out = {key: sum(c[key] for c in counts) for key in counts[0]}
                out["latency"] = statistics.median(self.docs[p].get("latency_p95_ms", 0) for p in hours)
            self._pooled[(h, pool)] = out
        return self._pooled[(h, pool)]

    def usual(self, h: int, pool: int = POOL) -> dict | None:
        """The median of each pooled value at the same hour of the week over the previous WEEKS weeks
        (visitors follow the weekday), and the usual conversion (all, web, app): the median rate at
        the same hour of the previous DAYS days and of those weeks (buyers follow the hour and drift,
        not the weekday; neither two bad weeks of four nor a held incident's bad days move it)."""
        past = [pooled for week in range(1, WEEKS + 1)
                if h - 168 * week not in self.unusual and (pooled := self.pooled(h - 168 * week, pool))]
        days = [pooled for hours in RATE_HOURS_BACK if (pooled := self.pooled(h - hours, pool))]
        if len(past) < 2 or len(days) < 2:
            return None
        out = {key: statistics.median(p[key] for p in past) for key in past[0]}
        for prefix in ("", "web_", "app_"):
            out[prefix + "conversion"] = statistics.median(
                _ratio(p[prefix + "transactions"], p[prefix + "sessions"]) or 0.0 for p in days)
        return out

    def ratios(self, h: int) -> dict | None:
        """Conversion, sessions (all, web, app) and transactions at h against their usual, pooled."""
        if h not in self._ratios:
            now, usual = self.pooled(h), self.usual(h)
            self._ratios[h] = None if not (now and usual) else {
                "conversion": _ratio(_ratio(now["transactions"], now["sessions"]) or 0.0,
                                     usual["conversion"]),
                **{key: _ratio(now[key], usual[key]) for key in LEVELS[1:]}}
        return self._ratios[h]

    def level(self, h: int) -> dict:
        """Where the merchant has been lately against its usual: per ratio, the median over the day
        before the last LEVEL_GAP hours (1.0 without history). A step stands out of a slow drift,
        and a history inflated by last weeks' campaign or bots at this hour shows as a low level."""
        past = [r for p in range(h - LEVEL_HOURS - LEVEL_GAP, h - LEVEL_GAP) if (r := self.ratios(p))]
        return {key: statistics.median(r[key] or 1.0 for r in past) if len(past) >= LEVEL_HOURS // 2 else 1.0
                for key in LEVELS}

    def volatility(self, h: int) -> float:
        """How far this merchant's conversion strays from its usual on its own: the median of
        |ratio - 1| over the week before the day of h (0 without history). A merchant converting
        12 % drifts by a third, one converting 60 % by a tenth."""
        day = h // 24
        if day not in self._volatility:
            strays = [abs(r["conversion"] - 1.0) for p in range(day * 24 - 168, day * 24)
                      if (r := self.ratios(p)) and r["conversion"] is not None]
            self._volatility[day] = statistics.median(strays) if len(strays) >= 48 else 0.0
        return self._volatility[day]

    def located_usually(self, h: int) -> bool:
        return sum("location" in self.docs.get(h - 168 * week, {}) for week in range(1, WEEKS + 1)) >= 2


def _z(expected: float, observed: float) -> float:
    """How many Poisson standard deviations observed lies below expected."""
    return (expected - observed) / (expected + 1.0) ** 0.5


def evidence(now: dict, usual: dict, level: dict | None = None, volatility: float = 0.0) -> dict:
    """What the rules read, now against usual: per channel (all, web, app) sessions and conversion
    as ratios with the z of their deficits; per code the failures beyond its usual rate; latency.
    level: the merchant's recent levels (Merchant.level), taken out of the ratios."""
    level = level or {}
    e = {}
    for prefix in ("", "web_", "app_"):
        name = prefix or "all_"
        sessions, transactions = prefix + "sessions", prefix + "transactions"
        expected = usual[sessions] * min(level.get(sessions, 1.0), 1.0)  # a low level: inflated history
        e[name + "sessions"] = _ratio(now[sessions], expected)
        e[name + "sessions_z"] = _z(expected, now[sessions])
        expected = now[sessions] * usual[prefix + "conversion"] * level.get("conversion", 1.0)
        e[name + "conversion"] = _ratio(now[transactions], expected)
        e[name + "conversion_z"] = _z(expected, now[transactions])
        # Purchases against the merchant's recent level: a holiday or a drift lowers them, bots do not.
        e[name + "transactions"] = _ratio(now[transactions],
                                          usual[transactions] * min(level.get("transactions", 1.0), 1.0))
    e["usual_errors"] = _ratio(usual["failed"], usual["transactions"]) or 0.0
    # Per code: the failures beyond what the usual rate of that code gives at today's volume.
    e["excess"] = {}
    for code in CODES:
        expected = now["transactions"] * (_ratio(usual[code], usual["transactions"]) or 0.0)
        e["excess"][code] = (now[code] - expected, -_z(expected, now[code]))
    e["tx"] = now["transactions"]
    e["latency"] = _ratio(now["latency"], usual["latency"]) or 1.0
    # A drop in both channels must stand out of how far this merchant's conversion strays anyway.
    e["conversion_floor"] = min(0.65, 1.0 - 4.0 * volatility)
    return e


def _fell(e: dict, name: str, ratio: float, z: float = 3.0) -> bool:
    """name's ratio is at most ratio, and significantly so (z standard deviations)."""
    return e[name] is not None and e[name] <= ratio and e[name + "_z"] >= z


def _one_channel(e: dict, low: str) -> bool:
    """The low channel's conversion is well below the other's: one checkout broke, not both."""
    other = e[("app" if low == "web" else "web") + "_conversion"]
    return e[low + "_conversion"] <= 0.6 * (other or 0.0)


def diagnose(e: dict, provider: str, events: list, h: int) -> dict:
    """{label: cause (a CAUSES kind) or BENIGN} of what fires at hour h, from the evidence e.

    events: the merchant's and its provider's (hour, type, component, announced window), in time order.
    """

    fired = {}
    # Errors: the code with the largest excess names the cause; declines growing with the rest
    # are the merchant's slow drift, not an incident.
    code = max(CODES, key=lambda c: e["excess"][c][0])
    excess, z = e["excess"][code]
    if code in CODE_CAUSES and excess >= 0.8 * max(e["usual_errors"], 0.04) * e["tx"] and z >= 4:
        fired[HIGH_ERROR_RATE] = CODE_CAUSES[code]
        if code == "provider_unavailable" and any(
                k == "maintenance_notice" and provider in c and w[0] - 1 <= h <= w[1] + POOL - 1
                for _, k, c, w in events):
            fired[HIGH_ERROR_RATE] = BENIGN  # the provider announced maintenance for these (pooled) hours
    # Outages and timeouts slow payments too: while their codes are up, latency tells nothing.
    slowed = any(e["excess"][c][0] > 0 and e["excess"][c][1] >= 3 for c in ("provider_unavailable", "timeout"))
    slow = e["latency"] >= 1.3 and not slowed
    # A channel that lost its visitors is a traffic drop: what few buy there proves nothing.
    fell = [c for c in CHANNELS if _fell(e, c + "_conversion", 0.6, 4) and (e[c + "_sessions"] or 0) > 0.5]
    one = bool(fell) and _one_channel(e, min(fell, key=lambda c: e[c + "_conversion"]))
    if one or _fell(e, "all_conversion", e["conversion_floor"], 5) or (_fell(e, "all_conversion", 0.8, 4) and slow):
        if (e["web_sessions"] or 0) >= 1.3 * max(1.0, e["app_sessions"] or 0):
            fired[LOW_CONVERSION] = BENIGN  # bots: web visitors up, and not the app's as well
        elif one:
            fired[LOW_CONVERSION] = "channel_checkout_regression"
        elif slowed:
            fired[LOW_CONVERSION] = WAIT  # 3-D Secure or prices: known once the errors are gone
        elif slow:
            fired[LOW_CONVERSION] = "three_ds_failure"
        else:
            fired[LOW_CONVERSION] = "pricing_error"
    # Fewer visitors are fewer buyers too: fewer sessions with as many purchases means the history
    # had crawlers in it, not that the shop lost visitors.
    dropped = [name for name in ("web_sessions", "app_sessions") if _fell(e, name, 0.5)] + (
        ["all_sessions"] if _fell(e, "all_sessions", 0.45) else [])
    if any((e[name.replace("sessions", "transactions")] or 0) < 0.7 for name in dropped):
        # Both channels down alike names the CDN; one far below the other names its own cause.
        web, app = (e[name] or 0.0 for name in ("web_sessions", "app_sessions"))
        fired[TRAFFIC_DROP] = ("cdn_outage" if min(web, app) >= 0.6 * max(web, app)
                               else "dns_misconfiguration" if web < app else "app_crash_release")
    return fired


def location_cause(events: list, onset: int, h: int):
    """The cause of a location loss that began at onset, as known at h: a record change just
    before, a geocoder notice within STATUS_WAIT hours, otherwise the feed (once the wait is over)."""
    if any(onset - 2 <= t <= h and k == "config_change" and "merchant_record" in c for t, k, c, _ in events):
        return "merchant_record_edit"
    if any(onset <= t <= h and k == "provider_status" and "geocoder" in c for t, k, c, _ in events):
        return "geocoder_outage"
    return "location_feed_outage" if h >= onset + STATUS_WAIT else WAIT


def _hour(text) -> int | None:
    """The hour of an ISO time in an event ("2026-11-10T13:25:00Z"), None if it is not one."""
    try:
        return hour_of(text[:13] + ":00:00Z")
    except (TypeError, ValueError):
        return None


def _event_rows(events) -> dict:
    """{merchant_id or provider: [(hour, type, component, (first, last) hour it announces)]} in time
    order. A maintenance notice or a campaign announces its window in its details (a notice without
    one: 24-78 hours ahead, as the docs say); other events announce nothing ((hour, hour))."""
    rows = defaultdict(list)
    for event in events:
        hour, details = _hour(event.get("timestamp")), event.get("details") or {}
        targets = event.get("merchant_id") or event.get("payment_provider")
        if hour is None:
            continue
        window = (hour, hour)
        if event.get("type") in ("maintenance_notice", "campaign"):
            start, end = _hour(details.get("window_start")), _hour(details.get("window_end"))
            window = (start, end) if start is not None and end is not None else (hour + 24, hour + 78)
        for target in targets if isinstance(targets, list) else [targets]:
            if isinstance(target, str):
                rows[target].append((hour, event.get("type", ""), str(event.get("component", "")), window))
    return {target: sorted(found) for target, found in rows.items()}


def _reports(documents, events, first: int, stop: int, confirm: int) -> list:
    """Every episode decided in the hours [first - LEAD_HOURS, stop): (the hour it is reported, its
    first firing hour from first on or None, its finding). Reported once its cause has held for
    `confirm` more hours in which it fires."""
    by_merchant = defaultdict(dict)
    for doc in documents:
        by_merchant[doc["merchant_id"]][hour_of(doc["timestamp"])] = doc
    rows = _event_rows(events)
    out = []
    for merchant_id, docs in by_merchant.items():
        # A campaign's hours are no one's usual.
        campaigns = {p for _, kind, _, (lo, hi) in rows.get(merchant_id, []) if kind == "campaign"
                     for p in range(lo - POOL, hi + POOL)}
        merchant = Merchant(docs, campaigns)
        episodes: dict = {}  # label -> {"last": hour firing, "onset", "cause", "held", "report"}
        for h in range(first - LEAD_HOURS, stop):
            doc = docs.get(h)
            if doc is None:
                continue
            provider = doc.get("payment_provider", "")
            mine = sorted(rows.get(merchant_id, []) + rows.get(provider, []))
            fired = {}
            now, usual = merchant.pooled(h, 1), merchant.usual(h, 1)
            if now and usual:  # errors in the hour alone: an intermittent outage's on hours
                fired = {label: cause for label, cause in diagnose(evidence(now, usual), provider, mine, h).items()
                         if label == HIGH_ERROR_RATE}
            now, usual = merchant.pooled(h), merchant.usual(h)
            if now and usual:
                fired |= diagnose(evidence(now, usual, merchant.level(h), merchant.volatility(h)), provider, mine, h)
            if "location" not in doc and merchant.located_usually(h):
                fired[MISSING_LOCATION] = WAIT
            for label, cause in fired.items():
                episode = episodes.get(label)
                # A new episode after QUIET hours without it, or when the evidence names another
                # cause (an outage followed by a fraud-rule change is two incidents).
                if (episode is None or h - episode["last"] > QUIET
                        or cause not in (WAIT, BENIGN, episode["cause"]) and episode["cause"] is not WAIT):
                    episode = episodes[label] = {"onset": h, "cause": WAIT, "held": 0, "report": None}
                episode["last"] = h
                if label == MISSING_LOCATION:
                    cause = location_cause(mine, episode["onset"], h)
                if episode["cause"] is WAIT and cause is not WAIT:
                    episode["cause"] = cause
                elif cause == episode["cause"]:
                    episode["held"] += 1
                if episode["cause"] in (WAIT, BENIGN):
                    continue
                if episode["report"] is None and episode["held"] >= confirm:
                    episode["report"] = [h, None, _finding(merchant_id, label, h, episode["cause"], provider)]
                    out.append(episode["report"])
                if episode["report"] is not None and episode["report"][1] is None and h >= first:
                    episode["report"][1] = h
    return out


def solve(documents, events, start: datetime, end: datetime) -> list:
    """Findings for the hours [start, end), from documents and events that reach back
    HISTORY_HOURS + LEAD_HOURS before start. An episode decided before start that still
    fires in the range is found at its first hour there."""
    first, stop = hour_index(start), hour_index(end)
    out = []
    for hour, first_in_range, finding in _reports(documents, events, first, stop, 0):
        if first_in_range is not None:
            out.append({**finding, "timestamp": stamp(max(hour, first_in_range))})
    return sorted(out, key=lambda f: (f["timestamp"], f["merchant_id"], f["issue"]))


def act(documents, events, start: datetime, end: datetime) -> list:
    """The closed loop's actions in the hours [start, end): (target field, target, action, hour
    stamp) of each episode confirmed there (its cause held CONFIRM more hours: a blip is not
    worth a change), once per provider for an outage seen on several of its merchants. Run hour by
    hour, an episode confirmed before start was an earlier run's to act on."""
    first, stop = hour_index(start), hour_index(end)
    out, acted = [], {}
    for hour, _, finding in sorted(_reports(documents, events, first, stop, CONFIRM), key=lambda r: r[0]):
        kind = finding["note"]
        action = CAUSES[kind][2]
        if kind == "provider_outage":
            target = ("payment_provider", finding["root_cause"]["component"].split(":", 1)[1])
        else:
            target = ("merchant_id", finding["merchant_id"])
        last = acted.get((target, action))
        if last is None or hour - last > OUTAGE_HOURS:
            acted[(target, action)] = hour
            if hour >= first:
                out.append((*target, action, stamp(hour)))
    return out


def _finding(merchant_id: str, label: str, h: int, kind: str, provider: str) -> dict:
    category, component, _ = CAUSES[kind]
    return {"merchant_id": merchant_id, "issue": label, "timestamp": stamp(h),
            "root_cause": {"category": category, "component": component.format(provider=provider)}, "note": kind}
