"""Pure generation of merchant data points: no I/O, no clock, no global random.

Every merchant is a function of (seed, k) and every document a function of
(merchant, hour, the incidents active at that hour), so an hour generated alone
or inside a long backfill is byte-identical, and changing the merchant count
never changes the others. HourlyLines is the one implementation of the hourly
arithmetic; tests/oracle.py is its slow, readable specification.

Hour-to-hour variation uses integer hashing and plain float arithmetic (no
libm calls but sqrt, which IEEE 754 rounds correctly everywhere), so documents
are also identical across CPUs (x86_64 here, arm64 on Lambda), assuming the one
libm call, the roster's `8 ** u` (pow), gives the same double on both (glibc's
pow is within 0.52 ULP, not always correctly rounded; not checked on arm64).

The evidence fields (errors_by_code, latency_p95_ms, channels) each draw from a
hash of their own per (merchant, hour), so no draw of the older fields moved. The
noise model is a parameter: "uniform" (steady, incidents: the original +-10 %) or
"volume" (counts drawn from their rate and the hour's volume, daily shapes per
merchant, an hour-of-day conversion curve, weekends and national holidays).
"""

from __future__ import annotations

import functools
import json
import math
import random
import struct
from dataclasses import dataclass
from datetime import date, datetime, timezone
from math import sqrt

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

# --- the evidence an operator looks at beside the rates -----------------------------------

# Failed transactions by code; every merchant's normal mix is drawn from these weight
# ranges, so issuer declines dominate (60-85 % of failures).
ERROR_CODES = ("declined", "timeout", "provider_unavailable", "fraud_blocked", "authentication_failed",
               "invalid_request")
CODE_WEIGHTS = ((6.0, 10.0), (0.2, 0.6), (0.1, 0.4), (0.5, 1.5), (0.5, 1.5), (0.2, 0.6))
CHANNELS = ("web", "app")
APP_SHARE = (0.25, 0.70)  # the merchant's share of sessions in the app
APP_CONVERSION = (0.75, 1.25)  # how the app converts, relative to the web
# p95 authorisation latency: a level per merchant times one per provider, a daily load
# effect (0.8 + 0.4 x the hour's demand, 0..1) and the hour's noise (sd 5 %).
LATENCY_MS = (180.0, 420.0)
PROVIDER_LATENCY = (0.8, 1.4)
LATENCY_NOISE = 0.05
LATENCY_CAP_MS = 30_000

# --- the noise models ----------------------------------------------------------------------

NOISE_MODELS = ("uniform", "volume")
# volume: each merchant has one of these daily traffic shapes (local hour 0..23, peak 1.0).
DAILY_SHAPES = {
    "business": (0.10, 0.07, 0.05, 0.05, 0.05, 0.08, 0.15, 0.30, 0.55, 0.80, 0.95, 1.00,
                 0.95, 0.95, 1.00, 0.95, 0.85, 0.70, 0.55, 0.45, 0.38, 0.30, 0.22, 0.15),
    "evening": (0.35, 0.22, 0.14, 0.10, 0.08, 0.08, 0.12, 0.20, 0.28, 0.35, 0.40, 0.45,
                0.50, 0.50, 0.50, 0.52, 0.58, 0.68, 0.82, 0.95, 1.00, 0.98, 0.85, 0.60),
    "flat": (0.55, 0.50, 0.48, 0.46, 0.46, 0.48, 0.55, 0.65, 0.75, 0.82, 0.88, 0.92,
             0.95, 0.95, 0.95, 0.95, 0.95, 0.95, 1.00, 1.00, 0.98, 0.90, 0.78, 0.65),
}
WEEKEND_FACTOR = {"business": 0.65, "evening": 1.10, "flat": 1.0}  # Saturday and Sunday
# Where conversion sits in the merchant's window by local hour (0..1, weight 0.3 beside
# the drift's 0.7): browsing at night, buying in the evening.
CONVERSION_CURVE = (0.30, 0.22, 0.15, 0.10, 0.08, 0.10, 0.15, 0.25, 0.35, 0.42, 0.48, 0.52,
                    0.55, 0.55, 0.55, 0.58, 0.62, 0.68, 0.75, 0.82, 0.85, 0.80, 0.65, 0.45)
