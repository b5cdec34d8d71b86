"""What the AI under test can read carries no answer, and what it writes cannot break the run.

The key file of an NDJSON run, a summary that does not move at an incident's onset, secret
seeds (never shown; records carry a digest), and remediation documents that are too long
to copy into the answer key's keyword fields and _ids.
"""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import datetime, timezone

import boto3
import pytest
from moto import mock_aws

import config
import data_generator
import es
import generator
import incidents
import remediations
from config import HOUR, Config, ConfigError, HourRange
from grader import cli as evaluate
from grader import findings

WEEK = HourRange(datetime(2026, 11, 2, tzinfo=timezone.utc), datetime(2026, 11, 9, tzinfo=timezone.utc))
SECRET_SEED = 2**127 + 123456789  # a 128-bit seed, as deploy.sh draws them


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def pairs(path) -> list:
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    return [(action["index"], source) for action, source in zip(lines[::2], lines[1::2])]


# --- the key file ---------------------------------------------------------------------------


def test_a_separate_run_writes_no_answer_key_pair_into_the_output_and_all_of_them_beside_it(tmp_path, capsys):
    out = tmp_path / "week.ndjson"
    argv = ["--scenario", "incidents", "--start", stamp(WEEK.start), "--end", stamp(WEEK.end), "--output", str(out)]
    assert data_generator.main(argv, environ={}) == 0
    data = pairs(out)
    assert len(data) == WEEK.hours * 20
    assert {action["_index"] for action, _ in data} == {"pp-merchantai"}
    assert not [source for _, source in data if {"incident_id", "incident_ids", "issues"} & set(source)]
    key = pairs(tmp_path / "week-incidents.ndjson")
    expected = incidents.answer_key(Config(scenario="incidents"), WEEK)[0]
    assert [source for _, source in key] == expected
    assert [action for action, _ in key] == [{"_index": "pp-merchantai-incidents", "_id": r["incident_id"]}
                                              for r in expected]
    summary = json.loads(next(line for line in capsys.readouterr().err.splitlines() if line.startswith("{")))
    assert summary["answer_key_output"] == str(tmp_path / "week-incidents.ndjson")


