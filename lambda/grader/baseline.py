"""The baseline detector: plain thresholds on observations, the bar an AI must beat.

It reads only what a merchant-metrics pipeline holds (OBSERVED_FIELDS), never a truth field.
Per merchant and label, one finding per contiguous episode of hours where its rule fires,
at the episode's first hour in the range.
"""

from __future__ import annotations

import math
import re
import statistics
from collections import defaultdict
from datetime import datetime

from generator import HIGH_ERROR_RATE, LOW_CONVERSION, MISSING_LOCATION, TRAFFIC_DROP, hour_index, stamp
from grader.scoring import hour_of

# Everything the baseline and the report may read of an observation.
OBSERVED_FIELDS = ("merchant_id", "merchant_name", "city", "payment_provider", "timestamp", "sessions",
                   "conversion_rate", "error_rate", "location")
CONVERSION_BELOW = 30.0
ERRORS_ABOVE = 15.0
# Sessions below this share of the merchant's median for the same hour of day over the
# previous days. Offsets are fixed (no DST), so the same UTC hour is the same local hour.
TRAFFIC_SHARE = 0.5
HISTORY_DAYS = 7


def observed(doc: dict) -> dict:
    """Only the observed fields of a document: whatever else it carries is never seen."""
    return {name: doc[name] for name in OBSERVED_FIELDS if name in doc}


_STAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:00:00Z")


def _number(doc: dict, name: str, low: float, high: float, integer: bool = False) -> None:
    value = doc.get(name)
    kinds = (int,) if integer else (int, float)
    # bool is an int to Python, not a number to JSON; NaN and infinities fail the range.
    if isinstance(value, bool) or not isinstance(value, kinds) or not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must be {'an integer' if integer else 'a number'} from {low:g} to {high:g}")


def checked(doc) -> dict:
    """observed(doc) of a document from an untrusted file, its fields checked as the grader reads
    them; a ValueError naming the first field that is not."""
    if not isinstance(doc, dict):
        raise ValueError(f"the document is not a JSON object, got {type(doc).__name__}")
    for name in ("merchant_id", "timestamp"):
        if not isinstance(doc.get(name), str) or not doc[name]:
            raise ValueError(f"{name} must be a non-empty string")
    if not _STAMP.fullmatch(doc["timestamp"]):
        raise ValueError("timestamp must be an hour as YYYY-MM-DDTHH:00:00Z")
    try:
        hour_of(doc["timestamp"])
    except ValueError:
        raise ValueError("timestamp is not a valid hour") from None
    _number(doc, "sessions", 0, 1e12, integer=True)
    _number(doc, "conversion_rate", 0, 100)
    _number(doc, "error_rate", 0, 100)
    for name in ("merchant_name", "city", "payment_provider"):
        if name in doc and not isinstance(doc[name], str):
            raise ValueError(f"{name} must be a string")
    if "location" in doc:
        location = doc["location"]
        if not isinstance(location, dict):
            raise ValueError("location must be an object with lat and lon")
        _number(location, "lat", -90, 90)
        _number(location, "lon", -180, 180)
    return observed(doc)


def _firing(doc: dict, history: list) -> list:
    labels = []
    if doc["conversion_rate"] < CONVERSION_BELOW:
        labels.append(LOW_CONVERSION)
    if doc["error_rate"] > ERRORS_ABOVE:
        labels.append(HIGH_ERROR_RATE)
    if "location" not in doc:
        labels.append(MISSING_LOCATION)
    if history and doc["sessions"] < TRAFFIC_SHARE * statistics.median(history):
        labels.append(TRAFFIC_DROP)
    return labels


def detect(observations, start: datetime, end: datetime) -> list:
    """Findings for the hours [start, end); earlier observations serve only as traffic history."""
    first, stop = hour_index(start), hour_index(end)
    by_merchant = defaultdict(dict)
    for doc in observations:
        by_merchant[doc["merchant_id"]][hour_of(doc["timestamp"])] = observed(doc)
    out = []
    for merchant_id, hours in by_merchant.items():
        fired_before: set = set()
        for hour in range(first, stop):
            doc = hours.get(hour)
            if doc is None:  # no data: an episode cannot continue through it
                fired_before = set()
                continue
            history = [hours[past]["sessions"] for past in (hour - 24 * d for d in range(1, HISTORY_DAYS + 1))
                       if past in hours]
            fired = set(_firing(doc, history))
            out += [{"merchant_id": merchant_id, "issue": label, "timestamp": stamp(hour)}
                    for label in sorted(fired - fired_before)]
            fired_before = fired
    return sorted(out, key=lambda f: (f["timestamp"], f["merchant_id"], f["issue"]))
