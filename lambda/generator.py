"""Pure generation of merchant data points: no I/O, no clock, no global random.

Every merchant is a function of (seed, k) and every document a function of
(merchant, hour, the incidents active at that hour), so an hour generated alone
or inside a long backfill is byte-identical, and changing the merchant count
never changes the others. HourlyLines is the one implementation of the hourly
arithmetic; tests/oracle.py is its slow, readable specification.

Hour-to-hour variation uses integer hashing and plain float arithmetic (no
libm calls), so documents are also identical across CPUs (x86_64 here,
arm64 on Lambda), assuming the one libm call, the roster's `8 ** u` (pow),
gives the same double on both (glibc's pow is within 0.52 ULP, not always
correctly rounded; not checked on arm64).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import datetime, timezone

LOW_CONVERSION = "low_conversion"
HIGH_ERROR_RATE = "high_error_rate"
MISSING_LOCATION = "missing_location"
# Acute only (incidents.py): sessions at most half of the merchant's usual for that hour.
TRAFFIC_DROP = "traffic_drop"

# Percent ranges (inclusive) every document's rates stay in, by profile.
CONVERSION_RANGES = {"normal": (30, 80), LOW_CONVERSION: (5, 30)}
ERROR_RANGES = {"normal": (1, 15), HIGH_ERROR_RATE: (15, 40)}

MISSING_LOCATION_PROBABILITY = 0.10

# Payment providers and how many merchants of each block of 10 use each: every
# provider has at least one merchant per block (so at 20 merchants an outage
# always hits 2 or more) and none more than 3 (so it never hits half of them).
PAYMENT_PROVIDERS = ("cardwise", "northpay", "paylane", "swiftcharge", "vaultly")
PROVIDER_SHARES = (3, 3, 2, 1, 1)
# Each block of 10 consecutive merchants has exactly one merchant with
# low_conversion and another with high_error_rate (each sometimes with both),
# so every roster of 10+ merchants has both kinds whatever the seed, while a
# merchant's profile still depends only on (seed, its block).
PROFILE_BLOCK = 10
BOTH_PROBLEMS_PROBABILITY = 0.25

# Floor on hourly sessions so that every hour has at least 10 transactions:
# the error rate is then always defined and can reach every profile's range.
MIN_SESSIONS = 200

# (city, country, lat, lon, IANA time zone, standard UTC offset in minutes).
# Documents use the fixed standard offset rather than the machine's tz
# database, so they do not change with tzdata versions; DST is ignored.
CITIES = (
    ("New York", "United States", 40.7128, -74.006, "America/New_York", -300),
    ("Los Angeles", "United States", 34.0522, -118.2437, "America/Los_Angeles", -480),
    ("Chicago", "United States", 41.8781, -87.6298, "America/Chicago", -360),
    ("Toronto", "Canada", 43.6532, -79.3832, "America/Toronto", -300),
    ("Vancouver", "Canada", 49.2827, -123.1207, "America/Vancouver", -480),
    ("Mexico City", "Mexico", 19.4326, -99.1332, "America/Mexico_City", -360),
    ("Bogotá", "Colombia", 4.711, -74.0721, "America/Bogota", -300),
    ("Lima", "Peru", -12.0464, -77.0428, "America/Lima", -300),
    ("Santiago", "Chile", -33.4489, -70.6693, "America/Santiago", -240),
    ("São Paulo", "Brazil", -23.5505, -46.6333, "America/Sao_Paulo", -180),
    ("Buenos Aires", "Argentina", -34.6037, -58.3816, "America/Argentina/Buenos_Aires", -180),
    ("London", "United Kingdom", 51.5074, -0.1278, "Europe/London", 0),
    ("Dublin", "Ireland", 53.3498, -6.2603, "Europe/Dublin", 0),
    ("Paris", "France", 48.8566, 2.3522, "Europe/Paris", 60),
    ("Berlin", "Germany", 52.52, 13.405, "Europe/Berlin", 60),
    ("Madrid", "Spain", 40.4168, -3.7038, "Europe/Madrid", 60),
    ("Amsterdam", "Netherlands", 52.3676, 4.9041, "Europe/Amsterdam", 60),
    ("Stockholm", "Sweden", 59.3293, 18.0686, "Europe/Stockholm", 60),
    ("Warsaw", "Poland", 52.2297, 21.0122, "Europe/Warsaw", 60),
    ("Zürich", "Switzerland", 47.3769, 8.5417, "Europe/Zurich", 60),
    ("Istanbul", "Turkey", 41.0082, 28.9784, "Europe/Istanbul", 180),
    ("Cairo", "Egypt", 30.0444, 31.2357, "Africa/Cairo", 120),
    ("Lagos", "Nigeria", 6.5244, 3.3792, "Africa/Lagos", 60),
    ("Nairobi", "Kenya", -1.2921, 36.8219, "Africa/Nairobi", 180),
    ("Johannesburg", "South Africa", -26.2041, 28.0473, "Africa/Johannesburg", 120),
    ("Dubai", "United Arab Emirates", 25.2048, 55.2708, "Asia/Dubai", 240),
    ("Mumbai", "India", 19.076, 72.8777, "Asia/Kolkata", 330),
    ("Bengaluru", "India", 12.9716, 77.5946, "Asia/Kolkata", 330),
    ("Kathmandu", "Nepal", 27.7172, 85.324, "Asia/Kathmandu", 345),
    ("Bangkok", "Thailand", 13.7563, 100.5018, "Asia/Bangkok", 420),
    ("Jakarta", "Indonesia", -6.2088, 106.8456, "Asia/Jakarta", 420),
    ("Singapore", "Singapore", 1.3521, 103.8198, "Asia/Singapore", 480),
    ("Manila", "Philippines", 14.5995, 120.9842, "Asia/Manila", 480),
    ("Hong Kong", "Hong Kong", 22.3193, 114.1694, "Asia/Hong_Kong", 480),
    ("Shanghai", "China", 31.2304, 121.4737, "Asia/Shanghai", 480),
    ("Seoul", "South Korea", 37.5665, 126.978, "Asia/Seoul", 540),
    ("Tokyo", "Japan", 35.6762, 139.6503, "Asia/Tokyo", 540),
    ("Sydney", "Australia", -33.8688, 151.2093, "Australia/Sydney", 600),
    ("Melbourne", "Australia", -37.8136, 144.9631, "Australia/Melbourne", 600),
    ("Auckland", "New Zealand", -36.8485, 174.7633, "Pacific/Auckland", 720),
)

# category -> (name nouns, demand by local weekday Monday..Sunday)
CATEGORIES = {
    "electronics": (("Electronics", "Gadgets", "Tech"), (0.95, 0.95, 1.0, 1.0, 1.05, 1.2, 1.1)),
    "fashion": (("Apparel", "Boutique", "Threads"), (0.85, 0.9, 0.9, 0.95, 1.05, 1.25, 1.15)),
    "grocery": (("Market", "Grocers", "Pantry"), (0.95, 0.9, 0.95, 1.0, 1.1, 1.25, 0.9)),
    "restaurants": (("Kitchen", "Bistro", "Eats"), (0.8, 0.85, 0.9, 0.95, 1.2, 1.35, 1.2)),
    "travel": (("Travel", "Journeys", "Getaways"), (1.15, 1.1, 1.0, 0.95, 0.9, 0.85, 1.05)),
    "home_garden": (("Home", "Garden Supply", "Living"), (0.9, 0.9, 0.9, 0.95, 1.0, 1.25, 1.2)),
    "beauty": (("Beauty", "Cosmetics", "Skincare"), (0.95, 0.95, 1.0, 1.0, 1.05, 1.15, 1.0)),
    "sports": (("Sports", "Outfitters", "Athletics"), (0.9, 0.9, 0.95, 0.95, 1.0, 1.25, 1.15)),
    "books": (("Books", "Readers", "Press"), (0.95, 0.95, 0.95, 1.0, 1.0, 1.1, 1.15)),
    "digital_services": (("Cloud", "Software", "Digital"), (1.1, 1.1, 1.05, 1.05, 1.0, 0.8, 0.8)),
}
NAME_PREFIXES = (
    "Atlas", "Blue Harbor", "Bright", "Cedar", "Copper", "Ember", "Golden", "Lumen",
    "Maple", "North Star", "Nova", "Orbit", "Pioneer", "Silver", "Summit", "Urban",
    "Velvet", "Willow", "Zenith", "Coastal",
)

# Demand by local hour of day, 0..23: quiet at night, peaks at lunch and evening.
DAILY_CURVE = (
    0.30, 0.20, 0.15, 0.12, 0.12, 0.15, 0.25, 0.40, 0.55, 0.70, 0.80, 0.90,
    1.00, 0.95, 0.85, 0.80, 0.80, 0.85, 0.90, 0.95, 0.90, 0.75, 0.55, 0.40,
)

_M64 = (1 << 64) - 1
_M21 = (1 << 21) - 1
_INV21 = 1.0 / (1 << 21)


def _mix64(x: int) -> int:
    """splitmix64 finaliser: a cheap, well-distributed hash of a 64-bit integer."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


