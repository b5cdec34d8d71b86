"""The specification of one document, slow and readable: generator.HourlyLines must write exactly this.

Everything is worked out from scratch for one merchant and one hour, in the order
the fast path does its float operations (so the results are byte-identical),
without any of its hoisting, caching or precomputed strings.
"""

from __future__ import annotations

import json

from generator import (
    _INV21, _M21, CONVERSION_RANGES, DAILY_CURVE, ERROR_RANGES, HIGH_ERROR_RATE, LOW_CONVERSION, MIN_SESSIONS,
    MISSING_LOCATION, _mix64, stamp,
)


def share(incident, h: int) -> float:
    """How much of its plateau effect an incident has at hour h: 1 on the plateau,
    (i + 1) / (n + 1) at the i-th of n onset-ramp hours, mirrored on the recovery ramp."""
    if h < incident.plateau_start:
        return (h - incident.onset + 1) / (incident.plateau_start - incident.onset + 1)
    if h < incident.recovery_start:
        return 1.0
    return 1.0 - (h - incident.recovery_start + 1) / (incident.end - incident.recovery_start + 1)


def steady_inputs(m, h: int) -> dict:
    """The merchant's own hour: raw sessions, and where its rates sit in their windows."""
    local_minutes = h * 60 + m.utc_offset_minutes
    local_hour = (local_minutes // 60) % 24
    weekday = (local_minutes // 1440 + 3) % 7  # 1970-01-01 was a Thursday

    z = _mix64(m.noise_key ^ h)
    volume_noise = 0.9 + 0.2 * (z & _M21) * _INV21
    conversion_jitter = ((z >> 21) & _M21) * _INV21
    error_jitter = (z >> 42) * _INV21 * 0.5

    # Slow drift: smoothstep between hashed knots every knot_hours hours.
    segment, offset = divmod(h, m.knot_hours)
    k0 = _mix64(m.knot_key ^ segment)
    k1 = _mix64(m.knot_key ^ (segment + 1))
    t = offset / m.knot_hours
    t = t * t * (3.0 - 2.0 * t)
    c0, c1 = (k0 & _M21) * _INV21, (k1 & _M21) * _INV21
    e0, e1 = ((k0 >> 21) & _M21) * _INV21, ((k1 >> 21) & _M21) * _INV21
    return {
        "raw_sessions": m.peak_sessions * DAILY_CURVE[local_hour] * m.weekday_demand[weekday] * volume_noise,
        "conversion_pos": 0.85 * (c0 + (c1 - c0) * t) + 0.15 * conversion_jitter,
        "error_pos": 0.85 * (e0 + (e1 - e0) * t) + 0.15 * error_jitter,
    }


def clamp_count(whole: int, target: float, lo: int, hi: int) -> int:
    """round(whole x target %), moved just enough that the rounded rate lies in [lo, hi]."""
    return min(max(round(whole * target / 100), -(-lo * whole // 100)), hi * whole // 100)


def document(m, h: int, active: list, chronic_ids: list = (), inline: bool = False) -> dict:
    """The document of merchant m at epoch hour h.

    active: [(incident, share)] of the acute incidents at h, by onset then id; each
    moves the values it affects from where they are toward its plateau by its share.
    """
    inputs = steady_inputs(m, h)
    raw, conversion_pos, error_pos = inputs["raw_sessions"], inputs["conversion_pos"], inputs["error_pos"]
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
    transactions = clamp_count(sessions, conversion_target, *conversion_range)
    failed = clamp_count(transactions, error_target, *error_range)
    conversion = round(100 * transactions / sessions, 2)
    error = round(100 * failed / transactions, 2)

    doc = {"merchant_id": m.merchant_id, "merchant_name": m.name, "category": m.category,
           "payment_provider": m.payment_provider}
    if located:
        doc.update(city=m.city, country=m.country)
    doc.update(timestamp=stamp(h), sessions=sessions, transaction_count=transactions,
               successful_transactions=transactions - failed, failed_transactions=failed,
               conversion_rate=conversion, error_rate=error)
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


def source_line(m, h: int, schedule, inline: bool = False) -> str:
    """The bulk source line of merchant m (at its roster position in schedule) at epoch hour h."""
    position = m.k - 1
    active = [(incident, share(incident, h)) for incident in schedule.acute(h, h + 1) if position in incident.positions]
    return json.dumps(document(m, h, active, schedule.chronic_ids(position), inline), separators=(",", ":"))