OVERDISPERSION = 0.04  # sd of the sessions' multiplicative noise beyond Poisson
HOLIDAY_FACTOR = 0.55  # traffic on a national holiday (local date)
_COMMON_HOLIDAYS = ((1, 1),)
HOLIDAYS = {country: _COMMON_HOLIDAYS + days for country, days in {
    "United States": ((7, 4), (12, 25)), "Canada": ((7, 1), (12, 25), (12, 26)),
    "Mexico": ((9, 16), (12, 25)), "Colombia": ((7, 20), (12, 25)), "Peru": ((7, 28), (12, 25)),
    "Chile": ((9, 18), (12, 25)), "Brazil": ((9, 7), (12, 25)), "Argentina": ((5, 25), (12, 25)),
    "United Kingdom": ((12, 25), (12, 26)), "Ireland": ((3, 17), (12, 25)), "France": ((7, 14), (12, 25)),
    "Germany": ((10, 3), (12, 25)), "Spain": ((10, 12), (12, 25)), "Netherlands": ((4, 27), (12, 25)),
    "Sweden": ((6, 6), (12, 25)), "Poland": ((5, 3), (11, 11)), "Switzerland": ((8, 1), (12, 25)),
    "Turkey": ((4, 23), (10, 29)), "Egypt": ((7, 23), (10, 6)), "Nigeria": ((10, 1), (12, 25)),
    "Kenya": ((10, 20), (12, 12)), "South Africa": ((4, 27), (12, 16)),
    "United Arab Emirates": ((12, 2), (12, 3)), "India": ((1, 26), (8, 15), (10, 2)),
    "Nepal": ((5, 29), (9, 20)), "Thailand": ((4, 13), (12, 5)), "Indonesia": ((8, 17),),
    "Singapore": ((8, 9),), "Philippines": ((6, 12), (12, 30)), "Hong Kong": ((7, 1), (10, 1)),
    "China": ((10, 1), (10, 2), (10, 3)), "South Korea": ((3, 1), (8, 15), (10, 3)),
    "Japan": ((2, 11), (5, 3), (11, 3)), "Australia": ((1, 26), (4, 25), (12, 25)),
    "New Zealand": ((2, 6), (4, 25), (12, 25)),
}.items()}
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()

_M64 = (1 << 64) - 1
_M21 = (1 << 21) - 1
_INV21 = 1.0 / (1 << 21)