def seeded(seed: int, *parts: object) -> random.Random:
    # A str seed is hashed with SHA-512, so this is stable across processes
    # and Python versions (unlike hash()).
    return random.Random("pp-merchantai/" + "/".join(map(str, (seed,) + parts)))


@dataclass(frozen=True)
class Merchant:
    k: int
    merchant_id: str
    name: str
    category: str
    payment_provider: str
    city: str
    country: str
    lat: float
    lon: float
    time_zone: str
    utc_offset_minutes: int
    has_location: bool
    issues: tuple  # the chronic profile's labels
    conversion_range: tuple  # (lo, hi) percent, inclusive
    error_range: tuple
    # This merchant's own window inside its ranges: centre +- amplitude.
    conversion_centre: float
    conversion_amplitude: float
    error_centre: float
    error_amplitude: float
    peak_sessions: float
    weekday_demand: tuple
    knot_hours: int
    noise_key: int
    knot_key: int


def _profile_issues(seed: int, k: int) -> list:
    block, slot = divmod(k - 1, PROFILE_BLOCK)
    rng = seeded(seed, "block", block)
    low_slot = rng.randrange(PROFILE_BLOCK)
    error_slot = (low_slot + 1 + rng.randrange(PROFILE_BLOCK - 1)) % PROFILE_BLOCK
    low_also_error = rng.random() < BOTH_PROBLEMS_PROBABILITY
    error_also_low = rng.random() < BOTH_PROBLEMS_PROBABILITY
    issues = []
    if slot == low_slot or (slot == error_slot and error_also_low):
        issues.append(LOW_CONVERSION)
    if slot == error_slot or (slot == low_slot and low_also_error):
        issues.append(HIGH_ERROR_RATE)
    return issues


