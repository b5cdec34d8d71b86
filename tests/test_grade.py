"""make grade: one command from nothing to a score and a report, on a fresh clone as a user runs it."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

from grader import cli as evaluate

ROOT = Path(__file__).resolve().parent.parent
ARGS = "--scenario incidents --merchants 3 --days 3 --end 2026-11-03"


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """The committed HEAD, cloned; make runs it with this interpreter's virtualenv (-o: never reinstall)."""
    path = tmp_path_factory.mktemp("clone") / "repo"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(path)], check=True)
    return path


def make(clone: Path, *args: str) -> subprocess.CompletedProcess:
    venv = Path(sys.prefix)
    return subprocess.run(["make", "--silent", "--no-print-directory", "-o", f"{venv}/.runtime", f"VENV={venv}", "grade", *args],
                          cwd=clone, capture_output=True, text=True, timeout=120)


def test_make_grade_on_a_fresh_clone_prints_the_score_and_writes_the_report(clone):
    done = make(clone, f"ARGS={ARGS}")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    # 3 merchants from 2026-10-31 to 11-03 (data_generator.py --incidents): merchant_003's chronic
    # missing location, gateway timeouts on merchant_002 from 11-01 17:00, the vaultly outage from
    # 11-02 11:00. The baseline finds each, the timeouts at their onset, the outage an hour late.
    assert "incidents in 2026-10-31T00:00:00Z .. 2026-11-03T00:00:00Z: 3 problems (2 acute, 1 chronic), " \
           "0 benign look-alikes" in lines
    assert [line.split() for line in lines if line.startswith("overall")] == [
        ["overall", "3", "0", "0", "1.00", "1.00", "1.00"]]
    assert "hours to detect (2 acute incidents detected): median 0.5, p90 1, max 1" in lines
    assert lines[-1] == "report: out/grade/report.html"
    report = (clone / "out/grade/report.html").read_text(encoding="utf-8")
    assert report.count('class="panel" data-merchant=') == 3 and "out/grade/baseline.jsonl" in report
    found = (clone / "out/grade/baseline.jsonl").read_text().splitlines()
    assert len(found) == 4 and all(json.loads(line)["timestamp"] >= "2026-10-31" for line in found)
    # The history was generated too: 7 days before the range, 3 merchants, every hour.
    data = (clone / "out/grade/data.ndjson").read_text().splitlines()
    assert sum('"_index":"pp-merchantai"' in line for line in data) == 3 * 24 * 10 == len(data) // 2
    # The answer key beside the data, never in them.
    key = (clone / "out/grade/data-incidents.ndjson").read_text().splitlines()
    assert key and all('"_index":"pp-merchantai-incidents"' in line for line in key[::2])
    assert "7 days of history, then the 3 days graded" in done.stderr


def test_make_grade_takes_the_ais_findings(clone, tmp_path):
    findings = tmp_path / "ai.jsonl"
    findings.write_text(json.dumps({"merchant_id": "merchant_002", "issue": "traffic_drop",
                                    "timestamp": "2026-11-01T05:00:00Z"}) + "\n")
    (clone / "out/grade/baseline.jsonl").unlink(missing_ok=True)
    done = make(clone, f"ARGS={ARGS} --output-dir out/ai", f"FINDINGS={findings}")
    assert done.returncode == 0, done.stderr
    assert "findings: 1 lines, 1 usable, 0 malformed, 0 with an unknown label, 0 outside the range" in done.stdout
    assert [line.split() for line in done.stdout.splitlines() if line.startswith("overall")] == [
        ["overall", "0", "1", "3", "0.00", "0.00", "0.00"]]
    assert done.stdout.endswith("report: out/ai/report.html\n")
    assert (clone / "out/ai/report.html").exists() and not (clone / "out/ai/baseline.jsonl").exists()


def grade(*argv: str, cwd: Path):
    out, err = io.StringIO(), io.StringIO()
    code = evaluate.main(["grade", *argv, "--output-dir", str(cwd / "grade")], environ={}, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_the_range_defaults_to_the_days_before_today(tmp_path):
    code, out, err = grade("--merchants", "2", "--days", "1", cwd=tmp_path)
    today = datetime.now(timezone.utc).strftime("%Y-%m-%dT00:00:00Z")
    assert code == 0, err
    assert f"T00:00:00Z .. {today}:" in out and f"to {today} (7 days of history" in err


@pytest.mark.parametrize("argv, message", [
    (["--days", "0"], "error: --days must be between 1 and 366, got '0'\n"),
    (["--days", "x"], "error: --days must be an integer, got 'x'\n"),
    (["--end", "tomorrow"], None),
    (["--remediation", "on"], "error: REMEDIATION=on reads the remediations from Elasticsearch: set "
                              "ELASTICSEARCH_HOST\n"),
])
def test_bad_flags_are_one_line_and_exit_2(tmp_path, argv, message):
    code, out, err = grade(*argv, cwd=tmp_path)
    assert (code, out) == (2, "") and err.count("\n") == 1 and err.startswith("error: ")
    assert message is None or err == message
    assert not (tmp_path / "grade").exists()


def test_an_unwritable_output_dir_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "grade").write_text("a file, not a folder")
    code, out, err = grade("--merchants", "2", "--days", "1", "--end", "2026-11-27", cwd=tmp_path)
    assert (code, out) == (2, "") and err.startswith("error: cannot write --output-dir ") and err.count("\n") == 1
