"""The HTML report: self-contained, one panel per merchant, one band per incident, drawn by a real browser."""

from __future__ import annotations

import colorsys
import dataclasses
import io
import json
import re
from datetime import datetime, timedelta, timezone

import pytest

import browser
import catalog
import config
import data_generator
import generator
import incidents
import png
from grader import cli as evaluate
from grader import findings
from grader import report
from grader import scoring

T0 = datetime(2026, 10, 1, tzinfo=timezone.utc)
OKABE_ITO = {"#e69f00", "#56b4e9", "#009e73", "#f0e442", "#0072b2", "#d55e00", "#cc79a7", "#000000"}


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
def month(tmp_path_factory):
    """30 days of 20 merchants, as the command line generates them."""
    path = tmp_path_factory.mktemp("month") / "data.ndjson"
    end = T0 + timedelta(days=30)
    assert data_generator.main(["--start", h(0), "--end", end.isoformat(), "--output", str(path)], environ={}) == 0
    return evaluate._ndjson_observations(str(path), "pp-merchantai", T0, end)


def render(month, merchants=3, hours=72, lines=None, records=RECORDS):
    end = T0 + timedelta(hours=hours)
    observations = [d for d in month if int(d["merchant_id"][-3:]) <= merchants and d["timestamp"] < h(hours)]
    assessment = None
    if lines is not None:
        assessment = scoring.assess(records, findings.parse_lines(lines), T0, end)
    meta = {"scenario": "incidents", "seed digest": "98b1690510df", "data index": "pp-merchantai"}
    return report.render(meta, T0, end, observations, records, assessment)


def finding(merchant: str, issue: str, hour: int) -> str:
    return json.dumps({"merchant_id": merchant, "issue": issue, "timestamp": h(hour)})


LINES = [finding("merchant_002", "high_error_rate", 6), finding("merchant_002", "traffic_drop", 52)]


def panel(text: str, merchant: str) -> str:
    return re.search(rf'<div class="panel" data-merchant="{merchant}".*?</div>', text).group(0)


def test_self_contained_no_script_no_network(month):
    text = render(month, lines=LINES)
    # url(#...) points inside the page (the look-alikes' hatches); nothing is fetched.
    assert not re.search(r"<script|<link|<img|<iframe|@import|url\((?!#)|https?://|src=", text)
    assert text.startswith("<!DOCTYPE html>") and text.endswith("</html>\n")


def test_panels_bands_and_roster(month):
    text = render(month, lines=LINES)
    assert re.findall(r'class="panel" data-merchant="([^"]+)"', text) == ["merchant_001", "merchant_002", "merchant_003"]
    # The outage is drawn on both its merchants; the chronic record and the incident after the range are not bands.
    assert re.findall(r'class="band" data-incident="([^"]+)"', text) == ["out-1", "out-1", "promo-1", "gw-1"]
    assert "<title>payment_outage out-1: 2026-10-01 05:00 to 2026-10-01 12:00 (high_error_rate; c / x)" in text
    assert re.findall(r'class="finding" data-outcome="([^"]+)"', text) == ["tp", "lookalike"]
    assert ("<tr><td>merchant_003</td><td>-</td><td>northpay</td><td>missing_location</td><td>1</td><td>0</td></tr>"
            in text)
    assert 'class="chronic">chronic missing_location' in text
    # The look-alike is hatched, by a pattern defined once in the page; problems are tinted.
    assert 'rect.band[data-kind="promo_surge"]{fill:url(#hatch-promo_surge)}' in text
    assert '<pattern id="hatch-promo_surge"' in text
    assert 'rect.band[data-kind="payment_outage"]{fill:#e15759;fill-opacity:0.2}' in text


