"""Both command lines' errors, as a user meets them (issue 15): exit code, one line, no traceback.

Where it matters (a broken pipe, the patience) the CLI runs as a program; elsewhere main()
with its streams captured.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import config
import data_generator
from grader import cli as evaluate

ROOT = Path(__file__).resolve().parent.parent
START, END = "2026-11-20T00:00:00Z", "2026-11-21T00:00:00Z"
RANGE = ["--start", START, "--end", END]
UNREACHABLE = "http://127.0.0.1:9"  # the discard port: connection refused


def clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ELASTICSEARCH_", "MERCHANT_", "GENERATOR_", "SCENARIO", "REMEDIATION"))}
    return {**env, **extra}


def program(script: str, *argv, env=None, closed_stdout=False):
    """(exit code, stdout, stderr) of python lambda/<script> argv; closed_stdout: its reader is gone at once."""
    command = [sys.executable, str(ROOT / "lambda" / script), *argv]
    if not closed_stdout:
        result = subprocess.run(command, capture_output=True, text=True, env=env or clean_env(), timeout=120)
        return result.returncode, result.stdout, result.stderr
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=env or clean_env())
    process.stdout.close()  # before it writes anything: its first write meets a broken pipe
    err = process.stderr.read()
    return process.wait(timeout=120), None, err


def grade(*argv, environ=None):
    out, err = io.StringIO(), io.StringIO()
    code = evaluate.main(list(argv), environ={} if environ is None else environ, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def one_line(err: str) -> str:
    assert "Traceback" not in err
    (line,) = err.splitlines()
    return line


@pytest.fixture(scope="module")
def ndjson(tmp_path_factory):
    """The range and the 7 days before it, 3 merchants, SCENARIO=incidents."""
    path = tmp_path_factory.mktemp("data") / "data.ndjson"
    assert data_generator.main(["--start", "2026-11-13T00:00:00Z", "--end", END, "--merchants", "3",
                                "--scenario", "incidents", "--output", str(path)], environ={}) == 0
    return str(path)


# --- output paths: one line, exit 2 ----------------------------------------------------------


@pytest.mark.parametrize("command", ["baseline", "report"])
@pytest.mark.parametrize("where, reason", [("a-file/out.txt", "File exists"), ("a-dir", "Is a directory")])
def test_an_output_that_cannot_be_written_is_one_line_and_exit_2(tmp_path, ndjson, command, where, reason):
    (tmp_path / "a-file").write_text("")
    (tmp_path / "a-dir").mkdir()
    output = tmp_path / where
    code, out, err = grade(command, *RANGE, "--merchants", "3", "--input", ndjson, "--output", str(output))
    assert (code, out) == (2, "")
    # A path this long is not quoted (config.shown()): the flag is named.
    assert one_line(err) == f"error: cannot write --output {config.shown(str(output))}: {reason}"


def test_the_short_path_of_an_unwritable_output_is_quoted(tmp_path, ndjson, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a-file").write_text("")
    code, _, err = grade("report", *RANGE, "--merchants", "3", "--input", ndjson, "--output", "a-file/r.html")
    assert code == 2 and one_line(err) == "error: cannot write --output 'a-file/r.html': File exists"


# --- a broken pipe ends quietly ----------------------------------------------------------------


@pytest.mark.parametrize("script, argv", [
    ("data_generator.py", ["--start", START, "--end", END, "--output", "-"]),
    ("data_generator.py", ["--incidents", "--scenario", "incidents", "--start", START, "--end", END]),
    ("evaluate.py", ["baseline", *RANGE, "--merchants", "3", "--input", "{ndjson}"]),
    ("evaluate.py", ["score", *RANGE, "--findings", os.devnull]),
], ids=["generator --output -", "generator --incidents", "evaluate baseline", "evaluate score"])
def test_a_closed_stdout_ends_quietly_with_exit_141(ndjson, script, argv):
    code, _, err = program(script, *[a.format(ndjson=ndjson) for a in argv], closed_stdout=True)
    assert code == data_generator.EXIT_BROKEN_PIPE == 141
    if script == "evaluate.py" and argv[0] == "baseline":
        # Its count line, if the findings were buffered (they are not with PYTHONUNBUFFERED set).
        lines = err.splitlines()
        assert lines == [] or (len(lines) == 1 and lines[0].startswith("baseline: "))
    else:
        assert err == ""


def test_generator_output_into_head_ends_quietly(tmp_path):
    """The user's pipeline: three days (far more than a pipe holds) into head -1."""
    lambda_dir = ROOT / "lambda"
    result = subprocess.run(
        ["bash", "-c", f"set -o pipefail; {sys.executable} {lambda_dir}/data_generator.py --start 2026-11-01 "
                       "--end 2026-11-04 --output - | head -1"],
        capture_output=True, text=True, env=clean_env(), timeout=120, cwd=tmp_path)
    assert result.returncode == 141
    # The observations only: the answer key goes to a file of its own under out/.
    assert json.loads(result.stdout)["index"]["_index"] == "pp-merchantai"
    assert result.stderr == ""


