"""The specification of one document, slow and readable: generator.HourlyLines must write exactly this.

Everything is worked out from scratch for one merchant and one hour, in the order
the fast path does its float operations (so the results are byte-identical),
without any of its hoisting, caching or precomputed strings.
"""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

from generator import (
    _GAUSS, _INV21, _M21, CONVERSION_CURVE, CONVERSION_RANGES, DAILY_CURVE, DAILY_SHAPES, ERROR_CODES, ERROR_RANGES,
    HIGH_ERROR_RATE, HOLIDAY_FACTOR, HOLIDAYS, LATENCY_CAP_MS, LATENCY_NOISE, LOW_CONVERSION, MIN_SESSIONS,
    MISSING_LOCATION, OVERDISPERSION, WEEKEND_FACTOR, _mix64, stamp,
)


def gauss(word: int, i: int) -> float:
    """The i-th standard normal draw of a 64-bit hash: its i-th byte picks one of 256 quantiles."""
    return _GAUSS[(word >> (8 * i)) & 255]


def share(incident, h: int) -> float:
    """How much of its plateau effect an incident has at hour h: 1 on the plateau,
    (i + 1) / (n + 1) at the i-th of n onset-ramp hours, mirrored on the recovery ramp."""
    if h < incident.plateau_start:
        return (h - incident.onset + 1) / (incident.plateau_start - incident.onset + 1)
    if h < incident.recovery_start:
        return 1.0
    return 1.0 - (h - incident.recovery_start + 1) / (incident.end - incident.recovery_start + 1)