def _mix64(x: int) -> int:
    """splitmix64 finaliser: a cheap, well-distributed hash of a 64-bit integer."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)


class _Lanes:
    """_mix64(key ^ h) of many keys at once, in one big int with a 128-bit lane per key (key i at
    bit 128 i): a handful of big-int operations an hour instead of a dozen per key.

    Each lane holds 64 bits; times a 64-bit constant it stays inside its 128, and every
    right shift is masked to the lane's low 64 bits, so no lane's bits reach another's:
    each lane's low 64 bits are exactly _mix64 (tests/oracle.py hashes one key at a time).
    """

    def __init__(self, keys: list):
        count = len(keys)
        self.keys = int.from_bytes(b"".join(key.to_bytes(16, "little") for key in keys), "little")
        self._ones = int.from_bytes((b"\x01" + bytes(15)) * count, "little")
        self._mask = _M64 * self._ones
        self._start = 0x9E3779B97F4A7C15 * self._ones
        self._size = 16 * count
        self.words = struct.Struct("<" + "Q8x" * count).unpack  # each lane's hash, as an int

    def at(self, h: int) -> bytes:
        """16 little-endian bytes a key: _mix64(key ^ h) in the first 8 (the rest is not a hash)."""
        mask = self._mask
        x = ((self.keys ^ h * self._ones) + self._start) & mask
        x = ((x ^ ((x >> 30) & mask)) * 0xBF58476D1CE4E5B9) & mask
        x = ((x ^ ((x >> 27) & mask)) * 0x94D049BB133111EB) & mask
        return (x ^ (x >> 31)).to_bytes(self._size, "little")


# Standard normal quantiles at (i + 0.5) / 256, i = 128..255, to 4 decimals (tests check them
# against statistics.NormalDist): literals, so every CPU reads the same doubles.
_HALF_GAUSS = (
    0.0049, 0.0147, 0.0245, 0.0343, 0.0441, 0.0539, 0.0637, 0.0735, 0.0833, 0.0932, 0.103, 0.1128, 0.1227,
    0.1326, 0.1425, 0.1524, 0.1623, 0.1722, 0.1821, 0.1921, 0.2021, 0.2121, 0.2221, 0.2322, 0.2422, 0.2523,
    0.2625, 0.2726, 0.2828, 0.293, 0.3032, 0.3135, 0.3238, 0.3341, 0.3445, 0.3549, 0.3654, 0.3758, 0.3864,
    0.3969, 0.4076, 0.4182, 0.4289, 0.4397, 0.4505, 0.4614, 0.4723, 0.4833, 0.4943, 0.5054, 0.5166, 0.5278,
    0.5391, 0.5504, 0.5618, 0.5734, 0.5849, 0.5966, 0.6083, 0.6202, 0.6321, 0.6441, 0.6562, 0.6684, 0.6806,
    0.693, 0.7055, 0.7182, 0.7309, 0.7437, 0.7567, 0.7698, 0.7831, 0.7964, 0.81, 0.8236, 0.8374, 0.8514,
    0.8656, 0.8799, 0.8944, 0.9091, 0.924, 0.9391, 0.9545, 0.97, 0.9858, 1.0019, 1.0182, 1.0348, 1.0516,
    1.0688, 1.0863, 1.1041, 1.1223, 1.1409, 1.1599, 1.1793, 1.1992, 1.2195, 1.2404, 1.2618, 1.2838, 1.3064,
    1.3298, 1.3539, 1.3788, 1.4045, 1.4313, 1.4591, 1.4881, 1.5184, 1.5502, 1.5836, 1.6189, 1.6563, 1.6962,
    1.739, 1.7853, 1.8357, 1.8912, 1.9533, 2.024, 2.1066, 2.2066, 2.3352, 2.5205, 2.8856,
)
# 8 hashed bits pick one of 256 equally likely values: a standard normal draw, to that grain.
_GAUSS = tuple(-value for value in reversed(_HALF_GAUSS)) + _HALF_GAUSS
# What lines() makes of a hashed byte b besides _GAUSS[b]: the codes' rounding offset and the latency's noise factor.
_CODE_OFFSETS = tuple((b + 0.5) * 0.00390625 for b in range(256))
_LATENCY_NOISES = tuple(1.0 + LATENCY_NOISE * g for g in _GAUSS)


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
    # The evidence, from a stream of its own (merchant_evidence): the normal share of each of
    # ERROR_CODES, the app's share of sessions and relative conversion, the p95 latency
    # level, the daily shape (volume noise), the hash keys of the evidence and of volume noise.
    code_mix: tuple
    app_share: float
    app_conversion: float
    latency_ms: float
    shape: str
    evidence_key: int
    volume_key: int


@functools.lru_cache(maxsize=1024)  # ten merchants a block, and the schedule asks again
def _block_profile(seed: int, block: int) -> tuple:
    """(low_conversion's slot, high_error_rate's, whether the first also has errors, whether the second also
    converts low) of a block of PROFILE_BLOCK merchants."""
    rng = seeded(seed, "block", block)
    low_slot = rng.randrange(PROFILE_BLOCK)
    error_slot = (low_slot + 1 + rng.randrange(PROFILE_BLOCK - 1)) % PROFILE_BLOCK
    return low_slot, error_slot, rng.random() < BOTH_PROBLEMS_PROBABILITY, rng.random() < BOTH_PROBLEMS_PROBABILITY


def _profile_issues(seed: int, k: int) -> list:
    block, slot = divmod(k - 1, PROFILE_BLOCK)
    low_slot, error_slot, low_also_error, error_also_low = _block_profile(seed, block)
    issues = []
    if slot == low_slot or (slot == error_slot and error_also_low):
        issues.append(LOW_CONVERSION)
    if slot == error_slot or (slot == low_slot and low_also_error):
        issues.append(HIGH_ERROR_RATE)
    return issues


@functools.lru_cache(maxsize=16384)
def has_location(seed: int, k: int) -> bool:
    return seeded(seed, "location", k).random() >= MISSING_LOCATION_PROBABILITY


def already_shows(seed: int, k: int, labels: tuple) -> bool:
    """Whether merchant k's chronic profile already shows every one of labels: an incident
    with these labels would change nothing anyone could see."""
    chronic = _profile_issues(seed, k) + ([] if has_location(seed, k) else [MISSING_LOCATION])
    return bool(labels) and set(labels) <= set(chronic)


def _payment_provider(seed: int, k: int) -> str:
    block, slot = divmod(k - 1, PROFILE_BLOCK)
    return _block_providers(seed, block)[slot]


@functools.lru_cache(maxsize=1024)
def _block_providers(seed: int, block: int) -> tuple:
    # Its own stream, so no draw of the merchants made before providers existed changes.
    rng = seeded(seed, "provider", block)
    names = rng.sample(PAYMENT_PROVIDERS, len(PAYMENT_PROVIDERS))
    slots = [name for name, share in zip(names, PROVIDER_SHARES) for _ in range(share)]
    rng.shuffle(slots)
    return tuple(slots)


@functools.lru_cache(maxsize=64)
def provider_latency(seed: int, provider: str) -> float:
    """The payment provider's factor on the latency of every merchant on it."""
    return seeded(seed, "provider-latency", provider).uniform(*PROVIDER_LATENCY)


def merchant_evidence(seed: int, k: int, provider: str) -> tuple:
    """Merchant k's evidence constants (Merchant.code_mix .. volume_key), from their own stream."""
    rng = seeded(seed, "evidence", k)
    weights = [rng.uniform(*bounds) for bounds in CODE_WEIGHTS]
    total = sum(weights)
    code_mix = tuple(weight / total for weight in weights)
    app_share, app_conversion = rng.uniform(*APP_SHARE), rng.uniform(*APP_CONVERSION)
    latency = rng.uniform(*LATENCY_MS) * provider_latency(seed, provider)
    shape = rng.choice(sorted(DAILY_SHAPES))
    return code_mix, app_share, app_conversion, latency, shape, rng.getrandbits(64), rng.getrandbits(64)


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

    provider = _payment_provider(seed, k)
    return Merchant(
        k, f"merchant_{k:03d}", name, category, provider, city, country, lat, lon, tz, offset,
        located, tuple(issues), conversion_range, error_range,
        conversion_centre, conversion_amplitude, error_centre, error_amplitude,
        peak_sessions, weekday_demand, knot_hours, noise_key, knot_key,
        *merchant_evidence(seed, k, provider),
    )


