"""Detectors of a few lines, and a label -> cause lookup table: what a script does with the docs'
definitions and nothing more (tests/test_hard.py holds them below 0.7 F1 on SCENARIO=hard, and
bench/run.py measures them over 5 seeds). Each rule returns, per merchant and hour, the labels
that fire; episodes() turns them into findings."""

from __future__ import annotations

import collections
import statistics

import catalog
from generator import stamp
from grader.scoring import hour_of


def static(doc, hours, h):
    """The thresholds of the normal ranges."""
    return [label for label, fires in (("low_conversion", doc["conversion_rate"] < 30),
                                       ("high_error_rate", doc["error_rate"] > 15),
                                       ("missing_location", "location" not in doc)) if fires]


def past(hours, h, field, step, n):
    return [hours[p][field] for p in (h - step * i for i in range(1, n + 1)) if p in hours]


def relative(doc, hours, h):
    """The docs' relative definitions on the totals, hour by hour, against the same hour of 4 weeks."""
    usual = {field: statistics.median(v) if (v := past(hours, h, field, 168, 4)) else None
             for field in ("conversion_rate", "error_rate", "sessions")}
    return [label for label, fires in (
        ("low_conversion", usual["conversion_rate"] and doc["conversion_rate"] <= 0.7 * usual["conversion_rate"]),
        ("high_error_rate", usual["error_rate"] is not None
         and doc["error_rate"] >= max(2 * usual["error_rate"], usual["error_rate"] + 4)),
        ("traffic_drop", usual["sessions"] and doc["sessions"] <= 0.5 * usual["sessions"]),
        ("missing_location", "location" not in doc and "location" in hours.get(h - 168, {}))) if fires]


def zscore(doc, hours, h):
    """A robust z-score against the merchant's own same hour of the last 7 days."""
    labels = []
    for field, label, sign in (("conversion_rate", "low_conversion", -1), ("error_rate", "high_error_rate", 1),
                               ("sessions", "traffic_drop", -1)):
        values = past(hours, h, field, 24, 7)
        median = statistics.median(values)
        spread = 1.4826 * statistics.median(abs(v - median) for v in values) or 1e-9
        if sign * (doc[field] - median) / spread > 4:
            labels.append(label)
    return labels + (["missing_location"] if "location" not in doc and "location" in hours.get(h - 24, {}) else [])


def episodes(docs, rule, start: str, end: str) -> list:
    """One finding per merchant, label and run of hours in [start, end) where rule fires."""
    by_merchant = collections.defaultdict(dict)
    for doc in docs:
        by_merchant[doc["merchant_id"]][hour_of(doc["timestamp"])] = doc
    out = []
    for merchant_id, hours in by_merchant.items():
        before = set()
        for h in range(hour_of(start), hour_of(end)):
            fired = set(rule(hours[h], hours, h))
            out += [{"merchant_id": merchant_id, "issue": label, "timestamp": stamp(h)} for label in fired - before]
            before = fired
    return out


def with_table(found: list, table: dict) -> list:
    """A label -> cause lookup table on findings."""
    return [{**f, "root_cause": dict(zip(("category", "component"), table[f["issue"]]))} for f in found]


def best_table(found: list, accuracy) -> tuple:
    """(the label -> cause table that names the most root causes of these findings, its accuracy):
    per label, whichever of its causes in the catalog scores best, as if the script's author knew.
    accuracy(findings) -> the root-cause accuracy (category) they score."""
    table = {}
    for label in ("high_error_rate", "low_conversion", "traffic_drop", "missing_location"):
        causes = [(k.category, k.component.format(provider="x")) for k in catalog.HARD_KINDS if label in k.labels]
        rows = {cause: accuracy(with_table([f for f in found if f["issue"] == label], {label: cause}))
                for cause in causes}
        table[label] = max(rows, key=rows.get)
    return table, accuracy(with_table(found, table))