def has_location(seed: int, k: int) -> bool:
    return seeded(seed, "location", k).random() >= MISSING_LOCATION_PROBABILITY


def already_shows(seed: int, k: int, labels: tuple) -> bool:
    """Whether merchant k's chronic profile already shows every one of labels: an incident
    with these labels would change nothing anyone could see."""
    chronic = _profile_issues(seed, k) + ([] if has_location(seed, k) else [MISSING_LOCATION])
    return bool(labels) and set(labels) <= set(chronic)


def _payment_provider(seed: int, k: int) -> str:
    # Its own stream, so no draw of the merchants made before providers existed changes.
    block, slot = divmod(k - 1, PROFILE_BLOCK)
    rng = seeded(seed, "provider", block)
    names = rng.sample(PAYMENT_PROVIDERS, len(PAYMENT_PROVIDERS))
    slots = [name for name, share in zip(names, PROVIDER_SHARES) for _ in range(share)]
    rng.shuffle(slots)
    return slots[slot]


def window(rng: random.Random, lo: float, hi: float) -> tuple:
    """(centre, amplitude) of a window inside [lo, hi]: values vary within it, never past the ends."""
    amplitude = 0.2 * (hi - lo)
    return rng.uniform(lo + amplitude, hi - amplitude), amplitude


