"""Untrusted files on evaluate.py's command line, run as a user runs it: every bad line is listed
with its number, one line per problem, never a traceback; exit 0 with a usable line, 2 without."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import data_generator

ROOT = Path(__file__).resolve().parent.parent
START, END = "2026-11-20T00:00:00Z", "2026-11-20T06:00:00Z"
GOOD = json.dumps({"merchant_id": "merchant_009", "issue": "low_conversion", "timestamp": START}).encode()
DEEP = b"[" * 100_000


def evaluate(*argv: str) -> subprocess.CompletedProcess:
    env = {name: value for name, value in os.environ.items() if not name.startswith(("ELASTICSEARCH_", "GENERATOR_"))}
    return subprocess.run([sys.executable, str(ROOT / "lambda" / "evaluate.py"), *argv], capture_output=True,
                          text=True, env=env, timeout=120)


def score(tmp_path, *lines: bytes) -> subprocess.CompletedProcess:
    path = tmp_path / "findings.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return evaluate("score", "--findings", str(path), "--start", START, "--end", END, "--merchants", "10")


def test_a_byte_0xff_and_100000_nested_brackets_are_listed_as_malformed_beside_a_usable_finding(tmp_path):
    result = score(tmp_path, GOOD, b"\xff", DEEP, b'{"merchant_id": "merchant_001", "issue": 5}')
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "findings: 4 lines, 1 usable, 3 malformed" in result.stdout
    assert "  line 2: malformed: not UTF-8 (byte 0xff at column 1)" in result.stdout
    assert "  line 3: malformed: not JSON (nested too deeply)" in result.stdout
    assert "  line 4: malformed: issue must be a non-empty string" in result.stdout


def test_findings_with_no_usable_line_exit_2_listing_each_one_once(tmp_path):
    result = score(tmp_path, b"\xff\xfe", DEEP, b'{"merchant_id": "m", "issue": "low_conversion", "timestamp": NaN}',
                   b"x" * (1 << 20) + b"y" * 100)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    *problems, error = result.stderr.splitlines()
    assert problems == [
        "line 1: malformed: not UTF-8 (byte 0xff at column 1)",
        "line 2: malformed: not JSON (nested too deeply)",
        "line 3: malformed: not JSON (NaN is not a JSON number)",
        "line 4: malformed: longer than 1048576 bytes",
    ]
    assert error.startswith("error: --findings ") and error.endswith(
        ": 4 lines, none usable (an empty file is the null detector)")


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> list:
    """The generator's bulk NDJSON for the range, as lines."""
    path = tmp_path_factory.mktemp("data") / "data.ndjson"
    assert data_generator.main(["--start", START, "--end", END, "--merchants", "10", "--output", str(path)],
                               environ={}) == 0
    return path.read_bytes().splitlines()


def spoiled(source: bytes, **fields) -> bytes:
    document = json.loads(source)
    document.update(fields)
    return json.dumps(document).encode()


def baseline(tmp_path, lines: list) -> subprocess.CompletedProcess:
    path = tmp_path / "input.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return evaluate("baseline", "--start", START, "--end", END, "--merchants", "10", "--input", str(path))


def test_input_with_bad_utf8_a_string_metric_a_numeric_timestamp_and_more_lists_each_line(tmp_path, data):
    lines = list(data)
    lines[1] = lines[1].replace(b"merchant_001", b"merchant_\xff01")  # pair 1's document
    lines[3] = spoiled(lines[3], conversion_rate="12.5")
    lines[5] = spoiled(lines[5], timestamp=1794528000)
    lines[7] = lines[7].replace(b'"sessions":', b'"sessions":1' + b"0" * 5000 + b",\"x\":")
    lines[9] = spoiled(lines[9], error_rate=float("nan"))  # json.dumps writes NaN
    lines[11] = spoiled(lines[11], sessions=10**30)
    lines[13] = spoiled(lines[13], location={"lat": 91, "lon": 0})
    lines[15] = b"[" * 100_000
    result = baseline(tmp_path, lines)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    problems = [line for line in result.stderr.splitlines() if line.startswith("--input")]
    assert problems == [
        "--input line 2: not UTF-8 (byte 0xff at column 26)",
        "--input line 4: conversion_rate must be a number from 0 to 100",
        "--input line 6: timestamp must be a non-empty string",
        "--input line 8: not JSON (an integer of too many digits)",
        "--input line 10: not JSON (NaN is not a JSON number)",
        "--input line 12: sessions must be an integer from 0 to 1e+12",
        "--input line 14: lat must be a number from -90 to 90",
        "--input line 16: not JSON (nested too deeply)",
    ]
    # The usable documents still count: 60 in the file, 8 spoiled.
    assert "baseline: " in result.stderr and "from 52 documents" in result.stderr


def test_input_with_no_usable_document_exits_2(tmp_path, data):
    result = baseline(tmp_path, [b'{"index":{"_index":"pp-merchantai","_id":"x"}}', b"\xff", b"{" * 100_000])
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    *problems, error = result.stderr.splitlines()
    assert problems == ["--input line 2: not UTF-8 (byte 0xff at column 1)",
                        "--input line 3: not a bulk action and document pair"]
    assert error.startswith("error: --input ") and error.endswith(": 2 malformed lines, no usable document of "
                                                                   "pp-merchantai")