def steady_inputs(m, h: int, noise: str = "uniform") -> dict:
    """The merchant's own hour: raw sessions, where its rates sit in their windows, the
    hour's demand (0..1, what latency's load follows) and, with volume noise, the deviates
    of its transaction and failure draws."""
    local_minutes = h * 60 + m.utc_offset_minutes
    local_hour = (local_minutes // 60) % 24
    weekday = (local_minutes // 1440 + 3) % 7  # 1970-01-01 was a Thursday

    # Slow drift: smoothstep between hashed knots every knot_hours hours.
    segment, offset = divmod(h, m.knot_hours)
    k0 = _mix64(m.knot_key ^ segment)
    k1 = _mix64(m.knot_key ^ (segment + 1))
    t = offset / m.knot_hours
    t = t * t * (3.0 - 2.0 * t)
    c0, c1 = (k0 & _M21) * _INV21, (k1 & _M21) * _INV21
    e0, e1 = ((k0 >> 21) & _M21) * _INV21, ((k1 >> 21) & _M21) * _INV21
    conversion_drift, error_drift = c0 + (c1 - c0) * t, e0 + (e1 - e0) * t

    if noise == "volume":
        w = _mix64(m.volume_key ^ h)
        shape = DAILY_SHAPES[m.shape]
        demand = shape[local_hour] * m.weekday_demand[weekday] * (WEEKEND_FACTOR[m.shape] if weekday >= 5 else 1.0)
        day = date(1970, 1, 1) + timedelta(days=local_minutes // 1440)
        if (day.month, day.day) in HOLIDAYS[m.country]:
            demand = demand * HOLIDAY_FACTOR
        expected = m.peak_sessions * demand * (1.0 + OVERDISPERSION * gauss(w, 0))
        return {
            "raw_sessions": expected + math.sqrt(expected) * gauss(w, 1),
            "conversion_pos": 0.7 * conversion_drift + 0.3 * CONVERSION_CURVE[local_hour],
            "error_pos": error_drift,
            "load": shape[local_hour],
            "deviates": (gauss(w, 2), gauss(w, 3)),
        }

    z = _mix64(m.noise_key ^ h)
    volume_noise = 0.9 + 0.2 * (z & _M21) * _INV21
    conversion_jitter = ((z >> 21) & _M21) * _INV21
    error_jitter = (z >> 42) * _INV21 * 0.5
    return {
        "raw_sessions": m.peak_sessions * DAILY_CURVE[local_hour] * m.weekday_demand[weekday] * volume_noise,
        "conversion_pos": 0.85 * conversion_drift + 0.15 * conversion_jitter,
        "error_pos": 0.85 * error_drift + 0.15 * error_jitter,
        "load": DAILY_CURVE[local_hour],
        "deviates": (None, None),
    }


def clamp_count(whole: int, target: float, lo: int, hi: int, deviate: float | None = None) -> int:
    """round(whole x target %) (with a deviate, the normal approximation of a binomial draw),
    moved just enough that the rounded rate lies in [lo, hi]."""
    if deviate is None:
        count = round(whole * target / 100)
    else:
        p = target / 100
        count = int(whole * p + math.sqrt(whole * p * (1.0 - p)) * deviate + 0.5)
    return min(max(count, -(-lo * whole // 100)), hi * whole // 100)


def code_counts(failed: int, mix: tuple, y: int) -> dict:
    """failed by code at the merchant's normal mix: those not declined are a binomial-like draw
    of their share (sd sqrt(n q (1 - q))), never below 0 nor above failed; the other codes share
    them by systematic rounding: the k-th code's cumulative count is floor(rest x its cumulative
    share + one offset in (0, 1))."""
    others = 1.0 - mix[0]
    rest = int(failed * others + math.sqrt(others * (1.0 - others)) * math.sqrt(failed) * gauss(y, 0) + 0.5)
    rest = min(max(rest, 0), failed)
    offset = (((y >> 8) & 255) + 0.5) / 256
    counts, total, before = {"declined": failed - rest}, 0.0, 0
    for code, share in zip(ERROR_CODES[1:], mix[1:]):
        total += share
        upto = int(rest * (total / others) + offset) if code != ERROR_CODES[-1] else rest
        counts[code], before = upto - before, upto
    return counts


def channel_counts(m, sessions: int, transactions: int, y: int) -> dict:
    """Sessions and transactions by channel: the app's share of sessions, and of transactions
    at its relative conversion, binomial-like; no channel converts more than its sessions."""
    a = m.app_share
    app = min(max(int(sessions * a + math.sqrt(a * (1.0 - a)) * math.sqrt(sessions) * gauss(y, 5) + 0.5), 0),
              sessions)
    web = sessions - app
    t = a * m.app_conversion / (a * m.app_conversion + 1.0 - a)  # the app's expected share of transactions
    bought = int(transactions * t + math.sqrt(t * (1.0 - t)) * math.sqrt(transactions) * gauss(y, 6) + 0.5)
    bought = min(max(bought, transactions - web, 0), app, transactions)
    return {"web": {"sessions": web, "transactions": transactions - bought},
            "app": {"sessions": app, "transactions": bought}}


def document(m, h: int, active: list, chronic_ids: list = (), inline: bool = False, noise: str = "uniform") -> dict:
    """The document of merchant m at epoch hour h.

    active: [(incident, share)] of the acute incidents at h, by onset then id; each
    moves the values it affects from where they are toward its plateau by its share.
    """
    inputs = steady_inputs(m, h, noise)
    raw, conversion_pos, error_pos = inputs["raw_sessions"], inputs["conversion_pos"], inputs["error_pos"]
    transactions_deviate, failed_deviate = inputs["deviates"]
    usual = max(MIN_SESSIONS, int(raw))

    conversion_target = m.conversion_centre + m.conversion_amplitude * (2.0 * conversion_pos - 1.0)
    error_target = m.error_centre + m.error_amplitude * (2.0 * error_pos - 1.0)
    conversion_range, error_range = m.conversion_range, m.error_range
    factor = 1.0
    located = m.has_location
    for incident, f in active:
        if incident.sessions is not None:
            factor = factor * (1.0 + (incident.sessions - 1.0) * f)
        if incident.conversion is not None:
            centre, amplitude = incident.conversion
            plateau = centre + amplitude * (2.0 * conversion_pos - 1.0)
            conversion_target = conversion_target + (plateau - conversion_target) * f
            lo, hi = incident.kind.conversion
            conversion_range = (lo, hi) if f == 1.0 else (min(conversion_range[0], lo), max(conversion_range[1], hi))
        if incident.errors is not None:
            centre, amplitude = incident.errors
            plateau = centre + amplitude * (2.0 * error_pos - 1.0)
            error_target = error_target + (plateau - error_target) * f
            lo, hi = incident.kind.errors
            error_range = (lo, hi) if f == 1.0 else (min(error_range[0], lo), max(error_range[1], hi))
        if incident.kind.drops_location and f >= 0.5:
            located = False
    sessions = usual if factor == 1.0 else max(MIN_SESSIONS, int(raw * factor))
    transactions = clamp_count(sessions, conversion_target, *conversion_range, transactions_deviate)
    failed = clamp_count(transactions, error_target, *error_range, failed_deviate)
    conversion = round(100 * transactions / sessions, 2)
    error = round(100 * failed / transactions, 2)

    # The evidence: one hash per (merchant, hour); bytes 0-4 the codes, 5-6 the channels, 7 latency.
    y = _mix64(m.evidence_key ^ h)
    usual_latency = m.latency_ms * (0.8 + 0.4 * inputs["load"])
    latency = usual_latency
    codes, hit = [], None
    for incident, f in active:
        codes += [code for code in incident.kind.error_codes if code not in codes]
        if incident.latency_factor is not None:
            latency = latency + (usual_latency * incident.latency_factor - latency) * f
        if incident.latency_ms is not None:
            latency = latency + (incident.latency_ms - latency) * f
        if incident.channel is not None:
            hit = incident.channel
    # The failures the merchant's normal error rate gives these transactions keep its mix;
    # the incident's extra ones go to its codes, evenly, the first ones taking the remainder.
    usual_error_target = m.error_centre + m.error_amplitude * (2.0 * error_pos - 1.0)
    normal = clamp_count(transactions, usual_error_target, *m.error_range, failed_deviate) if codes else failed
    by_code = code_counts(min(normal, failed), m.code_mix, y)
    for i, code in enumerate(codes):
        by_code[code] += (failed - min(normal, failed)) // len(codes) + (i < (failed - min(normal, failed)) % len(codes))
    by_code = {code: by_code[code] for code in ERROR_CODES}
    channels = channel_counts(m, sessions, transactions, y)
    if hit is not None:
        # The other channel keeps its usual hour, as far as the totals allow.
        usual_conversion_target = m.conversion_centre + m.conversion_amplitude * (2.0 * conversion_pos - 1.0)
        usual_transactions = clamp_count(usual, usual_conversion_target, *m.conversion_range, transactions_deviate)
        other = "app" if hit == "web" else "web"
        kept = channel_counts(m, usual, usual_transactions, y)[other]
        other_sessions = min(kept["sessions"], sessions)
        other_transactions = max(min(kept["transactions"], transactions, other_sessions),
                                 transactions - (sessions - other_sessions))
        channels = {hit: {"sessions": sessions - other_sessions, "transactions": transactions - other_transactions},
                    other: {"sessions": other_sessions, "transactions": other_transactions}}
        channels = {"web": channels["web"], "app": channels["app"]}
    latency = min(int(latency * (1.0 + LATENCY_NOISE * gauss(y, 7)) + 0.5), LATENCY_CAP_MS)

    doc = {"merchant_id": m.merchant_id, "merchant_name": m.name, "category": m.category,
           "payment_provider": m.payment_provider}
    if located:
        doc.update(city=m.city, country=m.country)
    doc.update(timestamp=stamp(h), sessions=sessions, transaction_count=transactions,
               successful_transactions=transactions - failed, failed_transactions=failed,
               conversion_rate=conversion, error_rate=error, errors_by_code=by_code, latency_p95_ms=latency,
               channels=channels)
    if located:
        doc["location"] = {"lat": m.lat, "lon": m.lon}
    if inline:
        labels = list(m.issues)
        for incident, _ in active:
            labels += [label for label in incident.kind.labels if label not in labels]
        shown = {
            LOW_CONVERSION: CONVERSION_RANGES[LOW_CONVERSION][0] <= conversion <= CONVERSION_RANGES[LOW_CONVERSION][1],
            HIGH_ERROR_RATE: ERROR_RANGES[HIGH_ERROR_RATE][0] <= error <= ERROR_RANGES[HIGH_ERROR_RATE][1],
            MISSING_LOCATION: not located,
            "traffic_drop": sessions <= usual / 2,
        }
        issues = [label for label in labels if shown[label]]
        doc.update(issues=issues, is_problematic=bool(issues),
                   incident_ids=list(chronic_ids) + [incident.incident_id for incident, _ in active])
    return doc


def source_line(m, h: int, schedule, inline: bool = False, noise: str = "uniform") -> str:
    """The bulk source line of merchant m (at its roster position in schedule) at epoch hour h."""
    position = m.k - 1
    active = [(incident, share(incident, h)) for incident in schedule.acute(h, h + 1) if position in incident.positions]
    return json.dumps(document(m, h, active, schedule.chronic_ids(position), inline, noise), separators=(",", ":"))
