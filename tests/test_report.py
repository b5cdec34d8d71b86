"""The HTML report: self-contained, one panel per merchant, one band per incident, drawn by a real browser."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone

import pytest

import browser
import findings
import generator
import png
import report
import scoring

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


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


def observations(merchants: int, hours: int):
    roster = generator.roster(1729, merchants)
    return [generator.document(m, T0 + timedelta(hours=n)) for n in range(hours) for m in roster]


def render(merchants=3, hours=72, lines=None):
    end = T0 + timedelta(hours=hours)
    assessment = None
    if lines is not None:
        assessment = scoring.assess(RECORDS, findings.parse_lines(lines), T0, end)
    meta = {"scenario": "incidents", "seed": 1729, "data index": "pp-merchantai"}
    return report.render(meta, T0, end, observations(merchants, hours), RECORDS, assessment)


LINES = [json.dumps({"merchant_id": "merchant_002", "issue": "high_error_rate", "timestamp": h(6)}),
         json.dumps({"merchant_id": "merchant_002", "issue": "traffic_drop", "timestamp": h(52)})]


def test_self_contained_no_script_no_network():
    text = render(lines=LINES)
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\(|https?://|src=", text)
    assert text.startswith("<!DOCTYPE html>") and text.endswith("</html>\n")


def test_panels_bands_and_roster():
    text = render(lines=LINES)
    assert re.findall(r'class="panel" data-merchant="([^"]+)"', text) == ["merchant_001", "merchant_002", "merchant_003"]
    # The outage is drawn on both its merchants; the chronic record and the incident after the range are not bands.
    assert re.findall(r'class="band" data-incident="([^"]+)"', text) == ["out-1", "out-1", "promo-1", "gw-1"]
    assert 'data-kind="promo_surge" x="' in text and report.BENIGN_COLOUR in text
    assert "<title>payment_outage out-1: 2026-11-01T05:00:00Z to 2026-11-01T12:00:00Z (high_error_rate; c / x)" in text
    assert re.findall(r'class="finding" data-outcome="([^"]+)"', text) == ["tp", "lookalike"]
    assert ("<tr><td>merchant_003</td><td>-</td><td>-</td><td>missing_location</td><td>1</td><td>0</td></tr>"
            in text)
    assert 'class="chronic">chronic missing_location' in text
    assert "overall" in text and "NAB (null 0, perfect 100)" in text


def test_without_findings_the_score_says_so():
    assert "No findings given" in render()


def test_twenty_merchants_over_thirty_days_weigh_under_2_mb():
    size = len(render(20, 30 * 24, LINES).encode())
    assert 200_000 < size < 2_000_000


@pytest.mark.skipif(browser.CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_the_report_renders_in_headless_chromium(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render(lines=LINES), encoding="utf-8")
    width, height, channels, rows = png.pixels(browser.screenshot(page, tmp_path / "shot.png", 1200, 900))
    assert (width, height) == (1200, 900)
    colours = {row[i:i + 3] for row in rows[::4] for i in range(0, len(row), channels * 4)}
    background = sum(row.count(b"\xff\xff\xff") for row in rows[::4])
    assert len(colours) > 20, "the screenshot is (nearly) blank"
    assert background < 0.97 * width * len(rows[::4])

    seen = browser.rendered(page, tmp_path)
    assert [(m, w > 1000, h > 150) for m, w, h in seen["panels"]] == [
        (m, True, True) for m in ("merchant_001", "merchant_002", "merchant_003")]
    assert sorted({band[0] for band in seen["bands"]}) == ["gw-1", "out-1", "promo-1"]
    assert all(w > 0 for _, _, w, _ in seen["bands"])
    assert [b[1] for b in seen["bands"] if b[0] == "out-1"] == ["merchant_001", "merchant_002"]
    assert seen["findings"] == 2 and seen["resources"] == 0
