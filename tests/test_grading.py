"""Grading on generated data: the perfect AI, the baseline on steady, and end to end on the engine."""

from __future__ import annotations

import dataclasses
import io
import json
import urllib.request
from datetime import datetime, timezone

import config
import data_generator
from grader import cli as evaluate
import incidents
from grader import scoring

START, END = datetime(2026, 11, 13, tzinfo=timezone.utc), datetime(2026, 11, 27, tzinfo=timezone.utc)
RANGE = ["--start", "2026-11-13T00:00:00Z", "--end", "2026-11-27T00:00:00Z"]


def run(*argv, environ=None):
    out, err = io.StringIO(), io.StringIO()
    code = evaluate.main(list(argv), environ=environ or {}, out=out, err=err)
    assert code == 0, err.getvalue()
    return out.getvalue(), err.getvalue()


def score(findings_path, *extra, environ=None):
    out, _ = run("score", "--json", "--findings", str(findings_path), *RANGE, *extra, environ=environ)
    return json.loads(out)


def test_the_perfect_ai_scores_precision_and_recall_1_and_nab_100(tmp_path):
    cfg = dataclasses.replace(config.load_config({}), scenario="incidents")
    hour_range = config.HourRange(START, END)
    records = incidents.answer_key(cfg, hour_range)[0]
    path = tmp_path / "perfect.jsonl"
    path.write_text("".join(json.dumps(f) + "\n" for f in
                            scoring.perfect_findings(records, hour_range.start, hour_range.end)))
    result = score(path, "--scenario", "incidents")
    assert result["incidents"]["acute"] >= 10 and result["incidents"]["lookalikes"] >= 2
    assert result["overall"] | {"tp": None} == {"tp": None, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0,
                                                "f1": 1.0}
    assert all(counts["fp"] == counts["fn"] == 0 for counts in result["per_label"].values())
    assert result["nab"] == {"standard": 100.0, "reward_low_fp": 100.0, "reward_low_fn": 100.0}
    assert result["root_cause_accuracy"] == {"problems": result["incidents"]["problems"], "category": 1.0,
                                             "component": 1.0, "among_stated": {
                                                 "stated": result["incidents"]["problems"], "category": 1.0,
                                                 "component": 1.0}}
    assert result["skill"] == {"standard": 1.0, "reward_low_fp": 1.0, "reward_low_fn": 1.0}
    assert result["lookalike_false_alarms"] == 0


def test_the_null_detector_scores_0(tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_text("")
    result = score(path, "--scenario", "incidents")
    assert result["nab"] == {"standard": 0.0, "reward_low_fp": 0.0, "reward_low_fn": 0.0}
    assert (result["overall"]["tp"], result["overall"]["recall"]) == (0, 0.0)


def test_the_baseline_on_steady_finds_every_chronic_problem(tmp_path):
    data = tmp_path / "steady.ndjson"
    assert data_generator.main(["--start", "2026-11-06T00:00:00Z", "--end", "2026-11-27T00:00:00Z",
                                "--output", str(data)], environ={}) == 0
    found = tmp_path / "baseline.jsonl"
    run("baseline", *RANGE, "--input", str(data), "--output", str(found))
    result = score(found)
    assert result["incidents"] == {"problems": 9, "acute": 0, "chronic": 9, "lookalikes": 0}
    assert result["overall"] == {"tp": 9, "fp": 0, "fn": 0, "precision": 1.0, "recall": 1.0, "f1": 1.0}
    assert result["nab"]["standard"] == 100.0


def _post(cluster, path, body, content_type="application/json"):
    request = urllib.request.Request(cluster.clone.url + path, data=body.encode(), method="POST",
                                     headers={"Content-Type": content_type})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())


def test_end_to_end_on_the_engine(cluster, monkeypatch, tmp_path):
    """7 days into the engine, the baseline against the index, its findings scored from an index."""
    env = {"ELASTICSEARCH_HOST": cluster.url, "SCENARIO": "incidents"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    week = ["--start", "2026-11-20T00:00:00Z", "--end", "2026-11-27T00:00:00Z"]
    assert data_generator.lambda_handler({"start": week[1], "end": week[3]}, None)["documents"] == 7 * 24 * 20
    cluster.get("/pp-merchantai/_refresh")
    found, _ = run("baseline", *week, environ=env)
    # The same findings as from the generator's NDJSON of the same week.
    data = tmp_path / "week.ndjson"
    assert data_generator.main([*week, "--output", str(data)], environ={"SCENARIO": "incidents"}) == 0
    offline, _ = run("baseline", *week, "--input", str(data), environ=env)
    assert found == offline and found.count("\n") > 10

    lines = []
    for n, line in enumerate(found.splitlines()):
        lines += [json.dumps({"index": {"_index": "ai-findings", "_id": f"f{n}"}}), line]
    assert not _post(cluster, "/_bulk?refresh=true", "\n".join(lines) + "\n", "application/x-ndjson")["errors"]
    from_index = json.loads(run("score", "--json", "--findings-index", "ai-findings", *week, environ=env)[0])
    path = tmp_path / "found.jsonl"
    path.write_text(found)
    from_file = json.loads(run("score", "--json", "--findings", str(path), *week, environ=env)[0])
    assert from_index | {"findings": None} == from_file | {"findings": None}
    assert from_index["findings"]["usable"] == found.count("\n")
    assert from_index["overall"]["recall"] > 0.8 and from_index["nab"]["standard"] > 50
