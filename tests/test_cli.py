"""The command line without a cluster: files, stdout, dry runs and errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest

import data_generator
from config import Config

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 11, 27, 8, tzinfo=timezone.utc)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def read_ndjson(path, index="pp-merchantai"):
    """(actions, sources) of one index's pairs in a bulk NDJSON file (it holds the answer key's too)."""
    lines = [json.loads(line) for line in Path(path).read_text().splitlines()]
    pairs = [(action, source) for action, source in zip(lines[::2], lines[1::2]) if action["index"]["_index"] == index]
    return [action for action, _ in pairs], [source for _, source in pairs]


def test_default_writes_out_file_table_and_curl_hint(workdir, capsys):
    assert data_generator.main(["--start", "2026-11-27T08:00:00Z", "--end", "2026-11-27T09:00:00Z"]) == 0
    err = capsys.readouterr().err
    path = workdir / "out" / "pp-merchantai-2026112708.ndjson"
    actions, docs = read_ndjson(path)
    assert len(docs) == 20
    assert actions[6] == {"index": {"_index": "pp-merchantai", "_id": "merchant_007-2026112708"}}
    assert docs == data_generator.documents(Config(), T0)
    assert "issues" not in docs[8]  # GROUND_TRUTH=separate: the truth is in the answer key only
    # ... in a file of its own: the observations' file holds none of it.
    assert read_ndjson(path, "pp-merchantai-incidents") == ([], [])
    _, records = read_ndjson(workdir / "out" / "pp-merchantai-2026112708-incidents.ndjson", "pp-merchantai-incidents")
    assert {(r["kind"], r["merchant_ids"][0]) for r in records} >= {("low_conversion", "merchant_009")}
    assert ("Wrote 20 documents to out/pp-merchantai-2026112708.ndjson, "
            "the answer key to out/pp-merchantai-2026112708-incidents.ndjson") in err
    assert "merchant_009  New York           20.71%  21.43%           70  low_conversion, high_error_rate" in err
    assert "merchant_003  -  " in err
    assert "--data-binary @out/pp-merchantai-2026112708.ndjson" in err


def test_range_file_name_and_count(workdir, capsys):
    args = ["--start", "2026-11-26T00:00:00Z", "--end", "2026-11-27T00:00:00Z", "--merchants", "3"]
    assert data_generator.main(args) == 0
    _, docs = read_ndjson(workdir / "out" / "pp-merchantai-2026112600-2026112623.ndjson")
    assert len(docs) == 72


def test_output_to_a_path_sends_nothing_and_prints_no_table(workdir, capsys, monkeypatch):
    monkeypatch.setenv("ELASTICSEARCH_HOST", "https://unreachable.invalid")
    args = ["--start", "2026-11-27T08:00:00Z", "--end", "2026-11-27T09:00:00Z", "--output", "x/data.ndjson",
            "--index", "other", "--seed", "5"]
    assert data_generator.main(args) == 0
    actions, docs = read_ndjson(workdir / "x" / "data.ndjson", "other")
    assert len(actions) == 20
    assert read_ndjson(workdir / "x" / "data.ndjson", "other-incidents") == ([], [])
    assert read_ndjson(workdir / "x" / "data-incidents.ndjson", "other-incidents")[0]
    assert docs == data_generator.documents(Config(seed=5), T0)
    assert "merchant_001" not in capsys.readouterr().err


def test_output_dash_writes_only_ndjson_to_stdout(workdir, capsys):
    assert data_generator.main(["--start", "2026-11-27T08:00:00Z", "--end", "2026-11-27T09:00:00Z",
                                "--output", "-", "--merchants", "2"]) == 0
    out = capsys.readouterr().out
    assert [json.loads(line) for line in out.splitlines()][::2] == [
        {"index": {"_index": "pp-merchantai", "_id": "merchant_001-2026112708"}},
        {"index": {"_index": "pp-merchantai", "_id": "merchant_002-2026112708"}},
    ]


def test_dry_run_writes_nothing(workdir, capsys):
    assert data_generator.main(["--dry-run", "--merchants", "3"]) == 0
    assert not (workdir / "out").exists()
    err = capsys.readouterr().err
    summary = json.loads(err.strip().splitlines()[0])
    assert (summary["dry_run"], summary["documents"], summary["indexed"]) == (True, 3, 0)
    assert "merchant_003" in err


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--merchants", "0"], {}, "error: --merchants must be between 1 and 100000, got '0'"),
        (["--seed", "x"], {}, "error: --seed must be an integer from -2**128 to 2**128 (the value is not shown)"),
        (["--index", "A"], {}, "error: --index must be a valid Elasticsearch index name"),
        (["--end", "2026-11-27"], {}, "error: --end needs --start"),
        (["--start", "2999-01-01"], {}, "error: refusing hours after the current one"),
        (["--start", "tomorrow"], {}, "error: start is not an ISO 8601 time: 'tomorrow'"),
        ([], {"MERCHANT_COUNT": "many"}, "error: MERCHANT_COUNT must be an integer, got 'many'"),
        ([], {"ELASTICSEARCH_HOST": "http://example.com"}, "error: ELASTICSEARCH_HOST must use https://"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message_and_writes_nothing(workdir, capsys, monkeypatch, args, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert data_generator.main(args) == 2
    assert message in capsys.readouterr().err
    assert not (workdir / "out").exists()


def test_unreachable_cluster_exits_1(workdir, capsys, monkeypatch):
    monkeypatch.setenv("ELASTICSEARCH_HOST", "http://127.0.0.1:9")  # discard port: connection refused
    assert data_generator.main(["--merchants", "1", "--patience", "0"]) == 1
    err = capsys.readouterr().err
    assert "error: creating index template 'pp-merchantai' failed after 1 attempt(s) over 0 s (ConnectionError" in err
    assert "gave up after 0 s of retrying (--patience)" in err


@pytest.mark.parametrize("value", ["soon", "-1", "86401"])
def test_bad_patience_exits_2_naming_the_flag(workdir, capsys, value):
    assert data_generator.main(["--dry-run", "--patience", value]) == 2
    assert "error: --patience must be" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--chunk-hours", "--concurrency"])
def test_a_fan_out_flag_that_is_not_a_number_exits_2_naming_it(workdir, capsys, flag):
    # argparse is imported only for the command line; its type errors must still be one line.
    with pytest.raises(SystemExit) as exit_:
        data_generator.main(["--invoke", "some-function", flag, "soon"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: {flag} must be" in err and "Traceback" not in err


def test_script_entry_point_runs_as_a_program(workdir):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ELASTICSEARCH_", "MERCHANT_", "GENERATOR_"))}
    result = subprocess.run(
        [sys.executable, str(ROOT / "lambda" / "data_generator.py"), "--start", "2026-11-27T08:00:00Z",
         "--end", "2026-11-27T09:00:00Z", "--output", "-", "--merchants", "1"],
        capture_output=True, text=True, env=env, check=True,
    )
    action, doc = (json.loads(line) for line in result.stdout.splitlines())
    assert action["index"]["_id"] == "merchant_001-2026112708"
    assert doc == data_generator.documents(Config(merchants=1), T0)[0]


def test_incidents_prints_the_answer_key_and_sends_nothing(workdir, capsys, monkeypatch):
    monkeypatch.setenv("ELASTICSEARCH_HOST", "https://unreachable.invalid")
    args = ["--incidents", "--scenario", "incidents", "--start", "2026-11-01T00:00Z", "--end", "2026-11-08T00:00Z"]
    assert data_generator.main(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("Answer key (pp-merchantai-incidents), 2026-11-01T00:00:00Z to 2026-11-08T00:00:00Z: "
                             "scenario incidents, seed digest 98b1690510df, 20 merchants, ")
    assert out[1].split() == ["kind", "merchants", "onset", "end", "labels", "root", "cause"]
    assert out[2].split() == ["missing_location", "merchant_003", "chronic", "chronic", "missing_location",
                              "merchant_profile", "/", "merchant_address"]
    assert any(line.startswith("payment_outage ") and "dependency / payment_provider:" in line for line in out)
    assert any(line.startswith("promo_surge ") and "none (benign)" in line for line in out)
    assert len(out) - 2 == int(out[0].split(", ")[-1].split()[0])
    assert not (workdir / "out").exists()


def test_a_bad_scenario_file_exits_2_before_anything_is_written(workdir, capsys):
    (workdir / "mine.json").write_text('{"incidents": [{"kind": "checkout_regression", "merchants": ["merchant_003"], '
                                       '"start": "2026-11-01T10:30:00Z", "hours": 6}]}')
    assert data_generator.main(["--scenario", str(workdir / "mine.json"), "--start", "2026-11-01T00:00Z"]) == 2
    assert "error: scenario file " in capsys.readouterr().err
    assert not (workdir / "out").exists()
