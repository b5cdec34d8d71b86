"""The baseline's rules on hand-built observations."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from grader import baseline

T0 = datetime(2026, 12, 8, tzinfo=timezone.utc)


def stamp(n: int) -> str:
    return (T0 + timedelta(hours=n)).strftime("%Y-%m-%dT%H:00:00Z")


def doc(n, merchant="merchant_001", sessions=1000, conversion=50.0, errors=5.0, location=True, **extra):
    d = {"merchant_id": merchant, "timestamp": stamp(n), "sessions": sessions, "conversion_rate": conversion,
         "error_rate": errors, **extra}
    if location:
        d["location"] = {"lat": 1.0, "lon": 2.0}
    return d


def detect(docs, start=0, end=6):
    return [(f["merchant_id"], f["issue"], f["timestamp"])
            for f in baseline.detect(docs, T0 + timedelta(hours=start), T0 + timedelta(hours=end))]


def test_one_finding_per_contiguous_episode_at_its_first_hour():
    conversions = [50, 29.99, 20, 50, 10, 30.0]  # 30.0 is not below 30
    docs = [doc(n, conversion=c) for n, c in enumerate(conversions)]
    assert detect(docs) == [("merchant_001", "low_conversion", stamp(1)), ("merchant_001", "low_conversion", stamp(4))]


def test_each_rule_and_its_boundary():
    docs = [doc(0, errors=15.0), doc(1, errors=15.01), doc(2, location=False), doc(3, location=False),
            doc(4, errors=40.0, conversion=5.0)]
    assert detect(docs) == [
        ("merchant_001", "high_error_rate", stamp(1)),
        ("merchant_001", "missing_location", stamp(2)),
        ("merchant_001", "high_error_rate", stamp(4)),
        ("merchant_001", "low_conversion", stamp(4)),
    ]


def test_traffic_drop_against_the_median_of_the_same_hour_over_seven_days():
    # History: the same hour on the 7 previous days, one of them a surge and one a drop (median 1000).
    history = [doc(-24 * d, sessions=s) for d, s in zip(range(1, 8), (1000, 4000, 980, 100, 1010, 1020, 990))]
    # An 8th day back does not count: it would pull the median up if it did.
    history.append(doc(-24 * 8, sessions=100_000))
    docs = history + [doc(0, sessions=499), doc(1, sessions=100)]
    # Hour 1 has no history (no documents 24 h earlier): its rule cannot fire.
    assert detect(docs, 0, 2) == [("merchant_001", "traffic_drop", stamp(0))]
    assert detect(history + [doc(0, sessions=500)], 0, 1) == []


def test_an_episode_running_into_the_range_is_found_at_its_first_hour_and_a_gap_breaks_one():
    docs = [doc(n, errors=20.0) for n in (-2, -1, 0, 1, 3)]
    assert detect(docs, 0, 4) == [("merchant_001", "high_error_rate", stamp(0)),
                                  ("merchant_001", "high_error_rate", stamp(3))]


def test_merchants_apart_and_findings_in_time_order():
    docs = [doc(2, "merchant_002", conversion=10.0), doc(0, "merchant_003", location=False), doc(2, conversion=11.0)]
    assert detect(docs) == [("merchant_003", "missing_location", stamp(0)), ("merchant_001", "low_conversion", stamp(2)),
                            ("merchant_002", "low_conversion", stamp(2))]


def test_truth_fields_are_never_read():
    docs = [doc(0, issues=["low_conversion", "traffic_drop"], is_problematic=True, incident_ids=["x"])]
    assert detect(docs) == []
    assert set(baseline.observed(docs[0])) == {"merchant_id", "timestamp", "sessions", "conversion_rate",
                                               "error_rate", "location"}
