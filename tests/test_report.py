"""The HTML report: self-contained, one panel per merchant, one band per incident, drawn by a real browser."""

from __future__ import annotations

import dataclasses
import io
import json
import re
from datetime import datetime, timedelta, timezone

import pytest

import browser
import config
import data_generator
from grader import baseline
from grader import cli as evaluate
from grader import findings
import incidents
import png
from grader import report
from grader import scoring

T0 = datetime(2026, 10, 1, tzinfo=timezone.utc)


def h(n: int) -> str:
    return (T0 + timedelta(hours=n)).strftime("%Y-%m-%dT%H:00:00Z")


def record(incident_id, kind, merchants, issues, onset=None, end=None):
    rec = {"incident_id": incident_id, "kind": kind, "is_issue": bool(issues), "issues": issues,
           "merchant_ids": merchants, "root_cause": {"category": "c", "component": "x", "description": "-"}}
    if onset is not None:
        rec.update(onset=h(onset), end=h(end))
    return rec


RECORDS = [
    record("out-1", "payment_outage", ["merchant_001", "merchant_002"], ["high_error_rate"], 5, 12),
    record("gw-1", "gateway_timeouts", ["merchant_003"], ["high_error_rate", "low_conversion"], 30, 40),
    record("promo-1", "promo_surge", ["merchant_002"], [], 50, 60),
    record("chronic-9", "chronic", ["merchant_003"], ["missing_location"]),
    record("late-1", "traffic_drop", ["merchant_001"], ["traffic_drop"], 100, 110),  # after the range
]


@pytest.fixture(scope="module")
def month_file(tmp_path_factory):
    """30 days of 20 merchants, as the command line generates them."""
    path = tmp_path_factory.mktemp("month") / "data.ndjson"
    end = T0 + timedelta(days=30)
    assert data_generator.main(["--start", h(0), "--end", end.isoformat(), "--output", str(path)], environ={}) == 0
    return path


@pytest.fixture(scope="module")
def month(month_file):
    return [baseline.observed(doc)
            for doc in evaluate._ndjson_sources(str(month_file), "pp-merchantai", T0, T0 + timedelta(days=30))]


def render(month, merchants=3, hours=72, lines=None):
    end = T0 + timedelta(hours=hours)
    observations = [d for d in month if int(d["merchant_id"][-3:]) <= merchants and d["timestamp"] < h(hours)]
    assessment = None
    if lines is not None:
        assessment = scoring.assess(RECORDS, findings.parse_lines(lines), T0, end)
    meta = {"scenario": "incidents", "seed": 1729, "data index": "pp-merchantai"}
    return report.render(meta, T0, end, observations, RECORDS, assessment)


LINES = [json.dumps({"merchant_id": "merchant_002", "issue": "high_error_rate", "timestamp": h(6)}),
         json.dumps({"merchant_id": "merchant_002", "issue": "traffic_drop", "timestamp": h(52)})]


