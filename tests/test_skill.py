"""skill on generated data: the shipped baseline, computed in-process, scores 0 against itself."""

from __future__ import annotations

import io
import json

import data_generator
from grader import cli as evaluate

WEEK = ["--start", "2026-11-20T00:00:00Z", "--end", "2026-11-27T00:00:00Z"]


def run(*argv, environ=None):
    out, err = io.StringIO(), io.StringIO()
    assert evaluate.main(list(argv), environ=environ or {}, out=out, err=err) == 0, err.getvalue()
    return out.getvalue()


def test_the_baselines_own_findings_have_skill_0_and_the_in_process_baseline_is_the_same_run(tmp_path):
    data = tmp_path / "data.ndjson"
    assert data_generator.main(["--scenario", "incidents", "--start", "2026-11-13T00:00:00Z", "--end", WEEK[3],
                                "--output", str(data)], environ={}) == 0
    found = tmp_path / "baseline.jsonl"
    found.write_text(run("baseline", "--scenario", "incidents", *WEEK, "--input", str(data)))
    result = json.loads(run("score", "--json", "--scenario", "incidents", *WEEK, "--findings", str(found)))
    assert result["baseline_nab"] == result["nab"]
    assert result["nab"]["standard"] < 100
    assert result["skill"] == {"standard": 0.0, "reward_low_fp": 0.0, "reward_low_fn": 0.0}


def test_the_null_detector_has_negative_skill(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    result = json.loads(run("score", "--json", "--scenario", "incidents", *WEEK, "--findings", str(empty)))
    # Null scores NAB 0: skill = -baseline / (100 - baseline).
    base = result["baseline_nab"]["standard"]
    assert result["skill"]["standard"] == round(-base / (100 - base), 4) < -10


def test_the_report_shows_skill(tmp_path):
    data = tmp_path / "data.ndjson"
    assert data_generator.main(["--scenario", "incidents", "--start", "2026-11-13T00:00:00Z", "--end", WEEK[3],
                                "--output", str(data)], environ={}) == 0
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    report = tmp_path / "report.html"
    run("report", "--scenario", "incidents", *WEEK, "--input", str(data), "--findings", str(empty),
        "--output", str(report))
    text = report.read_text()
    assert '<td class="metric">skill.standard</td>' in text and '<td class="metric">baseline nab.standard</td>' in text
