"""Fan-out: chunk splitting (pure), sizing, and async invocations against moto (no real AWS)."""

from __future__ import annotations

import io
import sys
import json
import zipfile
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

import config
import data_generator
import fanout
from config import HOUR, ConfigError, HourRange

T0 = datetime(2026, 10, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("hours, chunk_hours", [(1, 1), (1, 5), (10, 3), (24, 24), (744, 100), (745, 1), (7, 7)])
def test_split_covers_the_range_exactly_without_gaps_or_overlaps(hours, chunk_hours):
    hour_range = HourRange(T0, T0 + hours * HOUR)
    chunks = fanout.split(hour_range, chunk_hours)
    assert chunks[0].start == hour_range.start and chunks[-1].end == hour_range.end
    for before, after in zip(chunks, chunks[1:]):
        assert before.end == after.start  # no gap, no overlap
    assert all(chunk.hours == chunk_hours for chunk in chunks[:-1])
    assert 1 <= chunks[-1].hours <= chunk_hours  # the last may be shorter
    assert sum(chunk.hours for chunk in chunks) == hours
    assert len(chunks) == -(-hours // chunk_hours)


def test_split_refuses_empty_chunks():
    with pytest.raises(ConfigError, match="--chunk-hours"):
        fanout.split(HourRange(T0, T0 + HOUR), 0)


def test_default_chunk_fits_the_time_budget_and_the_invocation_maximum():
    for merchants in (1, 20, 999, 10_000, 100_000):
        hours = fanout.default_chunk_hours(merchants)
        documents = hours * merchants
        assert hours >= 1
        assert documents <= config.MAX_DOCUMENTS_PER_INVOCATION or hours == 1
        assert documents / fanout.DOCS_PER_SECOND <= fanout.TIME_BUDGET_FRACTION * fanout.DEFAULT_TIMEOUT_S \
            or hours == 1
    assert fanout.default_chunk_hours(20) == 15_000
    assert fanout.default_chunk_hours(10_000) == 30
    assert fanout.default_chunk_hours(20, timeout_s=900) == config.MAX_DOCUMENTS_PER_INVOCATION // 20
    assert fanout.default_chunk_hours(10_000, timeout_s=60) == 6


def test_plan_checks_flags_against_the_function():
    hour_range = HourRange(T0, T0 + 100 * HOUR)
    p = fanout.plan("f", hour_range, merchants=None, chunk_hours=None, concurrency=None,
                    settings={"merchants": 10_000, "timeout_s": 300})
    assert p.merchants == 10_000 and p.chunk_hours == 30 and len(p.chunks) == 4
    with pytest.raises(ConfigError, match="does not match the function's MERCHANT_COUNT"):
        fanout.plan("f", hour_range, merchants=5, chunk_hours=None, concurrency=None, settings={"merchants": 20})
    with pytest.raises(ConfigError, match="at most 50 hours"):
        fanout.plan("f", hour_range, merchants=10_000, chunk_hours=51, concurrency=None, settings={})
    with pytest.raises(ConfigError, match="--concurrency"):
        fanout.plan("f", hour_range, merchants=None, chunk_hours=None, concurrency=-1, settings={})


def test_every_payload_is_an_event_the_handler_accepts():
    hour_range = HourRange(T0, T0 + 50 * HOUR)
    now = T0 + 60 * HOUR
    covered = []
    for chunk in fanout.split(hour_range, 7):
        parsed = config.parse_event(fanout.payload(chunk), now)
        assert (parsed.start, parsed.end) == (chunk.start, chunk.end)
        config.check_invocation_size(parsed, 10_000)
        covered.append(parsed)
    assert covered[0].start == hour_range.start and covered[-1].end == hour_range.end


@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    # The simple Lambda backend: no Docker; an invoke answers with its payload.
    with mock_aws(config={"lambda": {"use_docker": False}}):
        yield


def _deploy(name="pp-merchantai-data-generator", merchants="50", timeout=300):
    role = boto3.client("iam").create_role(
        RoleName="generator-role", Path="/",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]}),
    )["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("data_generator.py", "def lambda_handler(event, context):\n    return event\n")
    boto3.client("lambda").create_function(
        FunctionName=name, Runtime="python3.13", Architectures=["arm64"], Role=role,
        Handler="data_generator.lambda_handler", Code={"ZipFile": code.getvalue()},
        Timeout=timeout, MemorySize=512, Environment={"Variables": {"MERCHANT_COUNT": merchants}},
    )
    return name


def _recording_client():
    """A lambda client that records what boto3 sent and what came back, via botocore's event hooks."""
    client = boto3.client("lambda")
    sent, answers = [], []
    client.meta.events.register("provide-client-params.lambda.Invoke", lambda params, **_: sent.append(dict(params)))
    client.meta.events.register(
        "after-call.lambda.Invoke",
        lambda parsed, **_: answers.append((parsed["StatusCode"], parsed["Payload"].read())),
    )
    return client, sent, answers


def test_fan_out_invokes_the_function_once_per_chunk_asynchronously(aws):
    function = _deploy(merchants="10000")
    client, sent, answers = _recording_client()
    hour_range = HourRange(T0, T0 + 100 * HOUR)
    settings = fanout.function_settings(client, function)
    assert settings == {"merchants": 10_000, "timeout_s": 300, "memory_mb": 512}
    p = fanout.plan(function, hour_range, merchants=None, chunk_hours=None, concurrency=0, settings=settings)
    out = io.StringIO()
    assert fanout.send(p, client, out) == 4

    expected = [
        {"start": "2026-10-01T00:00:00Z", "end": "2026-10-02T06:00:00Z"},
        {"start": "2026-10-02T06:00:00Z", "end": "2026-10-03T12:00:00Z"},
        {"start": "2026-10-03T12:00:00Z", "end": "2026-10-04T18:00:00Z"},
        {"start": "2026-10-04T18:00:00Z", "end": "2026-10-05T04:00:00Z"},
    ]
    assert [params["InvocationType"] for params in sent] == ["Event"] * 4
    assert [params["FunctionName"] for params in sent] == [function] * 4
    assert [json.loads(params["Payload"]) for params in sent] == expected
    # moto accepted each as an async invocation (202) and received that payload.
    assert [(status, json.loads(body)) for status, body in answers] == [(202, body) for body in expected]
    text = out.getvalue()
    assert "4 chunk(s) of up to 30 hour(s) x 10000 merchants = 1,000,000 documents" in text
    assert "estimated Lambda cost $" in text
    assert text.count("invoked {") == 4 and "sent 4 invocation(s)" in text


def test_fan_out_sends_in_waves_and_waits_a_chunk_duration_between_them(aws):
    function = _deploy(merchants="20")
    client, sent, _ = _recording_client()
    slept = []
    p = fanout.plan(function, HourRange(T0, T0 + 10 * HOUR), merchants=None, chunk_hours=2, concurrency=2,
                    settings=fanout.function_settings(client, function))
    fanout.send(p, client, io.StringIO(), sleep=slept.append)
    assert len(sent) == 5
    assert slept == [p.seconds_per_chunk] * 2  # waves of 2, 2 and 1
    assert p.seconds_per_chunk == 2 * 20 / fanout.DOCS_PER_SECOND


def test_cli_invoke_wiring(aws, capsys):
    function = _deploy(merchants="50")
    client, sent, _ = _recording_client()
    args = data_generator._parser().parse_args(
        ["--start", "2026-10-01", "--end", "2026-10-02", "--invoke", function, "--chunk-hours", "5"])
    hour_range = data_generator._range_from_args(args, T0 + timedelta(days=60))
    assert fanout.cli(args, hour_range, io.StringIO(), client=client) == 0
    assert [json.loads(params["Payload"])["start"] for params in sent] == [
        "2026-10-01T00:00:00Z", "2026-10-01T05:00:00Z", "2026-10-01T10:00:00Z",
        "2026-10-01T15:00:00Z", "2026-10-01T20:00:00Z"]

    # Through main(), with boto3's own client (in moto): exit 0 and the invocations printed.
    assert data_generator.main(["--start", "2026-10-01", "--end", "2026-10-02", "--invoke", function]) == 0
    err = capsys.readouterr().err
    assert "1 chunk(s) of up to 6000 hour(s) x 50 merchants = 1,200 documents" in err
    assert 'invoked {"start": "2026-10-01T00:00:00Z", "end": "2026-10-02T00:00:00Z"} (1/1)' in err


def test_cli_invoke_errors(aws, capsys):
    _deploy(merchants="50")
    base = ["--start", "2026-10-01", "--end", "2026-10-02"]
    assert data_generator.main(base + ["--invoke", "no-such-function"]) == 2
    assert "cannot read function 'no-such-function'" in capsys.readouterr().err
    assert data_generator.main(base + ["--invoke", "pp-merchantai-data-generator", "--merchants", "7"]) == 2
    assert "does not match" in capsys.readouterr().err
    assert data_generator.main(base + ["--invoke", "pp-merchantai-data-generator", "--output", "x"]) == 2
    assert "--output cannot be used with --invoke" in capsys.readouterr().err
    assert data_generator.main(base + ["--chunk-hours", "3"]) == 2
    assert "need --invoke" in capsys.readouterr().err


def test_cli_invoke_dry_run_prints_the_plan_and_calls_nothing(capsys, monkeypatch):
    monkeypatch.setattr(fanout, "_client", lambda *a: pytest.fail("dry run must not call AWS"))
    assert data_generator.main(["--start", "2026-10-01", "--end", "2026-10-03", "--invoke", "f",
                                "--merchants", "10000", "--concurrency", "1", "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "2 chunk(s) of up to 30 hour(s) x 10000 merchants" in err
    assert err.count("would invoke") == 2 and "would wait 150 s" in err


def test_a_refused_invoke_stops_and_says_where_to_resume(aws, capsys):
    function = _deploy(merchants="20")
    client, sent, _ = _recording_client()

    def throttle_third(params, **_):
        if len(sent) == 3:
            raise client.exceptions.TooManyRequestsException(
                {"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "Invoke")

    client.meta.events.register("before-call.lambda.Invoke", throttle_third)
    args = data_generator._parser().parse_args(
        ["--start", "2026-10-01", "--end", "2026-10-02", "--invoke", function, "--chunk-hours", "6"])
    out = io.StringIO()
    assert fanout.cli(args, data_generator._range_from_args(args, T0 + timedelta(days=60)), out, client=client) == 1
    text = out.getvalue()
    assert text.count("invoked {") == 2
    assert "stopped after 2 of 4 invocation(s); to send the rest, re-run with --start 2026-10-01T12:00:00Z and the same --end" in text
    assert "error: " in text and "Rate exceeded" in text


def test_cli_invoke_without_boto3_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "botocore", None)
    monkeypatch.setitem(sys.modules, "botocore.exceptions", None)
    assert data_generator.main(["--start", "2026-10-01", "--end", "2026-10-02", "--invoke", "f"]) == 2
    assert "--invoke needs boto3" in capsys.readouterr().err
    # The plan alone needs neither boto3 nor AWS.
    assert data_generator.main(["--start", "2026-10-01", "--end", "2026-10-02", "--invoke", "f", "--dry-run"]) == 0
    assert "would invoke" in capsys.readouterr().err