# --- --patience, as in the generator ---------------------------------------------------------


@pytest.mark.parametrize("argv, what", [
    (["baseline", *RANGE], "reading index 'pp-merchantai'"),
    (["report", *RANGE], "reading index 'pp-merchantai'"),
    (["score", *RANGE, "--findings-index", "ai-findings"], "reading index 'ai-findings'"),
    (["score", *RANGE, "--findings", os.devnull, "--remediation", "on"],
     "reading remediations from 'pp-merchantai-remediations'"),
    (["remediate", "--merchant", "merchant_001", "--action", "rollback_release", "--at", START],
     "writing remediation 'merchant_001-rollback_release-2026112000'"),
], ids=["baseline", "report", "score --findings-index", "score --remediation on", "remediate"])
def test_patience_bounds_every_elasticsearch_request_of_the_grader(argv, what):
    code, out, err = program("evaluate.py", *argv, "--patience", "0", env=clean_env(ELASTICSEARCH_HOST=UNREACHABLE))
    assert (code, out) == (1, "")
    line = one_line(err)
    assert line.startswith(f"error: {what}") and "failed after 1 attempt(s) over 0 s (ConnectionError" in line
    assert line.endswith("gave up after 0 s of retrying (--patience)")


@pytest.mark.parametrize("value", ["soon", "-1", "86401"])
def test_a_bad_patience_is_one_line_and_exit_2(value):
    code, out, err = grade("score", *RANGE, "--findings", os.devnull, "--patience", value)
    assert (code, out) == (2, "") and one_line(err).startswith("error: --patience must be")


# --- no abbreviated flags; usage errors in one line ------------------------------------------


@pytest.mark.parametrize("script, argv, rejected", [
    ("data_generator.py", ["--dry-run", "--merchant", "5"], "--merchant 5"),
    ("evaluate.py", ["score", *RANGE, "--findings", os.devnull, "--merchant", "5"], "--merchant 5"),
    ("evaluate.py", ["score", *RANGE, "--find", os.devnull], "--find"),
    ("evaluate.py", ["remediate", "--payment", "northpay", "--action", "rollback_release", "--at", START],
     "--payment northpay"),
])
def test_an_abbreviated_flag_is_refused_in_one_line(script, argv, rejected):
    code, out, err = program(script, *argv)
    assert (code, out) == (2, "")
    line = one_line(err)
    assert "error: " in line and (f"unrecognized arguments: {rejected}" in line or
                                  "the following arguments are required" in line
                                  or "one of the arguments" in line)
    assert line.endswith("--help)")


# --- baseline and report say what they read --------------------------------------------------


def test_baseline_counts_the_range_and_the_history_it_read(ndjson):
    code, out, err = grade("baseline", *RANGE, "--merchants", "3", "--scenario", "incidents", "--input", ndjson)
    assert code == 0 and out
    assert err == "baseline: " + f"{len(out.splitlines())} findings from 576 documents: 72 in the 24 hours, " \
                  "504 of history in 168 of the 168 hours before\n"