def merchant(seed: int, k: int) -> Merchant:
    """Merchant number k (1-based) of the roster for seed."""
    rng = seeded(seed, "merchant", k)
    category = rng.choice(sorted(CATEGORIES))
    nouns, weekday_demand = CATEGORIES[category]
    name = f"{rng.choice(NAME_PREFIXES)} {rng.choice(nouns)}"
    city, country, lat, lon, tz, offset = rng.choice(CITIES)
    peak_sessions = 1500 * 8 ** rng.random()  # log-uniform 1,500..12,000 an hour
    knot_hours = rng.randrange(12, 37)
    noise_key = rng.getrandbits(64)
    knot_key = rng.getrandbits(64)

    issues = _profile_issues(seed, k)
    conversion_range = CONVERSION_RANGES[LOW_CONVERSION if LOW_CONVERSION in issues else "normal"]
    error_range = ERROR_RANGES[HIGH_ERROR_RATE if HIGH_ERROR_RATE in issues else "normal"]
    conversion_centre, conversion_amplitude = window(rng, *conversion_range)
    error_centre, error_amplitude = window(rng, *error_range)
    located = has_location(seed, k)
    if not located:
        issues.append(MISSING_LOCATION)

    return Merchant(
        k, f"merchant_{k:03d}", name, category, _payment_provider(seed, k), city, country, lat, lon, tz, offset,
        located, tuple(issues), conversion_range, error_range,
        conversion_centre, conversion_amplitude, error_centre, error_amplitude,
        peak_sessions, weekday_demand, knot_hours, noise_key, knot_key,
    )


def roster(seed: int, count: int) -> list:
    """Merchants 1..count; merchant k is the same whatever the count."""
    return [merchant(seed, k) for k in range(1, count + 1)]


def hour_index(hour: datetime) -> int:
    """Hours since the Unix epoch of an aware datetime (floored)."""
    return int(hour.timestamp()) // 3600


def stamp(h: int) -> str:
    """The hour stamp of epoch hour h, as documents and the answer key write it."""
    return datetime.fromtimestamp(h * 3600, tz=timezone.utc).strftime("%Y-%m-%dT%H:00:00Z")


def hour_id(h: int) -> str:
    """YYYYMMDDHH of epoch hour h: the hour part of document and incident ids."""
    text = stamp(h)
    return f"{text[:4]}{text[5:7]}{text[8:10]}{text[11:13]}"


def local_hour(h: int, utc_offset_minutes: int) -> int:
    return (h * 60 + utc_offset_minutes) // 60 % 24


def document_id(m: Merchant, hour: datetime) -> str:
    return f"{m.merchant_id}-{hour:%Y%m%d%H}"


# smoothstep(offset / n) for every knot spacing n and offset < n, done once.
_SMOOTH = {}
for _n in range(1, 37):
    _row = []
    for _offset in range(_n):
        _t = _offset / _n
        _row.append(_t * _t * (3.0 - 2.0 * _t))
    _SMOOTH[_n] = tuple(_row)


_RATE_TEXTS: list = []


def _rate_texts() -> list:
    """repr(k / 100) for k = 0..10,000: every rate of a part <= its whole."""
    if not _RATE_TEXTS:
        _RATE_TEXTS.extend(repr(k / 100) for k in range(10_001))
    return _RATE_TEXTS


def _rate_repr(part: int, whole: int) -> str:
    """repr(round(100 * part / whole, 2)) for 0 <= part <= whole, the way a rate is written, faster.

    w = 10000 * part / whole is within about 1e-12 of 100 x the double that
    round() would see, so when w is not within 0.0001 of a rounding midpoint,
    the correctly rounded result is k / 100 with k = w rounded (the double
    nearest k / 100, which k / 100 is). Near a midpoint: round() itself.
    """
    w = 10000 * part / whole
    k = int(w + 0.5)
    if -0.4999 < w - k < 0.4999:
        return _rate_texts()[k]
    return repr(round(100 * part / whole, 2))