def test_every_kind_has_its_own_look_and_look_alikes_are_muted_hatches():
    acute = [kind for kind in catalog.KINDS if kind.scope != "chronic"]
    assert set(report.KINDS) == {kind.name for kind in acute}
    looks = [report.KINDS[kind.name] for kind in acute]
    assert len({look.colour for look in looks}) == len({look.short for look in looks}) == len(acute)
    benign = [report.KINDS[kind.name] for kind in acute if not kind.is_issue]
    assert sorted(look.hatch for look in benign) == ["cross", "stripes"]
    assert all(look.hatch is None for kind, look in zip(acute, looks) if kind.is_issue)
    for look in benign:
        rgb = [int(look.colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        assert colorsys.rgb_to_hsv(*rgb)[1] < 0.4, look


def test_markers_differ_in_shape_and_colour_from_a_colour_blind_safe_palette():
    colours = [colour for colour, _, _ in report.OUTCOMES.values()]
    shapes = [shape for _, shape, _ in report.OUTCOMES.values()]
    assert set(report.OUTCOMES) == {scoring.TP, scoring.DUPLICATE, scoring.FP, scoring.LOOKALIKE}
    assert len(set(colours)) == len(set(shapes)) == 4 and set(colours) <= OKABE_ITO
    assert set(shapes) == set(report.SHAPES)


def test_bands_carry_their_short_name_where_it_fits(month):
    # 72 hours over 990 px: 13.75 px an hour. The maintenance band is one hour wide but nothing
    # follows it, so its name fits after it; the traffic drop starts under the promotion's name.
    records = RECORDS + [record("maint-1", "maintenance_window", ["merchant_002"], [], 62, 63),
                         record("td-1", "traffic_drop", ["merchant_002"], ["traffic_drop"], 51, 53)]
    text = render(month, records=records)
    labels = re.findall(r'<text class="band-label" data-kind="([^"]+)" x="([^"]+)" y="10">([^<]+)</text>',
                        panel(text, "merchant_002"))
    assert labels == [("payment_outage", "170.8", "outage"), ("promo_surge", "789.5", "promo"),
                      ("maintenance_window", "954.5", "maintenance")]
    assert 'text.band-label[data-kind="maintenance_window"]{fill:#424c59}' in text


def test_axes_start_at_zero_with_units_and_dates_with_year_in_utc(month):
    text = render(month)
    frame = re.search(r'<g id="frame".*?</g>', text).group(0)
    names = re.findall(r'<text x="0" y="[^"]+">([^<]+)</text>', frame)
    assert names == ["sessions/h", "conversion %", "errors %", "no location"]
    assert re.findall(r'text-anchor="end">([^<]+)</text>', frame) == ["0", "50", "100", "0", "25", "50", "time, UTC"]
    assert re.findall(r'<text x="[^"]+" y="231.0">([^<]+)</text>', frame) == [
        "Thu 2026-10-01", "Fri 2026-10-02", "Sat 2026-10-03"]
    # Every panel shares that frame; the sessions scale is its own, from zero in round steps.
    assert panel(text, "merchant_001").count('<use href="#frame"/>') == 1
    assert (report._nice(7452), report._nice(2708), report._nice(150), report._nice(0)) == (
        (7500, 2500), (3000, 1000), (150, 50), (1, 1))
    sessions = re.findall(r'<text x="96" y="[^"]+" text-anchor="end">([^<]+)</text>', panel(text, "merchant_001"))
    assert sessions[0] == "0" and len(sessions) in (3, 4)


def test_a_line_is_compact_relative_steps_broken_where_an_hour_is_missing():
    axis = report._Axis(0, 4)
    hours = {0: {"v": 50}, 1: {"v": 30}, 3: {"v": 70.4}}
    assert report._series(axis, hours, "v", 0, 100, 100, 1) == (
        '<path d="M0 50l1 20M3 30" transform="translate(223.75 0) scale(247.5000 1)" fill="none" stroke="#24292f" '
        'stroke-width="1" vector-effect="non-scaling-stroke"/>')
    # Two hours a point: (50 + 30) / 2, then 70.4 alone.
    assert 'd="M0 60l1-30" transform="translate(347.50 0) scale(495.0000 1)"' in report._series(
        axis, hours, "v", 0, 100, 100, 2)


def test_the_score_is_a_table_with_a_line_on_each_metric(month):
    text = render(month, lines=LINES)
    rows = dict((m, (v, w)) for m, v, w in re.findall(
        r'<tr><td class="metric">([^<]+)</td><td class="value">([^<]*)</td><td class="why">([^<]*)</td></tr>', text))
    # In range: out-1, gw-1, chronic-9; merchant_002's first finding detects out-1, its second is in the promotion.
    assert rows["detected (tp)"][0] == "1 of 3" and rows["false positives (fp)"][0] == "1"
    assert (rows["precision"][0], rows["recall"][0], rows["F1"][0]) == ("0.50", "0.33", "0.40")
    assert rows["look-alike false alarms"][0] == "1"
    assert rows["NAB standard / low FP / low FN"][1].startswith("Numenta Anomaly Benchmark: ")
    assert all(why for _, why in rows.values())
    assert ('<tr><td>high_error_rate</td><td class="n">1</td><td class="n">0</td><td class="n">1</td>'
            '<td class="n">1.00</td><td class="n">0.50</td><td class="n">0.67</td></tr>') in text


def test_the_score_shows_keys_it_does_not_know_yet(month):
    end = T0 + timedelta(hours=72)
    assessment = scoring.assess(RECORDS, findings.parse_lines(LINES), T0, end)
    known = assessment.summary()
    assessment.summary = lambda: known | {"mitigation_score": 0.25, "skill": {"vs_baseline": -0.1, "n": 3},
                                          "times": [1, 2], "note": None}
    text = report.render({}, T0, end, [d for d in month if d["timestamp"] < h(72)], RECORDS, assessment)
    for metric, value in (("mitigation score", "0.25"), ("skill.vs baseline", "-0.10"), ("skill.n", "3"),
                          ("times", "[1, 2]"), ("note", "n/a")):
        assert f'<td class="metric">{metric}</td><td class="value">{value}</td>' in text
    assert '<td class="metric">precision</td><td class="value">0.50</td>' in text
    assert 'class="metric">NAB' in report._score({"nab": {"standard": 1.0}}) and report._score({"skill": 1})


def test_without_findings_the_score_says_so(month):
    assert "No findings given" in render(month)


def test_twenty_merchants_over_thirty_days_weigh_under_2_mb(month):
    size = len(render(month, 20, 30 * 24, LINES).encode())
    assert 200_000 < size < 2_000_000


def observations(merchants: int, start: datetime, hours: int, scenario: str = "steady") -> tuple:
    """(documents, the config) as the generator writes them, parsed in-process: no file, no cluster."""
    cfg = dataclasses.replace(config.load_config({}), scenario=scenario, merchants=merchants)
    roster = generator.roster(cfg.seed, cfg.merchants)
    lines = generator.HourlyLines(roster, cfg.index, incidents.schedule(cfg, roster))
    # One json.loads an hour, of the hour's documents as an array: a quarter faster than one each.
    return [doc for k in range(hours) for doc in json.loads(
        "[" + ",".join(source for _, source in lines.lines(start + timedelta(hours=k))) + "]")], cfg


def test_a_large_roster_opens_with_a_summary_and_draws_only_merchants_with_something_to_see():
    docs, _ = observations(report.SUMMARY_OVER + 10, T0, 72)
    lines = LINES + [finding("merchant_040", "low_conversion", 3)]
    assessment = scoring.assess(RECORDS, findings.parse_lines(lines), T0, T0 + timedelta(hours=72))
    text = report.render({}, T0, T0 + timedelta(hours=72), docs, RECORDS, assessment)
    assert re.findall(r'class="panel" data-merchant="([^"]+)"', text) == [
        "merchant_001", "merchant_002", "merchant_003", "merchant_040"]
    rows = re.findall(r'<tr><td>(?:<a href="#[^"]+">)?(merchant_\d+)(?:</a>)?</td><td class="n">(\d+)</td>'
                      r'<td class="n">(\d+)</td><td class="n">(\d+)</td></tr>', text)
    assert len(rows) == 60 and rows[:3] == [("merchant_001", "1", "1", "0"), ("merchant_002", "1", "1", "1"),
                                            ("merchant_003", "2", "0", "0")]
    assert rows[39] == ("merchant_040", "0", "0", "1") and rows[40] == ("merchant_041", "0", "0", "0")
    assert '<a href="#merchant_040">' in text and '<a href="#merchant_041">' not in text
    assert 'class="roster"' not in text and "in the range, one point an hour." in text


CHROMIUM = pytest.mark.skipif(browser.CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")


@CHROMIUM
def test_the_report_renders_in_headless_chromium(tmp_path):
    """A week of SCENARIO=incidents through the command line, with the baseline's findings and one
    false positive, in a browser."""
    env = {"SCENARIO": "incidents"}
    week = ["--start", "2026-11-20T00:00:00Z", "--end", "2026-11-27T00:00:00Z"]
    data, found, page = tmp_path / "data.ndjson", tmp_path / "baseline.jsonl", tmp_path / "report.html"
    assert data_generator.main(["--start", "2026-11-13T00:00:00Z", "--end", week[3], "--output", str(data)],
                               environ=env) == 0
    assert evaluate.main(["baseline", *week, "--input", str(data), "--output", str(found)], environ=env,
                         out=io.StringIO(), err=io.StringIO()) == 0
    with found.open("a") as stream:
        stream.write(json.dumps({"merchant_id": "merchant_005", "issue": "high_error_rate",
                                 "timestamp": "2026-11-21T03:00:00Z"}) + "\n")
    assert evaluate.main(["report", *week, "--input", str(data), "--findings", str(found), "--output", str(page)],
                         environ=env, out=io.StringIO(), err=io.StringIO()) == 0
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
    assert all(w > 1000 and h > 200 for _, w, h in seen["panels"])
    # One band per incident in the range, on each merchant in its scope, each visible and titled.
    assert {band[0] for band in seen["bands"]} == timed and len(timed) > 10
    assert all(w > 0 and f" {incident}: " in title for incident, _, w, title in seen["bands"])
    assert seen["findings"] == found.read_text().count("\n") and seen["resources"] == 0

    # The legend: every kind in the week (its short name as on the bands), the strip, the thresholds,
    # the four outcomes; it stays at the top of the window once scrolled down.
    assert seen["legend"] == [
        "checkout: checkout_regression (incident)", "timeouts: gateway_timeouts (incident)",
        "location feed: location_feed_loss (incident)", "maintenance: maintenance_window (harmless look-alike: "
        "not to flag)", "outage: payment_outage (incident)", "promo: promo_surge (harmless look-alike: not to flag)",
        "traffic drop: traffic_drop (incident)", "hour without location",
        "baseline threshold: conversion < 30 %, errors > 15 % (its traffic rule, not drawn: sessions < ½ the "
        "median of the same hour on the 7 days before)",
        "detection", "later duplicate", "false positive", "look-alike false alarm"]
    before, after, scrolled = seen["sticky"]
    assert before > 500 and scrolled > 2000 and after == 0
    # Markers: each outcome its own shape and colour, at least 10 px, the legend's keys the same.
    outcomes = {outcome for outcome, _, _, _ in seen["markers"]}
    assert outcomes == {"tp", "duplicate", "fp", "lookalike"}
    assert all(href == f"#marker-{outcome}" and w >= 10 and h >= 10 for outcome, href, w, h in seen["markers"])
    assert seen["keys"] == [[o, f"#marker-{o}"] for o in ("tp", "duplicate", "fp", "lookalike")]
    shapes = [seen["shapes"][f"marker-{o}"] for o in ("tp", "duplicate", "fp", "lookalike")]
    assert len({d for d, _ in shapes}) == len({fill for _, fill in shapes}) == 4
    assert shapes[0] == [report.SHAPES["circle"], "rgb(0, 158, 115)"]
    # Bands named inside the chart: every kind at least once, each name inside its panel.
    assert {text for _, text, _ in seen["labels"]} == {look.short for look in report.KINDS.values()}
    assert all(0 < w < 80 for _, _, w in seen["labels"])
    assert seen["ticks"][:2] == ["0", "1k"] and seen["score"][0][0] == "incidents"


@CHROMIUM
def test_a_thousand_merchants_over_thirty_days_stay_under_5_mb_with_a_summary(tmp_path):
    start = datetime(2026, 10, 28, tzinfo=timezone.utc)
    end = start + timedelta(days=30)
    docs, cfg = observations(1000, start, 30 * 24, "incidents")
    records = incidents.answer_key(cfg, config.HourRange(start, end))[0]
    # A perfect AI's findings, and a false positive on every tenth merchant.
    lines = [json.dumps(f) for f in scoring.perfect_findings(records, start, end)]
    lines += [json.dumps({"merchant_id": f"merchant_{k:03d}", "issue": "traffic_drop",
                          "timestamp": "2026-11-01T03:00:00Z"}) for k in range(10, 1001, 10)]
    assessment = scoring.assess(records, findings.parse_lines(lines), start, end)
    page = tmp_path / "report.html"
    page.write_text(report.render({"merchants": 1000}, start, end, docs, records, assessment), encoding="utf-8")
    assert page.stat().st_size < 5_000_000

    seen = browser.rendered(page, tmp_path)
    assert seen["summary"] == 1000 and seen["resources"] == 0
    drawn = {m for m, _, _ in seen["panels"]}
    assert len(drawn) > 900 and drawn == {m for r in records for m in r["merchant_ids"]} | {
        f"merchant_{k:03d}" for k in range(10, 1001, 10)}
    assert seen["findings"] == len(lines) and all(w >= 10 for _, _, w, _ in seen["markers"])