def test_baseline_without_history_warns_in_one_line_and_claims_none(ndjson):
    code, _, err = grade("baseline", "--start", "2026-11-13T00:00:00Z", "--end", "2026-11-14T00:00:00Z",
                         "--merchants", "3", "--input", ndjson)
    assert code == 0
    summary, warning = err.splitlines()
    assert summary.endswith("72 in the 24 hours, 0 of history in 0 of the 168 hours before")
    assert warning == (f"warning: --input {config.shown(ndjson)} holds no documents of the index 'pp-merchantai' "
                       "in the 7 days before 2026-11-13T00:00:00Z: the traffic_drop rule had no history "
                       "(generate from 2026-11-06T00:00:00Z)")


@pytest.mark.parametrize("command", ["baseline", "report"])
def test_no_documents_in_the_range_warns_in_one_line(tmp_path, ndjson, command):
    code, _, err = grade(command, "--start", "2026-11-25T00:00:00Z", "--end", "2026-11-26T00:00:00Z",
                         "--merchants", "3", "--input", ndjson, "--output", str(tmp_path / "out"))
    assert code == 0
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert warnings == [f"warning: --input {config.shown(ndjson)} holds no documents of the index 'pp-merchantai' "
                        "from 2026-11-25T00:00:00Z to 2026-11-26T00:00:00Z: nothing to see (another range, index "
                        "or file?)"]
    if command == "baseline":  # what it read, and no more
        assert err.startswith("baseline: 0 findings from 216 documents: 0 in the 24 hours, 216 of history in 72 "
                              "of the 168 hours before\n")


# --- score says what it graded against -------------------------------------------------------


def findings_file(tmp_path, *findings) -> str:
    path = tmp_path / "findings.jsonl"
    path.write_text("".join(json.dumps(f) + "\n" for f in findings))
    return str(path)


CHRONIC = {"merchant_id": "merchant_009", "issue": "low_conversion", "timestamp": START}  # seed 1729's profile
NOWHERE = {"merchant_id": "merchant_001", "issue": "traffic_drop", "timestamp": "2026-11-20T05:00:00Z"}


def test_score_names_the_scenario_and_the_seed_digest_first_never_the_seed(tmp_path):
    path = findings_file(tmp_path, CHRONIC)
    code, out, err = grade("score", *RANGE, "--findings", path, "--scenario", "incidents", "--seed", "987654321")
    # A seed below 2**64 is warned about too (tests/test_integrity.py).
    assert code == 0 and err.splitlines()[1:] == [
        "warning: none of the 1 usable findings matches an incident of scenario incidents "
        f"(seed digest {config.seed_digest(987654321)}) in the range: is the scenario or the seed wrong?"]
    assert err.startswith("warning: the seed is below 2**64")
    assert out.splitlines()[0] == (f"graded against: scenario incidents, seed digest "
                                   f"{config.seed_digest(987654321)}, 20 merchants")
    assert "987654321" not in out
    code, out, _ = grade("score", *RANGE, "--findings", path, "--json")
    assert code == 0
    result = json.loads(out)
    assert list(result)[:3] == ["scenario", "seed_digest", "merchants"]
    assert (result["scenario"], result["seed_digest"]) == ("steady", config.seed_digest(1729))


@pytest.mark.parametrize("findings, warns", [((CHRONIC,), False), ((NOWHERE,), True), ((), False),
                                             ((CHRONIC, NOWHERE), False)],
                         ids=["one matches", "none matches", "null detector", "one of two matches"])
def test_score_warns_only_when_usable_findings_match_nothing(tmp_path, findings, warns):
    code, _, err = grade("score", *RANGE, "--findings", findings_file(tmp_path, *findings))
    assert code == 0
    assert err == ("warning: none of the 1 usable findings matches an incident of scenario steady (seed digest "
                   f"{config.seed_digest(1729)}) in the range: is the scenario or the seed wrong?\n" if warns else "")