# str(n) for every count up to the largest a roster can produce (sessions
# bound the others): a list index is much cheaper than formatting an int.
_DECIMALS: list = []


def _decimals(merchants: list, max_session_factor: float) -> list:
    # volume noise < 1.1; +2 covers float rounding in the product.
    largest = max([MIN_SESSIONS] + [
        int(m.peak_sessions * max(DAILY_CURVE) * max(m.weekday_demand) * 1.1 * max_session_factor) + 2
        for m in merchants])
    if len(_DECIMALS) <= largest:
        _DECIMALS.extend(map(str, range(len(_DECIMALS), largest + 1)))
    return _DECIMALS


def _shown(label: str, conversion: float, error: float, located: bool, sessions: int, usual: int) -> bool:
    """Whether a document's values show label (GROUND_TRUTH=inline labels only what can be seen)."""
    if label == LOW_CONVERSION:
        lo, hi = CONVERSION_RANGES[LOW_CONVERSION]
        return lo <= conversion <= hi
    if label == HIGH_ERROR_RATE:
        lo, hi = ERROR_RANGES[HIGH_ERROR_RATE]
        return lo <= error <= hi
    if label == MISSING_LOCATION:
        return not located
    return 2 * sessions <= usual  # TRAFFIC_DROP


def _effects(active, raw, sessions, conversion_pos, error_pos, c_target, c_lo, c_hi, e_target, e_lo, e_hi):
    """A merchant's hour inside incidents: each moves the values it affects from where they
    are toward its plateau by its share f (1 on the plateau, between 0 and 1 on the ramps).

    Plateau targets vary hour to hour with the merchant's own drift and jitter. On a
    ramp the counts may lie anywhere in both ranges, at the plateau only in its own.
    """
    factor = 1.0
    located = True
    for incident, f in active:
        if incident.sessions is not None:
            factor *= 1.0 + (incident.sessions - 1.0) * f
        if incident.conversion is not None:
            (centre, amplitude), (lo, hi) = incident.conversion, incident.conversion_range
            c_target += (centre + amplitude * (2.0 * conversion_pos - 1.0) - c_target) * f
            c_lo, c_hi = (lo, hi) if f == 1.0 else (min(c_lo, lo), max(c_hi, hi))
        if incident.errors is not None:
            (centre, amplitude), (lo, hi) = incident.errors, incident.error_range
            e_target += (centre + amplitude * (2.0 * error_pos - 1.0) - e_target) * f
            e_lo, e_hi = (lo, hi) if f == 1.0 else (min(e_lo, lo), max(e_hi, hi))
        if incident.drops_location and f >= 0.5:
            located = False
    if factor != 1.0:
        sessions = int(raw * factor)
        if sessions < MIN_SESSIONS:
            sessions = MIN_SESSIONS
    return sessions, c_target, c_lo, c_hi, e_target, e_lo, e_hi, located


_NO_SEGMENT = -(1 << 62)  # no hour is in this merchant's segment yet
_ALWAYS_CLAMP = float("inf")
_dumps = json.JSONEncoder(separators=(",", ":")).encode