def test_a_given_key_file_and_stdout_output(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    hour = ["--start", "2026-11-02T11:00:00Z", "--end", "2026-11-02T12:00:00Z", "--scenario", "incidents"]
    assert data_generator.main([*hour, "--output", "-", "--answer-key-output", "truth/key.ndjson"], environ={}) == 0
    captured = capsys.readouterr()
    assert "-incidents" not in captured.out and captured.out.count("\n") == 40
    assert len(pairs(tmp_path / "truth" / "key.ndjson")) > 9  # the chronic profiles and the outage starting
    # With --output -, the default key file is under out/, named like the default output.
    assert data_generator.main([*hour, "--output", "-"], environ={}) == 0
    assert "-incidents" not in capsys.readouterr().out
    default = tmp_path / "out" / "pp-merchantai-2026110211-incidents.ndjson"
    assert pairs(default) == pairs(tmp_path / "truth" / "key.ndjson")


def test_inline_keeps_the_key_with_the_data_and_refuses_a_key_file(tmp_path, capsys):
    out = tmp_path / "x.ndjson"
    hour = ["--start", "2026-11-02T11:00:00Z", "--end", "2026-11-02T12:00:00Z", "--output", str(out)]
    assert data_generator.main(hour, environ={"GROUND_TRUTH": "inline"}) == 0
    assert {action["_index"] for action, _ in pairs(out)} == {"pp-merchantai", "pp-merchantai-incidents"}
    assert not (tmp_path / "x-incidents.ndjson").exists()
    assert data_generator.main([*hour, "--answer-key-output", str(tmp_path / "k")], environ={"GROUND_TRUTH": "inline"}) == 2
    assert "--answer-key-output needs GROUND_TRUTH=separate" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--output", "same.ndjson", "--answer-key-output", "same.ndjson"], "must not be the output file"),
    (["--dry-run", "--answer-key-output", "k.ndjson"], "--answer-key-output needs a file run"),
])
def test_bad_key_file_arguments_exit_2(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert data_generator.main(argv, environ={}) == 2
    assert message in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


# --- no schedule in what a run says ---------------------------------------------------------


def onset_hour() -> datetime:
    """The onset of the week's payment outage: a new answer-key record in the hourly run at it."""
    record = next(r for r in incidents.answer_key(Config(scenario="incidents"), WEEK)[0]
                  if r["kind"] == "payment_outage")
    return datetime.fromisoformat(record["onset"].replace("Z", "+00:00"))


def without_hour(summary: dict) -> dict:
    return {k: v for k, v in summary.items() if k not in ("start", "end", "duration_ms")}


def test_the_hourly_summary_is_the_same_at_an_onset_and_in_the_hour_before(cluster, monkeypatch, caplog):
    monkeypatch.setenv("ELASTICSEARCH_HOST", cluster.url)
    monkeypatch.setenv("SCENARIO", "incidents")
    onset = onset_hour()
    caplog.set_level(logging.INFO, logger="pp_merchantai")
    before = data_generator.lambda_handler({"time": stamp(onset - HOUR)}, None)
    records_before = cluster.count("pp-merchantai-incidents")
    at = data_generator.lambda_handler({"time": stamp(onset)}, None)
    # The onset hour did write one more record (the test would show nothing otherwise) ...
    assert cluster.count("pp-merchantai-incidents") == records_before + 1
    # ... and neither the return value nor anything logged at INFO or above says so.
    assert without_hour(before) == without_hour(at) and before["start"] != at["start"]
    logged = [r.getMessage() for r in caplog.records]
    assert len(logged) == 2
    assert [without_hour(json.loads(line)) for line in logged] == [without_hour(before)] * 2


def test_the_cli_says_the_same_at_an_onset_and_in_the_hour_before(tmp_path, capsys):
    onset = onset_hour()
    said = []
    for hour in (onset - HOUR, onset):
        argv = ["--scenario", "incidents", "--start", stamp(hour), "--end", stamp(hour + HOUR)]
        for run in ([*argv, "--output", str(tmp_path / "x.ndjson")], [*argv, "--dry-run"], argv):
            assert data_generator.main(run, environ={}) == 0
            text = capsys.readouterr().err
            # The merchant table of a dry run or a default-output run shows the data, never the truth.
            assert not [label for label in findings.LABELS if label in text]
            for moment in (hour, hour + HOUR):
                text = text.replace(stamp(moment), "<hour>").replace(moment.strftime("%Y%m%d%H"), "<hour>")
            text = re.sub(r'"duration_ms": [0-9]+', "", text)
            said.append([line for line in text.splitlines() if not line.startswith("merchant_")])
    assert said[:3] == said[3:]
    assert "merchant      city           conversion  errors transactions  (issues: see --incidents)" in said[1]


def test_a_backfill_reports_the_same_counts_whatever_the_incidents(monkeypatch):
    monkeypatch.setattr(es, "CHUNK_SIZE", 50)
    seen = {}
    for name in ("steady", "incidents"):
        done = []
        summary = data_generator.run(Config(scenario=name), WEEK, data_generator.NdjsonWriter(io.StringIO()),
                                     progress=done.append)
        seen[name] = (without_hour(summary) | {"scenario": None}, done)
    assert seen["steady"] == seen["incidents"]
    assert set(seen["steady"][1][:-1]) == {50}


# --- seeds ----------------------------------------------------------------------------------


def test_seeds_up_to_2_128_and_records_carry_only_a_digest():
    cfg = config.load_config({config.GENERATOR_SEED: str(SECRET_SEED), config.SCENARIO: "incidents"})
    assert cfg.seed == SECRET_SEED and str(SECRET_SEED) not in repr(cfg)
    records = incidents.answer_key(cfg, WEEK)[0]
    assert {r["seed_digest"] for r in records} == {config.seed_digest(SECRET_SEED)}
    assert str(SECRET_SEED) not in json.dumps(records)
    # Another seed, another world; the small fixed seeds keep theirs (tests/test_golden.py).
    assert generator.roster(SECRET_SEED, 20) != generator.roster(SECRET_SEED + 1, 20)


def test_a_refused_seed_is_never_shown():
    for value in ("1729x", str(2**128 + 1), "12 34", "-" + "9" * 50):
        with pytest.raises(ConfigError) as refused:
            config.load_config({config.GENERATOR_SEED: value})
        assert str(refused.value) == ("GENERATOR_SEED must be an integer from -2**128 to 2**128 "
                                      "(the value is not shown)")


@pytest.fixture
def aws(monkeypatch, tmp_path):
    """In-process moto with dummy credentials; nothing reads ~/.aws or leaves the process."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    with mock_aws():
        yield boto3.client("secretsmanager")


def test_the_seed_is_read_from_its_secret_once_and_never_shown(aws, monkeypatch, caplog, capsys):
    arn = aws.create_secret(Name="pp/seed", SecretString=f" {SECRET_SEED}\n")["ARN"]
    monkeypatch.setenv(config.GENERATOR_SEED_SECRET_ARN, arn)
    monkeypatch.setenv(config.SCENARIO, "incidents")
    monkeypatch.setenv(config.LOG_LEVEL, "DEBUG")
    caplog.set_level(logging.DEBUG)
    reads = []
    real = config._secret_string
    monkeypatch.setattr(config, "_secret_string", lambda *args: reads.append(args[0]) or real(*args))
    summaries = [data_generator.lambda_handler({"time": "2026-11-02T11:00:00Z", "dry_run": True}, None)
                 for _ in range(2)]
    assert reads == [arn]  # once per container
    assert config.load_config({config.GENERATOR_SEED_SECRET_ARN: arn}).seed == SECRET_SEED
    shown = json.dumps(summaries) + caplog.text + "".join(capsys.readouterr())
    assert str(SECRET_SEED) not in shown
    # The CLI reads it the same way; --seed wins and reads no secret.
    assert data_generator.main(["--incidents", "--start", "2026-11-02T11:00:00Z"]) == 0
    header = capsys.readouterr().out.splitlines()[0]
    assert f"seed digest {config.seed_digest(SECRET_SEED)}" in header and str(SECRET_SEED) not in header
    monkeypatch.setenv(config.GENERATOR_SEED_SECRET_ARN, arn[:-6] + "XXXXXX")  # no such secret
    config.read_seed_secret.cache_clear()
    assert data_generator.main(["--incidents", "--seed", "7", "--start", "2026-11-02T11:00:00Z"]) == 0
    assert "seed digest " + config.seed_digest(7) in capsys.readouterr().out


def test_a_bad_seed_secret_is_refused_without_showing_it(aws, monkeypatch, capsys):
    arn = aws.create_secret(Name="pp/seed", SecretString="17x29")["ARN"]
    with pytest.raises(ConfigError) as refused:
        config.load_config({config.GENERATOR_SEED_SECRET_ARN: arn})
    assert str(refused.value) == (f"the secret named by {config.GENERATOR_SEED_SECRET_ARN} must be an integer "
                                  "from -2**128 to 2**128 (the value is not shown)")
    with pytest.raises(ConfigError, match="set either GENERATOR_SEED or GENERATOR_SEED_SECRET_ARN, not both"):
        config.load_config({config.GENERATOR_SEED_SECRET_ARN: arn, config.GENERATOR_SEED: "7"})
    monkeypatch.setenv(config.GENERATOR_SEED_SECRET_ARN, arn[:-6] + "XXXXXX")
    assert data_generator.main(["--dry-run"]) == 1
    err = capsys.readouterr().err
    assert f"error: cannot read the secret named by {config.GENERATOR_SEED_SECRET_ARN}: ResourceNotFoundException" in err


def grade(command: str, seed: str, scenario: str, tmp_path) -> tuple[int, str, str]:
    findings = tmp_path / "findings.jsonl"
    findings.write_text("")
    argv = [command, "--start", "2026-11-02T00:00:00Z", "--end", "2026-11-03T00:00:00Z", "--seed", seed]
    if command == "score":
        argv += ["--findings", str(findings)]
    else:
        data = tmp_path / "data.ndjson"
        data_generator.main(["--start", "2026-11-02T00:00:00Z", "--end", "2026-11-03T00:00:00Z", "--seed", seed,
                             "--scenario", scenario, "--output", str(data)], environ={})
        argv += ["--input", str(data), "--output", str(tmp_path / "report.html")]
    out, err = io.StringIO(), io.StringIO()
    code = evaluate.main(argv, environ={config.SCENARIO: scenario}, out=out, err=err)
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("command", ["score", "report"])
def test_grading_on_a_guessable_seed_warns_once(command, tmp_path):
    code, _, err = grade(command, "1729", "incidents", tmp_path)
    assert code == 0
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings == ["warning: the seed is below 2**64: it can be recovered from the data in seconds, and with "
                        "it the answer key of incidents; grade an AI on a secret 128-bit seed (docs/deployment.md)"]
    for seed, scenario in (("1729", "steady"), (str(SECRET_SEED), "incidents"), (str(-2**64), "incidents")):
        assert "warning:" not in grade(command, seed, scenario, tmp_path)[2]


def test_the_report_shows_the_seed_digest_never_the_seed(tmp_path):
    assert grade("report", str(SECRET_SEED), "incidents", tmp_path)[0] == 0
    page = (tmp_path / "report.html").read_text()
    assert f"<dt>seed digest</dt><dd>{config.seed_digest(SECRET_SEED)}</dd>" in page
    assert str(SECRET_SEED) not in page


# --- remediation documents too long for the answer key ----------------------------------------


def hit(doc_id: str, **source) -> dict:
    return {"_id": doc_id, "_source": {"merchant_id": "merchant_001", "action": "rollback_release",
                                       "timestamp": "2026-11-02T10:00:00Z", **source}}


def test_ids_actions_targets_and_incident_ids_over_128_bytes_make_a_document_malformed():
    long_id = "r" * 500
    parsed, skipped = remediations.parse([
        hit("ok", note="n" * 40_000, incident_id="i" * 128),
        hit(long_id),
        hit("a", action="x" * 40_000),
        hit("m", merchant_id="é" * 65),  # 130 bytes
        hit("i", incident_id="i" * 129),
        hit("f", **{"k" * 40_000: 1}),
    ])
    assert [r.id for r in parsed] == ["ok"]
    digest = "sha256-" + __import__("hashlib").sha256(long_id.encode()).hexdigest()
    assert [(s.id, s.reason) for s in skipped] == [
        ("a", "action is longer than 128 bytes"),
        ("f", f"unknown fields: {'k' * 40!r}..."),
        ("i", "incident_id is longer than 128 bytes"),
        ("m", "merchant_id is longer than 128 bytes"),
        (digest, "_id is longer than 128 bytes"),
    ]
    record = remediations.unmatched_record(remediations.Remediation("r" * 128, WEEK.start, 0, "x" * 128), "s", "d")
    assert len(record["incident_id"].encode()) <= 512


def test_a_500_byte_id_and_40_kb_fields_never_stop_the_hourly_run(cluster, monkeypatch, caplog):
    monkeypatch.setenv("ELASTICSEARCH_HOST", cluster.url)
    monkeypatch.setenv("SCENARIO", "incidents")
    monkeypatch.setenv("REMEDIATION", "on")
    client = es.connect(cluster.url)
    hour = onset_hour()
    before = stamp(hour - HOUR)
    documents = {
        "r" * 500: {"merchant_id": "merchant_001", "action": "rollback_release", "timestamp": before},
        "big-action": {"merchant_id": "merchant_001", "action": "a" * 40_000, "timestamp": before},
        "big-target": {"merchant_id": "m" * 40_000, "action": "rollback_release", "timestamp": before},
        "big-incident": {"merchant_id": "merchant_001", "action": "rollback_release", "timestamp": before,
                         "incident_id": "i" * 40_000},
        "big-note": {"merchant_id": "merchant_999", "action": "rollback_release", "timestamp": before,
                     "note": "n" * 40_000},
    }
    for doc_id, document in documents.items():
        es.write_remediation(client, "pp-merchantai-remediations", doc_id, document)
    with caplog.at_level(logging.WARNING, logger="pp_merchantai"):
        summary = data_generator.lambda_handler({"time": stamp(hour)}, None)
    assert (summary["status"], summary["documents"], summary["indexed"], summary["failed"]) == ("ok", 20, 20, 0)
    assert cluster.count() == 20
    key = cluster.documents("pp-merchantai-incidents")
    # The well-formed one (a note is never copied) is recorded; the others are skipped, shown bounded.
    assert "unmatched_action-big-note" in key
    assert max(len(json.dumps(record)) for record in key.values()) < 5_000
    assert len(caplog.text) < 5_000
    for doc_id in ("big-action", "big-target", "big-incident", "sha256-"):
        assert f"remediation {doc_id}" in caplog.text
