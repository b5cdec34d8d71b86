"""Backfills stream: chunks are generated lazily and bounded; the fast path stays byte-identical."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import data_generator
import es
import events
import generator
import incidents
import oracle
from config import HOUR, Config, HourRange
from shim import Rewrite

T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)


class RecordingSink:
    def __init__(self, calls):
        self.calls = calls
        self.chunks = []

    def send(self, pairs, records=0, events=0):
        # Its size, its documents, and how many hours had been generated when it was sent.
        self.chunks.append((len(pairs), len(pairs) - records - events, self.calls[0]))
        return len(pairs) - records - events


def test_long_backfill_is_sent_in_bounded_chunks_generated_lazily(monkeypatch):
    calls = [0]
    real = generator.HourlyLines.lines

    def counting(self, hour):
        calls[0] += 1
        return real(self, hour)

    monkeypatch.setattr(generator.HourlyLines, "lines", counting)
    merchants, hours = 37, 24 * 30
    sink = RecordingSink(calls)
    sizes = []
    summary = data_generator.run(Config(merchants=merchants), HourRange(T0, T0 + hours * HOUR), sink,
                                 progress=sizes.append)
    assert summary["documents"] == merchants * hours == sum(docs for _, docs, _ in sink.chunks)
    assert "answer_key_records" not in summary and "events" not in summary
    key = incidents.answer_key(Config(merchants=merchants), HourRange(T0, T0 + hours * HOUR))[0]
    changes = events.ChangeLog(incidents.schedule(Config(merchants=merchants)), generator.roster(1729, merchants))
    changed = changes.between(generator.hour_index(T0), generator.hour_index(T0) + hours)
    assert sum(size - docs for size, docs, _ in sink.chunks) == len(key) + len(changed) > len(key) > 0
    # Cut by documents alone, the records and events riding along: nothing reported moves with the schedule.
    assert all(docs == es.CHUNK_SIZE for _, docs, _ in sink.chunks[:-1])
    assert 0 < sink.chunks[-1][1] <= es.CHUNK_SIZE
    assert sizes == [docs for _, docs, _ in sink.chunks]  # progress after every chunk
    # Each chunk was sent as soon as enough hours existed for it: never the whole range up front.
    for number, (_, _, generated) in enumerate(sink.chunks, 1):
        assert generated * merchants < number * es.CHUNK_SIZE + merchants


def test_chunks_is_a_lazy_generator():
    chunks = data_generator._chunks(Config(seed=1, merchants=5, scenario="incidents"),
                                    HourRange(T0, T0 + 10**6 * HOUR), 10)
    pairs, records, changes = next(chunks)  # a million hours: only the first two were generated
    assert len(pairs) - records - changes == 10


def test_hourly_lines_over_consecutive_hours_match_fresh_ones_and_the_oracle():
    cfg = Config(seed=99, merchants=60, scenario="incidents", ground_truth="inline")
    merchants = generator.roster(cfg.seed, cfg.merchants)
    schedule = incidents.schedule(cfg, merchants)
    lines = generator.HourlyLines(merchants, "pp-merchantai", schedule, inline=True)

    def fresh(hour):
        return generator.HourlyLines(merchants, "pp-merchantai", schedule, inline=True).lines(hour)

    hour = T0
    for _ in range(24 * 5):  # across several drift knots of every merchant, and incidents
        pairs = lines.lines(hour)
        assert pairs == fresh(hour)
        for m, (action, source) in zip(merchants, pairs):
            assert source == oracle.source_line(m, generator.hour_index(hour), schedule, inline=True)
            assert json.loads(action) == {"index": {"_index": "pp-merchantai", "_id": generator.document_id(m, hour)}}
        hour += HOUR
    # Skipping hours (not consecutive) gives the same lines as generating them fresh.
    far = T0 + timedelta(days=400, hours=5)
    assert lines.lines(far) == fresh(far)
    assert lines.lines(T0) == fresh(T0)


# Runs a dry run through the handler and an --output run through the CLI, then reports
# whether the client was imported; last, as a control, what connecting does.
IMPORT_PROBE = """
import io, os, sys, tempfile, data_generator
summary = data_generator.lambda_handler({"start": "2026-11-01T00:00:00Z", "end": "2026-11-01T03:00:00Z",
                                         "dry_run": True}, None)
assert summary["dry_run"] and summary["documents"] == 60, summary
sys.stdout = io.StringIO()
key = os.path.join(tempfile.mkdtemp(), "key.ndjson")
code = data_generator.main(["--start", "2026-11-01T00:00Z", "--end", "2026-11-01T02:00Z", "--output", "-",
                            "--answer-key-output", key], {})
