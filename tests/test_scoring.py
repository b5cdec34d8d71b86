"""The scorer on hand-built incidents and findings, with literal expected numbers."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from grader import findings
from grader import scoring

T0 = datetime(2026, 12, 1, tzinfo=timezone.utc)
START, END = T0, T0 + timedelta(hours=48)


def h(n: int) -> str:
    return (T0 + timedelta(hours=n)).strftime("%Y-%m-%dT%H:00:00Z")


def record(incident_id, kind, merchants, issues, onset=None, end=None, category="c", component="x"):
    rec = {"incident_id": incident_id, "kind": kind, "is_issue": bool(issues), "issues": issues,
           "merchant_ids": merchants, "root_cause": {"category": category, "component": component,
                                                     "description": "-"},
           "remediation": [], "scenario": "incidents", "seed_digest": "98b1690510df"}
    if onset is not None:
        rec.update(onset=h(onset), plateau_start=h(onset + 1), recovery_start=h(end - 1), end=h(end))
    return rec


RECORDS = [
    record("A", "gateway_timeouts", ["merchant_001"], ["high_error_rate", "low_conversion"], 10, 20,
           "configuration", "payment_gateway"),
    {**record("B", "payment_outage", ["merchant_002", "merchant_003"], ["high_error_rate"], 30, 34,
              "dependency", "payment_provider:acmepay"), "payment_provider": "acmepay"},
    record("C", "traffic_drop", ["merchant_004"], ["traffic_drop"], 40, 44),
    record("D", "promo_surge", ["merchant_005"], [], 5, 9, "marketing", "promotion"),
    record("E", "chronic", ["merchant_006"], ["missing_location"]),
    record("F", "checkout_regression", ["merchant_001"], ["low_conversion"], 60, 64),  # after the range
    record("G", "payment_outage", [], ["high_error_rate"], 1, 5),  # a provider without merchants: in no data
]


def line(merchant, issue, hour, root_cause=None):
    value = {"merchant_id": merchant, "issue": issue, "timestamp": h(hour) if isinstance(hour, int) else hour}
    if root_cause:
        value["root_cause"] = dict(zip(("category", "component"), root_cause))
    return json.dumps(value)


LINES = [
    line("merchant_001", "high_error_rate", 12, ("configuration", "payment_gateway")),  # 1: detects A
    line("merchant_001", "low_conversion", 15),  # 2: a later duplicate of A
    line("merchant_003", "high_error_rate", 33, ("dependency", "payment_provider:otherpay")),  # 3: detects B
    line("merchant_001", "high_error_rate", 22),  # 4: late, after A ended: a false positive
    line("merchant_007", "low_conversion", 3),  # 5: outside any window
    line("merchant_005", "traffic_drop", 6),  # 6: inside the benign promo D
    line("merchant_006", "missing_location", 24),  # 7: the chronic E, mid-range
    "",
    line("merchant_006", "missing_location", 40),  # 9: duplicate of E
    "not json",  # 10
    line("merchant_001", "slow_checkout", 12),  # 11: unknown label
    line("merchant_001", "high_error_rate", "2026-12-05T00:00:00Z"),  # 12: after the range
    json.dumps({"merchant_id": "merchant_001", "issue": "high_error_rate"}),  # 13: no timestamp
]


def score(lines, records=RECORDS):
    return scoring.assess(records, findings.parse_lines(lines), START, END).summary()


def test_parsing_counts_and_names_every_unusable_line():
    parsed = findings.parse_lines(LINES)
    assert (parsed.lines, len(parsed.usable), parsed.malformed, parsed.unknown_label) == (12, 9, 2, 1)
    assert [where for where, _ in parsed.problems] == ["line 10", "line 11", "line 13"]
    assert "unknown label 'slow_checkout'" in parsed.problems[1][1]
    assert "timestamp must be a non-empty string" in parsed.problems[2][1]
    assert not parsed.unusable


def test_empty_file_is_the_null_detector_and_only_bad_lines_are_unusable():
    assert not findings.parse_lines([]).unusable
    assert not findings.parse_lines(["", "  "]).unusable
    bad = findings.parse_lines(["{}", line("merchant_001", "nope", 1)])
    assert bad.unusable and (bad.malformed, bad.unknown_label) == (1, 1)


def test_detection_counts_per_label_and_overall():
    result = score(LINES)
    assert result["findings"] | {"problems": None} == {
        "lines": 12, "usable": 9, "malformed": 2, "unknown_label": 1, "unrecorded": 0, "times": "self-reported",
        "outside_range": 1, "during_side_effects": 0, "problems": None}
    assert result["incidents"] == {"problems": 4, "acute": 3, "chronic": 1, "lookalikes": 1}
    # Detected A, B, E; missed C. False positives: lines 4, 5 and 6; duplicates 2 and 9 count for nothing.
    assert result["overall"] == {"tp": 3, "fp": 3, "fn": 1, "precision": 0.5, "recall": 0.75, "f1": 0.6}
    assert result["per_label"] == {
        "low_conversion": {"tp": 1, "fp": 1, "fn": 0, "precision": 0.5, "recall": 1.0, "f1": 0.6667},
        "high_error_rate": {"tp": 2, "fp": 1, "fn": 0, "precision": 0.6667, "recall": 1.0, "f1": 0.8},
        "missing_location": {"tp": 1, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0, "f1": 1.0},
        "traffic_drop": {"tp": 0, "fp": 1, "fn": 1, "precision": 0.0, "recall": 0.0, "f1": 0.0},
    }
    assert result["lookalike_false_alarms"] == 1


def test_hours_to_detect_over_acute_incidents_only():
    # A at +2 h, B at +3 h; the chronic E has no onset.
    assert score(LINES)["hours_to_detect"] == {"count": 2, "median": 2.5, "p90": 3, "max": 3}


def test_root_cause_of_the_detecting_finding():
    # A: both right; B: category right, provider wrong; E's finding states none; C is missed.
    # Over all 4 problems: categories 2/4, components 1/4. Among the 2 stated: 2/2 and 1/2.
    assert score(LINES)["root_cause_accuracy"] == {
        "problems": 4, "category": 0.5, "component": 0.25,
        "among_stated": {"stated": 2, "category": 1.0, "component": 0.5}}


def test_root_cause_over_all_problems_counts_a_missed_or_unstated_one_as_wrong():
    # Only A detected, with the right cause: 1 of 4 problems.
    one = score([line("merchant_001", "low_conversion", 11, ("configuration", "payment_gateway"))])
    assert one["root_cause_accuracy"] == {"problems": 4, "category": 0.25, "component": 0.25,
                                          "among_stated": {"stated": 1, "category": 1.0, "component": 1.0}}
    # A duplicate's cause does not count: the detecting finding (hour 10) states none.
    late = score([line("merchant_001", "low_conversion", 10),
                  line("merchant_001", "low_conversion", 11, ("configuration", "payment_gateway"))])
    assert late["root_cause_accuracy"] == {"problems": 4, "category": 0.0, "component": 0.0,
                                           "among_stated": {"stated": 0, "category": None, "component": None}}
    assert score([], [])["root_cause_accuracy"] == {
        "problems": 0, "category": None, "component": None,
        "among_stated": {"stated": 0, "category": None, "component": None}}


def test_skill_is_zero_for_the_baseline_and_one_for_perfect():
    # Baseline NAB 60 (standard), 80 (low FP), 100 (low FN, already perfect: no room, None).
    base = {"standard": 60.0, "reward_low_fp": 80.0, "reward_low_fn": 100.0}
    assert scoring.skill({"standard": 60.0, "reward_low_fp": 100.0, "reward_low_fn": 100.0}, base) == {
        "standard": 0.0, "reward_low_fp": 1.0, "reward_low_fn": None}
    # (70 - 60) / 40; (20 - 80) / 20: worse than the baseline is negative.
    assert scoring.skill({"standard": 70.0, "reward_low_fp": 20.0, "reward_low_fn": None}, base) == {
        "standard": 0.25, "reward_low_fp": -3.0, "reward_low_fn": None}


def test_skill_in_the_summary_and_the_table_when_the_baseline_is_given():
    base = {"standard": 25.0, "reward_low_fp": 20.0, "reward_low_fn": 40.0}
    result = scoring.assess(RECORDS, findings.parse_lines(LINES), START, END, baseline_nab=base).summary()
    # NAB 63.8 / 60.11 / 67.53: (63.8 - 25) / 75, (60.11 - 20) / 80, (67.53 - 40) / 60.
    assert result["skill"] == {"standard": 0.5173, "reward_low_fp": 0.5014, "reward_low_fn": 0.4588}
    assert result["baseline_nab"] == base
    text = scoring.table(result)
    assert ("skill (the shipped baseline 0, perfect 1): standard 0.52, reward_low_fp 0.50, reward_low_fn 0.46; "
            "baseline NAB standard 25.00, reward_low_fp 20.00, reward_low_fn 40.00") in text
    assert "skill" not in score(LINES)


def test_nab_profiles():
    # Windows: A at 0.8 of its width from the end, B at its last hour (1/4), E (the whole
    # range) halfway: tanh(2), tanh(0.625), tanh(1.25), each / tanh(2.5); C missed: -fn.
    # False positives: line 4, 1/3 of A's width past A: fp * -tanh(5/6); lines 5 and 6: -fp each.
    assert score(LINES)["nab"] == {"standard": 63.8, "reward_low_fp": 60.11, "reward_low_fn": 67.53}


def test_one_true_positive_per_incident_is_perfect():
    result = score([line("merchant_001", "low_conversion", 10), line("merchant_002", "high_error_rate", 30),
                    line("merchant_004", "traffic_drop", 40), line("merchant_006", "missing_location", 0)])
    assert result["overall"] == {"tp": 4, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert result["nab"] == {"standard": 100.0, "reward_low_fp": 100.0, "reward_low_fn": 100.0}
    assert result["hours_to_detect"] == {"count": 3, "median": 0, "p90": 0, "max": 0}


def test_late_finding_scores_less_than_an_early_one_and_past_the_end_is_a_false_positive():
    early = score([line("merchant_004", "traffic_drop", 40)])["nab"]["standard"]
    late = score([line("merchant_004", "traffic_drop", 43)])["nab"]["standard"]
    after = score([line("merchant_004", "traffic_drop", 44)])
    # One of four windows, found at its start: raw 1 - 3 between null -4 and perfect 4;
    # at its last hour, a quarter of its width from the end: tanh(0.625) / tanh(2.5) - 3.
    assert (early, late) == (25.0, 19.53)
    # One hour past the window, a third of its width: 0.11 * -tanh(5/6) - 4.
    assert after["overall"]["tp"] == 0 and after["overall"]["fp"] == 1 and after["nab"]["standard"] == -0.94


def test_duplicates_are_neither_rewarded_nor_punished():
    once = score([line("merchant_004", "traffic_drop", 40)])
    thrice = score([line("merchant_004", "traffic_drop", n) for n in (40, 41, 43)])
    assert once["overall"] == thrice["overall"] and once["nab"] == thrice["nab"]


def test_a_payment_outage_is_one_incident_whichever_merchant_reports_it():
    result = score([line("merchant_003", "high_error_rate", 31), line("merchant_002", "high_error_rate", 32)])
    assert (result["overall"]["tp"], result["overall"]["fp"], result["overall"]["fn"]) == (1, 0, 3)
    assert result["hours_to_detect"]["max"] == 1


def test_wrong_label_or_wrong_merchant_inside_a_window_matches_nothing():
    result = score([line("merchant_004", "low_conversion", 41), line("merchant_005", "traffic_drop", 41)])
    assert (result["overall"]["tp"], result["overall"]["fp"]) == (0, 2)
    assert result["lookalike_false_alarms"] == 0


def test_lookalike_false_alarm_is_a_false_positive():
    result = score([line("merchant_005", "traffic_drop", 5), line("merchant_005", "high_error_rate", 8)])
    assert result["overall"]["fp"] == 2 and result["lookalike_false_alarms"] == 2
    assert result["per_label"]["traffic_drop"]["fp"] == 1


def test_chronic_matches_at_any_hour_of_the_range():
    first = score([line("merchant_006", "missing_location", 0)])
    last = score([line("merchant_006", "missing_location", 47)])
    assert first["per_label"]["missing_location"]["tp"] == last["per_label"]["missing_location"]["tp"] == 1
    # Four windows, E found at its start (1) or at its last hour (tanh(2.5 / 48) / tanh(2.5)).
    assert (first["nab"]["standard"], last["nab"]["standard"]) == (25.0, 13.16)


def test_nab_null_is_zero_and_perfect_is_one_hundred():
    null = score([])
    assert null["nab"] == {"standard": 0.0, "reward_low_fp": 0.0, "reward_low_fn": 0.0}
    assert null["overall"] == {"tp": 0, "fp": 0, "fn": 4, "precision": None, "recall": 0.0, "f1": 0.0}
    perfect = scoring.perfect_findings(RECORDS, START, END)
    assert [(f["merchant_id"], f["issue"], f["timestamp"]) for f in perfect] == [
        ("merchant_006", "missing_location", h(0)), ("merchant_001", "high_error_rate", h(10)),
        ("merchant_001", "low_conversion", h(10)), ("merchant_002", "high_error_rate", h(30)),
        ("merchant_004", "traffic_drop", h(40))]
    result = score([json.dumps(f) for f in perfect])
    assert result["nab"] == {"standard": 100.0, "reward_low_fp": 100.0, "reward_low_fn": 100.0}
    assert result["overall"]["precision"] == result["overall"]["recall"] == 1.0
    assert {label: (c["precision"], c["recall"]) for label, c in result["per_label"].items()} == {
        label: (1.0, 1.0) for label in findings.LABELS}
    assert result["root_cause_accuracy"] == {"problems": 4, "category": 1.0, "component": 1.0,
                                             "among_stated": {"stated": 4, "category": 1.0, "component": 1.0}}


def test_incident_begun_before_the_range_is_clipped_to_it():
    records = [record("G", "checkout_regression", ["merchant_001"], ["low_conversion"], -5, 5)]
    result = score([line("merchant_001", "low_conversion", 0)], records)
    # Found at the window's first hour (the range's), 5 hours after onset.
    assert result["nab"]["standard"] == 100.0 and result["hours_to_detect"]["max"] == 5


def test_no_incidents_has_no_nab_and_no_recall():
    result = score([line("merchant_001", "low_conversion", 3)], [])
    assert result["nab"] == {"standard": None, "reward_low_fp": None, "reward_low_fn": None}
    assert result["overall"] == {"tp": 0, "fp": 1, "fn": 0, "precision": 0.0, "recall": None, "f1": 0.0}


def test_table_shows_every_section():
    text = scoring.table(score(LINES))
    assert "line 10: malformed: not JSON" in text
    assert "overall                3     3     1       0.50    0.75   0.60" in text
    assert "NAB (null 0, perfect 100): standard 63.80, reward_low_fp 60.11, reward_low_fn 67.53" in text
    assert "hours to detect (2 acute incidents detected): median 2.5, p90 3, max 3" in text
    assert "look-alike false alarms: 1" in text
    assert ("root cause over all 4 problems (missed or no cause stated = wrong): category 0.50, component 0.25"
            in text)
    assert ("root cause among the 2 detections that state one (not the score): category 1.00, component 0.50"
            in text)


@pytest.mark.parametrize("value, reason", [
    ("[1]", "expected a JSON object, got list"),
    ('{"merchant_id": "m", "issue": "traffic_drop", "timestamp": "yesterday"}', "not an ISO 8601 time"),
    ('{"merchant_id": "m", "issue": "traffic_drop", "timestamp": "2026-12-01T00:00:00Z", "root_cause": "dns"}',
     "root_cause must be an object"),
])
def test_malformed_reasons(value, reason):
    (problem,) = findings.parse_lines([value]).problems
    assert problem[0] == "line 1" and reason in problem[1]
