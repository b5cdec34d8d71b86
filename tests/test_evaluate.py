"""evaluate.py's command line on files: baseline from NDJSON, findings problems, exit codes."""

from __future__ import annotations

import io
import json

import pytest

import data_generator
from grader import cli as evaluate

START, END = "2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z"


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = evaluate.main(list(argv), environ={}, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def ndjson(tmp_path_factory):
    """Two days of the generator's NDJSON: the range and a day of history before it."""
    path = tmp_path_factory.mktemp("data") / "data.ndjson"
    assert data_generator.main(["--start", "2026-11-19T00:00:00Z", "--end", END, "--merchants", "10",
                                "--output", str(path)], environ={}) == 0
    return path


def test_baseline_from_ndjson_finds_the_chronic_problems_at_the_first_hour(ndjson, tmp_path):
    output = tmp_path / "f" / "findings.jsonl"
    code, out, err = run("baseline", "--start", START, "--end", END, "--input", str(ndjson), "--merchants", "10",
                         "--output", str(output))
    assert (code, out) == (0, "")
    found = [json.loads(line) for line in output.read_text().splitlines()]
    # Seed 1729, merchants 1-10: the steady world's chronic profiles, each one episode from the first hour.
    assert {(f["merchant_id"], f["issue"], f["timestamp"]) for f in found} >= {
        ("merchant_003", "missing_location", START), ("merchant_009", "low_conversion", START),
        ("merchant_009", "high_error_rate", START)}
    assert all(f["timestamp"] >= START for f in found)
    assert "baseline: " in err and "480 documents" in err


def test_baseline_takes_only_the_data_index_from_the_file(ndjson):
    code, out, err = run("baseline", "--start", START, "--end", END, "--input", str(ndjson), "--index", "other")
    assert (code, out) == (0, "")
    assert "0 findings from 0 documents" in err


def test_findings_that_are_all_unusable_exit_2_naming_each_line(tmp_path):
    path = tmp_path / "findings.jsonl"
    path.write_text('{"merchant_id": "merchant_001", "issue": "slow", "timestamp": "2026-11-20T01:00:00Z"}\n'
                    "\nnot json\n")
    code, out, err = run("score", "--findings", str(path), "--start", START, "--end", END)
    assert (code, out) == (2, "")
    assert "line 1: unknown label 'slow'" in err and "line 3: malformed: not JSON" in err
    assert "error: " in err and "2 lines, none usable" in err


@pytest.mark.parametrize("argv, message", [
    (["score", "--findings", "/nonexistent/f.jsonl", "--start", START, "--end", END],
     "error: cannot read --findings '/nonexistent/f.jsonl': No such file or directory\n"),
    (["score", "--findings", "f", "--start", START, "--end", START], "must be after start"),
    (["score", "--findings", "f", "--start", START, "--end", END, "--seed", "x"], "--seed must be an integer"),
    (["score", "--findings", "f", "--start", START, "--end", END, "--scenario", "nope"], "--scenario must be"),
    (["baseline", "--start", START, "--end", END], "ELASTICSEARCH_HOST is not set"),
    (["baseline", "--start", START, "--end", END, "--input", "/nonexistent.ndjson"],
     "error: cannot read --input '/nonexistent.ndjson': No such file or directory\n"),
    (["score", "--findings-index", "Bad", "--start", START, "--end", END], "--findings-index must be a valid"),
])
def test_bad_input_exits_2_naming_it(argv, message):
    code, out, err = run(*argv)
    assert code == 2 and out == "" and message in err


@pytest.mark.parametrize("text", ['{"merchant_id": "merchant_001"}\n', '{"a": 1}\n{"b": 2}\n', "[1]\n{}\n",
                                  '{"index": {"_index": "pp-merchantai"}}\n'])
def test_a_file_that_is_not_bulk_ndjson_exits_2(tmp_path, text):
    path = tmp_path / "x.ndjson"
    path.write_text(text)
    code, _, err = run("baseline", "--start", START, "--end", END, "--input", str(path))
    assert code == 2 and "--input line 1: not a bulk action and document pair" in err