written = sys.stdout.getvalue().count("\\n")
sys.stdout = sys.__stdout__
# 40 documents, two lines each; the 9 chronic answer-key records of seed 1729's first 20 merchants
# in their own file.
assert code == 0 and written == 80, (code, written)
assert open(key).read().count("\\n") == 18
print("elasticsearch" in sys.modules)
data_generator.es.connect("http://127.0.0.1:9")
print("elasticsearch" in sys.modules)
"""


def test_a_dry_run_and_an_output_run_do_not_import_the_client():
    result = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True,
                            cwd=os.path.dirname(data_generator.__file__), env={**os.environ, "PYTHONPATH": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]


def test_bulk_responses_are_filtered_and_item_errors_still_reported(cluster):
    def reject_second(response):
        item = response["items"][1]["index"]
        item.update(status=400, error={"type": "mapper_parsing_exception", "reason": "bad"})
        return response

    cluster.proxy.faults.append(lambda request: Rewrite(reject_second) if "_bulk" in request.path else None)
    client = es.connect(cluster.url)
    indexer = es.Indexer(client, {"pp-merchantai": es.MAPPINGS}, patience=0)
    roster = generator.roster(1729, 3)
    pairs = generator.HourlyLines(roster, "pp-merchantai", incidents.schedule(Config(merchants=3), roster)).lines(T0)
    assert indexer.send(pairs) == 2
    assert indexer.failed == 1
    assert indexer.reasons == [f"{generator.document_id(generator.roster(1729, 3)[1], T0)}: HTTP 400 "
                               "mapper_parsing_exception: bad"]
    (bulk,) = [request for request in cluster.proxy.requests if "_bulk" in request.path]
    assert "filter_path=" in bulk.path
    assert cluster.count() == 3  # the engine indexed all three; the fault only rewrote the answer


def test_rate_repr_fast_path_equals_round_then_repr():
    # Every rate of every whole up to 700 (incl. exact midpoints like 1/800 = 0.125 %), and a sweep above.
    pairs = [(part, whole) for whole in range(1, 701) for part in range(whole + 1)]
    pairs += [(part, whole) for whole in range(700, 20_000, 97) for part in range(0, whole + 1, 13)]
    pairs += [(1, 800), (3, 800), (1, 1600), (1, 8000), (5, 40000)]
    for part, whole in pairs:
        assert generator._rate_repr(part, whole) == repr(round(100 * part / whole, 2)), (part, whole)


def test_lanes_hash_every_key_as_mix64_does():
    # The keys' edges (0, all ones, every bit pattern that carries across a lane) and random ones, at
    # hours small, large and past 2^32; one key alone and many at once.
    rng = random.Random(5)
    keys = [0, 1, generator._M64, generator._M64 - 1, 0x8000000000000000, 0x9E3779B97F4A7C15,
            (1 << 64) - 0x9E3779B97F4A7C15] + [rng.getrandbits(64) for _ in range(200)]
    for batch in ([keys[2]], keys):
        lanes = generator._Lanes(batch)
        for h in (0, 1, 493_000, 500_123, (1 << 33) + 7, generator._M64):
            hashed = lanes.at(h)
            assert len(hashed) == 16 * len(batch)
            expected = [generator._mix64(key ^ h) for key in batch]
            assert list(lanes.words(hashed)) == expected
            assert [hashed[16 * i:16 * i + 8] for i in range(len(batch))] == [
                word.to_bytes(8, "little") for word in expected]


def test_cli_backfill_indexes_every_hour_with_progress(cluster, monkeypatch, capsys):
    monkeypatch.setenv("ELASTICSEARCH_HOST", cluster.url)
    assert data_generator.main(["--start", "2025-03-01T00:00", "--end", "2025-03-01T06:00", "--merchants", "5"]) == 0
    assert "done: 30 documents in " in capsys.readouterr().err
    assert cluster.count() == 30


def test_fan_out_chunks_run_by_the_handler_cover_the_range_once(cluster, monkeypatch):
    import fanout

    monkeypatch.setenv("ELASTICSEARCH_HOST", cluster.url)
    monkeypatch.setenv("MERCHANT_COUNT", "4")
    hour_range = HourRange(T0, T0 + 7 * HOUR)
    chunks = fanout.split(hour_range, 3)
    for chunk in chunks:
        assert data_generator.lambda_handler(fanout.payload(chunk), None)["status"] == "ok"
    # A retried chunk and an overlapping one only overwrite (deterministic ids).
    data_generator.lambda_handler(fanout.payload(chunks[0]), None)
    data_generator.lambda_handler(fanout.payload(HourRange(T0 + 2 * HOUR, T0 + 5 * HOUR)), None)
    documents = cluster.documents()
    assert len(documents) == 28
    assert {doc["timestamp"] for doc in documents.values()} == {
        f"{T0 + i * HOUR:%Y-%m-%dT%H}:00:00Z" for i in range(7)}