def roster(seed: int, count: int) -> list:
    """Merchants 1..count; merchant k is the same whatever the count."""
    return [merchant(seed, k) for k in range(1, count + 1)]


def hour_index(hour: datetime) -> int:
    """Hours since the Unix epoch of an aware datetime (floored)."""
    return int(hour.timestamp()) // 3600


@functools.lru_cache(maxsize=4096)  # events, records and ids ask for the same hours again and again
def stamp(h: int) -> str:
    """The hour stamp of epoch hour h, as documents and the answer key write it."""
    return datetime.fromtimestamp(h * 3600, tz=timezone.utc).strftime("%Y-%m-%dT%H:00:00Z")


@functools.lru_cache(maxsize=4096)
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


# str(n) and sqrt(n) for every count up to the largest a roster can produce (sessions
# bound the others): a list index is much cheaper than formatting an int or calling sqrt.
_DECIMALS: list = []
_ROOTS: list = []


def _tables(merchants: list, max_session_factor: float, volume: bool = False) -> tuple:
    """(_DECIMALS, _ROOTS), long enough for merchants."""
    # uniform: volume noise < 1.1; +2 covers float rounding in the product. volume: the shapes
    # peak at 1.0, weekends at most x1.1, the draws stay within 6 sd.
    noise = 1.1 * 1.1 * (1 + 6 * OVERDISPERSION) if volume else 1.1
    largest = max([MIN_SESSIONS, LATENCY_CAP_MS] + [
        int(m.peak_sessions * max(DAILY_CURVE) * max(m.weekday_demand) * noise * max_session_factor) + 2
        for m in merchants])
    if volume:
        largest += int(6 * sqrt(largest)) + 1
    if len(_DECIMALS) <= largest:
        _ROOTS.extend(map(sqrt, range(len(_ROOTS), largest + 1)))
        _DECIMALS.extend(map(str, range(len(_DECIMALS), largest + 1)))
    return _DECIMALS, _ROOTS