def test_self_contained_no_script_no_network(month):
    text = render(month, lines=LINES)
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(|https?://|src=", text)
    assert text.startswith("<!DOCTYPE html>") and text.endswith("</html>\n")


def test_panels_bands_and_roster(month):
    text = render(month, lines=LINES)
    assert re.findall(r'class="panel" data-merchant="([^"]+)"', text) == ["merchant_001", "merchant_002", "merchant_003"]
    # The outage is drawn on both its merchants; the chronic record and the incident after the range are not bands.
    assert re.findall(r'class="band" data-incident="([^"]+)"', text) == ["out-1", "out-1", "promo-1", "gw-1"]
    assert 'data-kind="promo_surge" x="' in text and report.BENIGN_COLOUR in text
    assert "<title>payment_outage out-1: 2026-10-01T05:00:00Z to 2026-10-01T12:00:00Z (high_error_rate; c / x)" in text
    assert re.findall(r'class="finding" data-outcome="([^"]+)"', text) == ["tp", "lookalike"]
    assert ("<tr><td>merchant_003</td><td>-</td><td>northpay</td><td>missing_location</td><td>1</td><td>0</td></tr>"
            in text)
    assert 'class="chronic">chronic missing_location' in text
    assert "overall" in text and "NAB (null 0, perfect 100)" in text


def test_the_change_events_are_read_beside_the_documents_and_listed(month, month_file):
    events = evaluate._ndjson_sources(str(month_file), "pp-merchantai-events", T0, T0 + timedelta(hours=72))
    assert len(events) >= 10 and all(h(0) <= event["timestamp"] < h(72) for event in events)
    assert {"event_id", "timestamp", "type", "component", "summary", "details"} <= set(events[0])
    caused = dict(record("dns-1", "traffic_drop", ["merchant_001"], ["traffic_drop"], 20, 30),
                  causal_event_id=events[1]["event_id"])
    meta = {"scenario": "incidents", "seed": 1729, "data index": "pp-merchantai"}
    text = report.render(meta, T0, T0 + timedelta(hours=72), month[:60], RECORDS + [caused], None, events)
    rows = re.findall(r"<tr><td>(20[^<]*)</td><td>[^<]*</td><td>([a-z_]+)</td>.*?<td>([^<]*)</td></tr>",
                      text.split('id="events"', 1)[1])
    assert [(t, kind) for t, kind, _ in rows] == [(event["timestamp"], event["type"]) for event in events]
    assert [caused_by for _, _, caused_by in rows] == ["-", "dns-1"] + ["-"] * (len(events) - 2)


def test_without_findings_the_score_says_so(month):
    assert "No findings given" in render(month)


def test_twenty_merchants_over_thirty_days_weigh_under_2_mb(month):
    size = len(render(month, 20, 30 * 24, LINES).encode())
    assert 200_000 < size < 2_000_000


@pytest.mark.skipif(browser.CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_report_renders_in_headless_chromium(tmp_path):
    """A week of SCENARIO=incidents through the command line, with the baseline's findings, in a browser."""
    env = {"SCENARIO": "incidents"}
    week = ["--start", "2026-11-20T00:00:00Z", "--end", "2026-11-27T00:00:00Z"]
    data, found, page = tmp_path / "data.ndjson", tmp_path / "baseline.jsonl", tmp_path / "report.html"
    assert data_generator.main(["--start", "2026-11-13T00:00:00Z", "--end", week[3], "--output", str(data)],
                               environ=env) == 0
    for argv in (["baseline", *week, "--input", str(data), "--output", str(found)],
                 ["report", *week, "--input", str(data), "--findings", str(found), "--output", str(page)]):
        assert evaluate.main(argv, environ=env, out=io.StringIO(), err=io.StringIO()) == 0
    cfg = dataclasses.replace(config.load_config({}), scenario="incidents")
    start, end = datetime(2026, 11, 20, tzinfo=timezone.utc), datetime(2026, 11, 27, tzinfo=timezone.utc)
    timed = {r["incident_id"] for r in incidents.answer_key(cfg, config.HourRange(start, end))[0] if r["onset"]}

    width, height, channels, rows = png.pixels(browser.screenshot(page, tmp_path / "shot.png", 1200, 900))
    assert (width, height) == (1200, 900)
    sample = rows[::4]
    colours = {row[i:i + 3] for row in sample for i in range(0, len(row), channels * 4)}
    white = sum(row[i:i + 3] == b"\xff\xff\xff" for row in sample for i in range(0, len(row), channels))
    assert len(colours) > 20 and white < 0.97 * width * len(sample), "the screenshot is (nearly) blank"

    seen = browser.rendered(page, tmp_path)
    assert [m for m, _, _ in seen["panels"]] == [f"merchant_{k:03d}" for k in range(1, 21)]
    assert all(w > 1000 and h > 150 for _, w, h in seen["panels"])
    # One band per incident in the range, on each merchant in its scope, each visible and titled.
    assert {band[0] for band in seen["bands"]} == timed and len(timed) > 10
    assert all(w > 0 and f" {incident}: " in title for incident, _, w, title in seen["bands"])
    assert seen["findings"] == found.read_text().count("\n") and seen["resources"] == 0