class HourlyLines:
    """Bulk lines of one roster hour after hour: the one implementation of the hourly arithmetic.

    What does not change between hours is hoisted: each merchant's constant JSON
    text, local time per UTC offset, and the drift knots, which change only every
    knot_hours hours (the next segment's first knot is this one's last). Counts
    and rates (0 <= failed <= transactions <= sessions, so k <= 10,000) come from
    precomputed strings.

    schedule (an incidents.Schedule) gives, per hour, the merchants in an
    incident: at(h) -> {roster position: [(incident, f)]}; only their documents
    take the slower path through _effects. inline: documents also carry the
    truth (issues, is_problematic, incident_ids), as GROUND_TRUTH=inline asks.
    """

    def __init__(self, merchants: list, index: str, schedule, inline: bool = False):
        action_prefix = '{"index":{"_index":' + json.dumps(index) + ',"_id":"'
        self._schedule = schedule
        self._inline = inline
        # The distinct UTC offsets: local hour and weekday are worked out once per offset and hour.
        self._offsets = sorted({m.utc_offset_minutes for m in merchants})
        slot = {offset: i for i, offset in enumerate(self._offsets)}
        # Per merchant, what an hour in an incident needs to write its document:
        # (head with location, head without, location, chronic labels, chronic incident ids, has location).
        self._dress = []
        self._state = []
        for position, m in enumerate(merchants):
            head = {"merchant_id": m.merchant_id, "merchant_name": m.name, "category": m.category,
                    "payment_provider": m.payment_provider}
            unlocated = _dumps(head)[:-1] + ',"timestamp":"'
            located = _dumps({**head, "city": m.city, "country": m.country})[:-1] + ',"timestamp":"'
            location = {"lat": m.lat, "lon": m.lon}
            dress = (located, unlocated, location, list(m.issues), schedule.chronic_ids(position), m.has_location)
            self._dress.append(dress)
            json_prefix, json_suffix = self._text(dress, m.has_location, dress[3], dress[4])
            # One list per merchant: what never changes, then its current drift segment:
            # [..., first hour of the segment, c0, c1 - c0, e0, e1 - e0, k1] (a sentinel start at first).
            self._state.append([
                action_prefix + m.merchant_id, json_prefix, json_suffix,
                slot[m.utc_offset_minutes], m.peak_sessions, m.weekday_demand, m.noise_key, m.knot_key,
                m.knot_hours, _SMOOTH[m.knot_hours],
                *m.conversion_range, m.conversion_centre, m.conversion_amplitude,
                *m.error_range, m.error_centre, m.error_amplitude,
                # Targets between these need no clamping (see lines()).
                m.conversion_range[0] + 0.26, m.conversion_range[1] - 0.26,
                m.error_range[0] + 5.01, m.error_range[1] - 5.01,
                _NO_SEGMENT, 0.0, 0.0, 0.0, 0.0, 0,
            ])
        self._decimals = _decimals(merchants, schedule.max_session_factor)

    def _text(self, dress, located: bool, issues: list, incident_ids: list) -> tuple:
        """(JSON before the timestamp, JSON after the rates) of one document."""
        tail = {"location": dress[2]} if located else {}
        if self._inline:
            tail.update(issues=issues, is_problematic=bool(issues), incident_ids=incident_ids)
        return dress[0] if located else dress[1], "," + _dumps(tail)[1:] if tail else "}"

    def _dressed(self, position, active, located, sessions, usual, conversion_repr, error_repr) -> tuple:
        dress = self._dress[position]
        located = located and dress[5]
        if not self._inline:
            return self._text(dress, located, (), ())
        conversion, error = float(conversion_repr), float(error_repr)
        labels = list(dress[3])
        for incident, _ in active:
            labels += [label for label in incident.labels if label not in labels]
        issues = [label for label in labels if _shown(label, conversion, error, located, sessions, usual)]
        return self._text(dress, located, issues, dress[4] + [incident.incident_id for incident, _ in active])

    def lines(self, hour: datetime) -> list:
        h = hour_index(hour)
        timestamp = stamp(h)
        id_suffix = f"-{hour_id(h)}" + '"}}'
        days = []
        for utc_offset in self._offsets:
            days.append((DAILY_CURVE[local_hour(h, utc_offset)], ((h * 60 + utc_offset) // 1440 + 3) % 7))
        affected = self._schedule.at(h)
        rate_repr = _rate_repr
        decimals = self._decimals
        out = []
        append = out.append
        M64, M21, INV21 = _M64, _M21, _INV21
        for position, state in enumerate(self._state):
            (action, json_prefix, json_suffix, offset_slot, peak, weekday_demand, noise_key, knot_key, knot_hours, smooth,
             c_lo, c_hi, c_centre, c_amp, e_lo, e_hi, e_centre, e_amp, c_safe_lo, c_safe_hi, e_safe_lo, e_safe_hi,
             segment_start, c0, dc, e0, de, k1) = state
            daily, weekday = days[offset_slot]

            x = ((noise_key ^ h) + 0x9E3779B97F4A7C15) & M64
            x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & M64
            x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & M64
            z = x ^ (x >> 31)
            volume_noise = 0.9 + 0.2 * (z & M21) * INV21
            conversion_jitter = ((z >> 21) & M21) * INV21
            error_jitter = (z >> 42) * INV21 * 0.5  # 22 bits left

            # Slow drift: smoothstep between hashed knots every knot_hours hours.
            offset = h - segment_start
            if not 0 <= offset < knot_hours:  # a new drift segment (or the first)
                segment = h // knot_hours
                # The next segment's first knot is this one's last.
                k0 = k1 if segment * knot_hours == segment_start + knot_hours else _mix64(knot_key ^ segment)
                k1 = _mix64(knot_key ^ (segment + 1))
                c0 = (k0 & M21) * INV21
                e0 = ((k0 >> 21) & M21) * INV21
                dc = (k1 & M21) * INV21 - c0
                de = ((k1 >> 21) & M21) * INV21 - e0
                segment_start = segment * knot_hours
                offset = h - segment_start
                state[-6:] = (segment_start, c0, dc, e0, de, k1)
            t = smooth[offset]
            conversion_pos = 0.85 * (c0 + dc * t) + 0.15 * conversion_jitter
            error_pos = 0.85 * (e0 + de * t) + 0.15 * error_jitter

            # Floor on sessions: at least 10 transactions, so the error rate is always
            # defined and can reach every range.
            raw = peak * daily * weekday_demand[weekday] * volume_noise
            sessions = int(raw)
            if sessions < MIN_SESSIONS:
                sessions = MIN_SESSIONS
            c_target = c_centre + c_amp * (2.0 * conversion_pos - 1.0)
            e_target = e_centre + e_amp * (2.0 * error_pos - 1.0)
            active = affected.get(position) if affected else None
            if active is not None:
                usual = sessions
                sessions, c_target, c_lo, c_hi, e_target, e_lo, e_hi, located = _effects(
                    active, raw, sessions, conversion_pos, error_pos, c_target, c_lo, c_hi, e_target, e_lo, e_hi)
                c_safe_lo = e_safe_lo = _ALWAYS_CLAMP

            # Counts are clamped so the rounded rates stay in the range. Clamping can
            # change a count only when its target is within 50 / count points of an end:
            # 0.25 for transactions (sessions >= 200), 5 for failed (transactions >= 10).
            # Away from the ends the bounds are skipped; the result is the same.
            transactions = round(sessions * c_target / 100)
            if not c_safe_lo < c_target < c_safe_hi:
                bound = -(-c_lo * sessions // 100)
                if transactions < bound:
                    transactions = bound
                bound = c_hi * sessions // 100
                if transactions > bound:
                    transactions = bound

            failed = round(transactions * e_target / 100)
            if not e_safe_lo < e_target < e_safe_hi:
                bound = -(-e_lo * transactions // 100)
                if failed < bound:
                    failed = bound
                bound = e_hi * transactions // 100
                if failed > bound:
                    failed = bound

            conversion_repr = rate_repr(transactions, sessions)
            error_repr = rate_repr(failed, transactions)
            if active is not None:
                json_prefix, json_suffix = self._dressed(
                    position, active, located, sessions, usual, conversion_repr, error_repr)
            append((
                action + id_suffix,
                f'{json_prefix}{timestamp}","sessions":{decimals[sessions]},'
                f'"transaction_count":{decimals[transactions]},'
                f'"successful_transactions":{decimals[transactions - failed]},"failed_transactions":{decimals[failed]},'
                f'"conversion_rate":{conversion_repr},"error_rate":{error_repr}{json_suffix}',
            ))
        return out