def _count(whole: int, target: float, lo: int, hi: int, g: float | None = None) -> int:
    """whole x target %: rounded, or with g a binomial draw (its normal approximation at
    deviate g); then moved just enough that the rounded rate lies in [lo, hi]."""
    if g is None:
        count = round(whole * target / 100)
    else:
        p = target / 100
        count = int(whole * p + sqrt(whole * p * (1.0 - p)) * g + 0.5)
    bound = -(-lo * whole // 100)
    if count < bound:
        count = bound
    bound = hi * whole // 100
    if count > bound:
        count = bound
    return count


def _code_split(code_mix: tuple) -> tuple:
    """(share of failures not declined, its sd, the cumulative shares of the next four codes
    among those): what lines() splits an hour's failures with."""
    others = 1.0 - code_mix[0]
    cumulative, total = [], 0.0
    for share in code_mix[1:5]:
        total += share
        cumulative.append(total / others)
    return (others, sqrt(others * (1.0 - others)), *cumulative)


def _app_split(app_share: float, app_conversion: float) -> tuple:
    """(app share of sessions, its sd, app share of transactions, its sd) of a merchant: its
    app converts app_conversion times as well as its web."""
    bought = app_share * app_conversion / (app_share * app_conversion + 1.0 - app_share)
    return app_share, sqrt(app_share * (1.0 - app_share)), bought, sqrt(bought * (1.0 - bought))


def _keep_other_channel(hit: str, sessions: int, transactions: int, usual: tuple) -> tuple:
    """The split when an incident hits one channel: the other keeps its usual (sessions,
    transactions) as far as the totals allow; the hit channel takes the rest."""
    side = 0 if hit == "web" else 1  # the other channel's place in a split: app first
    other_s = min(usual[side], sessions)
    other_t = max(min(usual[2 + side], transactions, other_s), transactions - (sessions - other_s))
    if side == 0:
        return other_s, sessions - other_s, other_t, transactions - other_t
    return sessions - other_s, other_s, transactions - other_t, other_t


_CODE_INDEX = {code: i for i, code in enumerate(ERROR_CODES)}


def _evidence_effects(active, failed: int, transactions: int, error_target: float, error_range: tuple,
                      latency: float, g_failed):
    """What incidents do to a merchant's evidence: (failures at its normal error rate, the others
    by code {index: count}, the latency level, the channel hit alone or None).

    The extra failures go to the codes of the incidents that raise errors; latency moves
    toward each incident's level (a factor on the usual, or a level in ms) by its share.
    """
    codes: list = []
    hit = None
    usual_latency = latency
    for incident, f in active:
        codes += [code for code in incident.kind.error_codes if code not in codes]
        if incident.latency_factor is not None:
            latency += (usual_latency * incident.latency_factor - latency) * f
        if incident.latency_ms is not None:
            latency += (incident.latency_ms - latency) * f
        if incident.channel is not None:
            hit = incident.channel
    extra = {}
    if codes:
        normal = _count(transactions, error_target, *error_range, g_failed)
        if normal < failed:
            each, rest = divmod(failed - normal, len(codes))
            extra = {_CODE_INDEX[code]: each + (i < rest) for i, code in enumerate(codes)}
            failed = normal
    return failed, extra, latency, hit


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


def _channel_share(channel, split: tuple) -> tuple:
    """(share of sessions, share of transactions) of channel (None: both, the whole); split: _app_split's."""
    if channel is None:
        return 1.0, 1.0
    return (split[0], split[2]) if channel == "app" else (1.0 - split[0], 1.0 - split[2])


def _shown_relative(label: str, conversion: float, error: float, located: bool, sessions: int, usual: int,
                    usual_rates: tuple, hit_split: tuple | None) -> bool:
    """The hard tier's labels (docs/scenarios.md#labels-relative-to-the-merchant): whether a document's
    values, or those of the channel an incident hits, show label against the merchant's usual for the
    hour. usual_rates: (conversion, errors) percent; hit_split: (sessions, transactions, usual
    sessions, usual transactions) of the hit channel, or None."""
    usual_conversion, usual_error = usual_rates
    if label == LOW_CONVERSION:
        if conversion <= 0.7 * usual_conversion:
            return True
        return bool(hit_split) and hit_split[0] > 0 and hit_split[2] > 0 and (
            hit_split[1] / hit_split[0] <= 0.7 * hit_split[3] / hit_split[2])
    if label == HIGH_ERROR_RATE:
        return error >= max(2 * usual_error, usual_error + 4)
    if label == MISSING_LOCATION:
        return not located
    return 2 * sessions <= usual or bool(hit_split) and 2 * hit_split[0] <= hit_split[2]  # TRAFFIC_DROP


def _effects(active, raw, sessions, conversion_pos, error_pos, c_target, c_lo, c_hi, e_target, e_lo, e_hi,
             app_split):
    """A merchant's hour inside incidents: each moves the values it affects from where they
    are toward its plateau by its share f (1 on the plateau, between 0 and 1 on the ramps).

    Plateau targets vary hour to hour with the merchant's own drift and jitter. On a
    ramp the counts may lie anywhere in both ranges, at the plateau only in its own.
    Relative effects (the hard tier) scale the merchant's usual values instead, in the
    channel an incident hits (app_split: the merchant's, _app_split) or in both,
    and free the ranges.
    """
    factor = kept = 1.0  # kept: the steps of kinds whose extra visitors buy nothing
    located = True
    usual_e = e_target
    for incident, f in active:
        kind = incident.kind
        if incident.sessions is not None:
            sessions_share, bought_share = _channel_share(incident.channel, app_split)
            step = 1.0 + sessions_share * (incident.sessions - 1.0) * f
            factor *= step
            if kind.keeps_transactions:  # the extra visitors buy nothing
                c_target /= step
                kept *= step
                c_lo, c_hi = 0, 100
            elif incident.channel is not None:  # each channel converts as usual: the mix moves
                c_target *= (1.0 + bought_share * (incident.sessions - 1.0) * f) / step
                c_lo, c_hi = 0, 100
        if incident.conversion is not None:
            (centre, amplitude), (lo, hi) = incident.conversion, incident.conversion_range
            c_target += (centre + amplitude * (2.0 * conversion_pos - 1.0) - c_target) * f
            c_lo, c_hi = (lo, hi) if f == 1.0 else (min(c_lo, lo), max(c_hi, hi))
        if incident.conversion_factor is not None:
            share = _channel_share(incident.channel, app_split)[1]
            c_target *= 1.0 - share * (1.0 - incident.conversion_factor) * f
            c_lo, c_hi = 0, 100
        if incident.errors is not None:
            (centre, amplitude), (lo, hi) = incident.errors, incident.error_range
            e_target += (centre + amplitude * (2.0 * error_pos - 1.0) - e_target) * f
            e_lo, e_hi = (lo, hi) if f == 1.0 else (min(e_lo, lo), max(e_hi, hi))
        if incident.error_boost is not None:
            e_target = min(e_target + max(usual_e, 4.0) * incident.error_boost * f, 95.0)
            e_lo, e_hi = 0, 100
        if incident.drops_location and f >= 0.5:
            located = False
    if factor != 1.0:
        sessions = int(raw * factor)
        if sessions < MIN_SESSIONS:
            sessions = MIN_SESSIONS
        if kept != 1.0 and raw * factor / kept < MIN_SESSIONS:
            # The hour without those visitors is floored: its purchases are the floor's, not raw's.
            c_target *= kept * MIN_SESSIONS / sessions
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
    precomputed strings. The hour's two hashes (noise, evidence) are worked out for
    every merchant at once (_Lanes) and read as bytes.

    schedule (an incidents.Schedule) gives, per hour, the merchants in an
    incident: at(h) -> {roster position: [(incident, f)]}; only their documents
    take the slower path through _effects. inline: documents also carry the
    truth (issues, is_problematic, incident_ids), as GROUND_TRUTH=inline asks.
    noise: one of NOISE_MODELS; None takes the schedule's (schedule.noise).
    """

    def __init__(self, merchants: list, index: str, schedule, inline: bool = False, noise: str | None = None):
        action_prefix = '{"index":{"_index":' + json.dumps(index) + ',"_id":"'
        self._schedule = schedule
        self._inline = inline
        self._relative = schedule.relative  # hard: labels against the merchant's usual
        noise = schedule.noise if noise is None else noise
        if noise not in NOISE_MODELS:
            raise ValueError(f"noise must be one of {', '.join(NOISE_MODELS)}, got {noise!r}")
        self._volume = noise == "volume"
        # The distinct UTC offsets: local hour and weekday are worked out once per offset and hour.
        self._offsets = sorted({m.utc_offset_minutes for m in merchants})
        slot = {offset: i for i, offset in enumerate(self._offsets)}
        # Per merchant, what an hour in an incident needs to write its document:
        # (head with location, head without, the location's JSON, chronic labels, chronic incident ids, has location).
        self._dress = []
        self._state = []
        # volume: (daily shape, weekend factor, holidays) per merchant.
        self._days = []
        for position, m in enumerate(merchants):
            head = {"merchant_id": m.merchant_id, "merchant_name": m.name, "category": m.category,
                    "payment_provider": m.payment_provider}
            unlocated = _dumps(head)[:-1] + ',"timestamp":"'
            located = _dumps({**head, "city": m.city, "country": m.country})[:-1] + ',"timestamp":"'
            location = ',"location":' + _dumps({"lat": m.lat, "lon": m.lon})
            dress = (located, unlocated, location, schedule.chronic_labels(position), schedule.chronic_ids(position),
                     m.has_location)
            self._dress.append(dress)
            self._days.append((DAILY_SHAPES[m.shape], WEEKEND_FACTOR[m.shape], frozenset(HOLIDAYS[m.country])))
            json_prefix, json_suffix = self._text(dress, m.has_location, dress[3], dress[4])
            safe = (_ALWAYS_CLAMP, 0.0, _ALWAYS_CLAMP, 0.0) if self._volume else (
                m.conversion_range[0] + 0.26, m.conversion_range[1] - 0.26,
                m.error_range[0] + 5.01, m.error_range[1] - 5.01)
            # One list per merchant: what never changes, then its current drift segment:
            # [..., first hour of the segment, c0, c1 - c0, e0, e1 - e0, k1] (a sentinel start at first).
            self._state.append([
                action_prefix + m.merchant_id, json_prefix, json_suffix,
                slot[m.utc_offset_minutes], m.peak_sessions, m.weekday_demand, m.knot_key,
                m.knot_hours, _SMOOTH[m.knot_hours],
                *m.conversion_range, m.conversion_centre, m.conversion_amplitude,
                *m.error_range, m.error_centre, m.error_amplitude,
                # Targets between these need no clamping (see lines()).
                *safe,
                # The evidence: the code mix (_code_split), the app's shares (_app_split), the latency level.
                _code_split(m.code_mix), _app_split(m.app_share, m.app_conversion), m.latency_ms,
                _NO_SEGMENT, 0.0, 0.0, 0.0, 0.0, 0,
            ])
        # The hash keys of the hour's draws, one lane per merchant (_Lanes).
        self._noise = _Lanes([m.volume_key if self._volume else m.noise_key for m in merchants])
        self._evidence = _Lanes([m.evidence_key for m in merchants])
        self._decimals, self._roots = _tables(merchants, schedule.max_session_factor, self._volume)

    def _text(self, dress, located: bool, issues: list, incident_ids: list) -> tuple:
        """(JSON before the timestamp, JSON after the rates) of one document."""
        head, place = (dress[0], dress[2]) if located else (dress[1], "")
        if self._inline:
            truth = {"issues": issues, "is_problematic": bool(issues), "incident_ids": incident_ids}
            return head, place + "," + _dumps(truth)[1:]
        return head, place + "}"

    def _dressed(self, position, active, located, sessions, usual, conversion_repr, error_repr,
                 usual_rates=None, hit_split=None) -> tuple:
        dress = self._dress[position]
        located = located and dress[5]
        if not self._inline:
            return self._text(dress, located, (), ())
        conversion, error = float(conversion_repr), float(error_repr)
        labels = list(dress[3])
        for incident, _ in active:
            labels += [label for label in incident.labels if label not in labels]
        if self._relative:
            issues = [label for label in labels if _shown_relative(
                label, conversion, error, located, sessions, usual, usual_rates, hit_split)]
        else:
            issues = [label for label in labels if _shown(label, conversion, error, located, sessions, usual)]
        return self._text(dress, located, issues, dress[4] + [incident.incident_id for incident, _ in active])

    def lines(self, hour: datetime) -> list:
        h = hour_index(hour)
        timestamp = stamp(h)
        id_suffix = f"-{hour_id(h)}" + '"}}'
        volume = self._volume
        days = []
        for utc_offset in self._offsets:
            local = local_hour(h, utc_offset)
            local_day = (h * 60 + utc_offset) // 1440
            if volume:
                day = date.fromordinal(_EPOCH_ORDINAL + local_day)
                days.append((local, (local_day + 3) % 7, (day.month, day.day)))
            else:
                days.append((DAILY_CURVE[local], (local_day + 3) % 7, 0.8 + 0.4 * DAILY_CURVE[local]))
        affected = self._schedule.at(h)
        rate_repr, rate_texts = _rate_repr, _rate_texts()
        decimals, roots = self._decimals, self._roots
        # trunc is int() for a float, a third of its cost on Python 3.11.
        gauss, root, cap, trunc = _GAUSS, sqrt, LATENCY_CAP_MS, math.trunc
        # Every merchant's two hashes of the hour at once (_Lanes), each document's draws taken
        # from their bytes. noise: uniform, the whole word (three 21-bit fields); volume, bytes 0-3.
        # evidence: bytes 0-1 the codes, 5-6 the channels, 7 the latency (2-4 spare).
        noise = self._noise.at(h)
        if volume:
            noise_draws = zip(noise[0::16], noise[1::16], noise[2::16], noise[3::16])
        else:
            noise_draws = self._noise.words(noise)
        evidence = self._evidence.at(h)
        out = []
        append = out.append
        M64, M21, INV21 = _M64, _M21, _INV21
        code_offsets, latency_noises = _CODE_OFFSETS, _LATENCY_NOISES
        for position, state, noise_draw, b_rest, b_offset, b_app, b_bought, b_latency in zip(
                range(len(self._state)), self._state, noise_draws, evidence[0::16],
                evidence[1::16], evidence[5::16],
                evidence[6::16], evidence[7::16]):
            (action, json_prefix, json_suffix, offset_slot, peak, weekday_demand, knot_key, knot_hours, smooth,
             c_lo, c_hi, c_centre, c_amp, e_lo, e_hi, e_centre, e_amp, c_safe_lo, c_safe_hi, e_safe_lo, e_safe_hi,
             code_split, app_split, latency_ms,
             segment_start, c0, dc, e0, de, k1) = state

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

            if volume:
                # Counts drawn from their rate and the hour's volume: sessions Poisson-like around the
                # merchant's shape, weekday and holiday (plus a little overdispersion), transactions and
                # failures binomial-like; the rates' windows follow the drift and the conversion curve.
                local, weekday, month_day = days[offset_slot]
                shape, weekend, holidays = self._days[position]
                b_over, b_sessions, b_transactions, b_failed = noise_draw
                g_transactions, g_failed = gauss[b_transactions], gauss[b_failed]
                demand = shape[local] * weekday_demand[weekday] * (weekend if weekday >= 5 else 1.0)
                if month_day in holidays:
                    demand *= HOLIDAY_FACTOR
                latency_load = 0.8 + 0.4 * shape[local]
                expected = peak * demand * (1.0 + OVERDISPERSION * gauss[b_over])
                raw = expected + root(expected) * gauss[b_sessions]
                conversion_pos = 0.7 * (c0 + dc * t) + 0.3 * CONVERSION_CURVE[local]
                error_pos = e0 + de * t
            else:
                daily, weekday, latency_load = days[offset_slot]
                z = noise_draw
                volume_noise = 0.9 + 0.2 * (z & M21) * INV21
                conversion_jitter = ((z >> 21) & M21) * INV21
                error_jitter = (z >> 42) * INV21 * 0.5  # 22 bits left
                conversion_pos = 0.85 * (c0 + dc * t) + 0.15 * conversion_jitter
                error_pos = 0.85 * (e0 + de * t) + 0.15 * error_jitter
                raw = peak * daily * weekday_demand[weekday] * volume_noise
                g_transactions = g_failed = None

            # Floor on sessions: at least 10 transactions, so the error rate is always
            # defined and can reach every range.
            sessions = trunc(raw)
            if sessions < MIN_SESSIONS:
                sessions = MIN_SESSIONS
            c_target = c_centre + c_amp * (2.0 * conversion_pos - 1.0)
            e_target = e_centre + e_amp * (2.0 * error_pos - 1.0)
            active = affected.get(position) if affected else None
            if active is not None:
                usual = sessions
                usual_c_target, usual_e_target = c_target, e_target
                usual_ranges = (c_lo, c_hi), (e_lo, e_hi)
                sessions, c_target, c_lo, c_hi, e_target, e_lo, e_hi, located = _effects(
                    active, raw, sessions, conversion_pos, error_pos, c_target, c_lo, c_hi, e_target, e_lo, e_hi,
                    app_split)
                c_safe_lo = e_safe_lo = _ALWAYS_CLAMP

            if volume:
                transactions = _count(sessions, c_target, c_lo, c_hi, g_transactions)
                failed = _count(transactions, e_target, e_lo, e_hi, g_failed)
            else:
                # Counts are clamped so the rounded rates stay in the range. Clamping can
                # change a count only when its target is within 50 / count points of an end:
                # 0.25 for transactions (sessions >= 200), 5 for failed (transactions >= 10).
                # Away from the ends the bounds are skipped; the result is the same (_count).
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

            # _rate_repr, its fast path inlined.
            ratio = 10000 * transactions / sessions
            k = trunc(ratio + 0.5)
            conversion_repr = rate_texts[k] if abs(ratio - k) < 0.4999 else rate_repr(transactions, sessions)
            ratio = 10000 * failed / transactions
            k = trunc(ratio + 0.5)
            error_repr = rate_texts[k] if abs(ratio - k) < 0.4999 else rate_repr(failed, transactions)

            latency = latency_ms * latency_load
            if active is None:
                split = failed
                whole_sessions, whole_transactions = sessions, transactions
            else:
                split, extra, latency, hit = _evidence_effects(
                    active, failed, transactions, usual_e_target, usual_ranges[1], latency, g_failed)
                whole_sessions, whole_transactions = sessions, transactions
                if hit is not None:  # the other channel keeps its usual hour: split that (_keep_other_channel)
                    whole_sessions = usual
                    whole_transactions = _count(usual, usual_c_target, *usual_ranges[0], g_transactions)

            # The channels: the app's shares of sessions and of transactions (app_split, _app_split)
            # drawn binomial-like, kept so that neither channel converts more than its sessions.
            app_share, app_sd, bought_share, bought_sd = app_split
            app = trunc(whole_sessions * app_share + app_sd * roots[whole_sessions] * gauss[b_app] + 0.5)
            if app < 0:
                app = 0
            elif app > whole_sessions:
                app = whole_sessions
            web = whole_sessions - app
            app_bought = trunc(whole_transactions * bought_share + bought_sd * roots[whole_transactions] * gauss[b_bought] + 0.5)
            least = whole_transactions - web if whole_transactions > web else 0
            if app_bought < least:
                app_bought = least
            elif app_bought > app:
                app_bought = app
            if app_bought > whole_transactions:
                app_bought = whole_transactions
            web_bought = whole_transactions - app_bought

            if active is not None:
                hit_split = None
                if hit is not None:
                    usual_channels = app, web, app_bought, web_bought
                    app, web, app_bought, web_bought = channels = _keep_other_channel(
                        hit, sessions, transactions, usual_channels)
                    # (sessions, transactions, usual sessions, usual transactions) of the hit channel
                    side = 0 if hit == "app" else 1
                    hit_split = (channels[side], channels[2 + side], usual_channels[side], usual_channels[2 + side])
                json_prefix, json_suffix = self._dressed(
                    position, active, located, sessions, usual, conversion_repr, error_repr,
                    (usual_c_target, usual_e_target), hit_split)

            # split (the failures at the merchant's normal error rate) by code: those not declined
            # a binomial-like draw of their share, shared among the other codes at their
            # cumulative shares by systematic rounding from one offset.
            others, others_sd, c1, c2, c3, c4 = code_split
            rest = trunc(split * others + others_sd * roots[split] * gauss[b_rest] + 0.5)
            if rest < 0:
                rest = 0
            elif rest > split:
                rest = split
            code_offset = code_offsets[b_offset]
            timeouts = trunc(rest * c1 + code_offset)
            unavailable = trunc(rest * c2 + code_offset)
            fraud = trunc(rest * c3 + code_offset)
            authentication = trunc(rest * c4 + code_offset)
            invalid = rest - authentication
            authentication -= fraud
            fraud -= unavailable
            unavailable -= timeouts
            declined = split - rest
            if active is not None and extra:
                codes = [declined, timeouts, unavailable, fraud, authentication, invalid]
                for i, n in extra.items():
                    codes[i] += n
                declined, timeouts, unavailable, fraud, authentication, invalid = codes
            latency = trunc(latency * latency_noises[b_latency] + 0.5)
            if latency > cap:
                latency = cap
            # Two f-strings: one of more than 30 parts would be built through a list and str.join.
            append((
                action + id_suffix,
                f'{json_prefix}{timestamp}","sessions":{decimals[sessions]},'
                f'"transaction_count":{decimals[transactions]},'
                f'"successful_transactions":{decimals[transactions - failed]},"failed_transactions":{decimals[failed]},'
                f'"conversion_rate":{conversion_repr},"error_rate":{error_repr},'
                f'"errors_by_code":{{"declined":{decimals[declined]},"timeout":{decimals[timeouts]},' +
                f'"provider_unavailable":{decimals[unavailable]},"fraud_blocked":{decimals[fraud]},'
                f'"authentication_failed":{decimals[authentication]},"invalid_request":{decimals[invalid]}}},'
                f'"latency_p95_ms":{decimals[latency]},'
                f'"channels":{{"web":{{"sessions":{decimals[web]},"transactions":{decimals[web_bought]}}},'
                f'"app":{{"sessions":{decimals[app]},"transactions":{decimals[app_bought]}}}}}{json_suffix}',
            ))
        return out
