"""The Lambda time budget: stop cleanly between chunks, report resume_from, resume without duplicates.

The fake context's remaining time drops with every _bulk the engine receives,
so "time" is counted in chunks sent: no clocks, no sleeps.
"""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

import config
import data_generator
import es
import incidents
from reliability import BACKFILL, DAY_START, HOUR, FakeContext, expected_documents, fast, scheduled
from shim import bulk_ids

# An attempt starts only with its deadline and the safety margin still ahead.
NEEDED_S = lambda: es.REQUEST_TIMEOUT_S + data_generator.SAFETY_MARGIN_S  # noqa: E731


@pytest.fixture
def live(cluster, monkeypatch):
    fast(monkeypatch)
    monkeypatch.setenv(config.ELASTICSEARCH_HOST, cluster.url)
    return cluster


def budget(cluster, chunks: int, per_chunk_s: float = 20.0) -> FakeContext:
    """A context with time for exactly `chunks` more _bulk requests after this point."""
    start = len(cluster.proxy.bulk_requests())

    def remaining_ms():
        sent = len(cluster.proxy.bulk_requests()) - start
        return (NEEDED_S() - 0.5 + (chunks - sent) * per_chunk_s) * 1000

    return FakeContext(remaining_ms)


def assert_exactly(cluster, expected):
    assert cluster.count() == len(expected)
    assert cluster.documents() == expected


@pytest.mark.parametrize("chunk_size", [70, 100], ids=["chunks-split-hours", "chunks-on-hour-boundaries"])
def test_a_backfill_that_cannot_finish_stops_between_chunks_and_resumes_exactly(live, monkeypatch, chunk_size):
    monkeypatch.setattr(es, "CHUNK_SIZE", chunk_size)
    allowed = 3
    context = budget(live, allowed)

    summary = data_generator.lambda_handler(BACKFILL, context)

    # The first chunk opens with the answer-key records (the 9 chronic profiles of the default roster),
    # ahead of its chunk_size documents: it takes two requests, the second chunk the third.
    records = len(incidents.answer_key(config.Config(), config.HourRange(DAY_START, DAY_START + HOUR))[0])
    assert records == 9 and "answer_key_records" not in summary
    sent = 2 * chunk_size
    done_hours = sent // 20
    resume_from = f"2026-11-01T{done_hours:02d}:00:00Z"
    assert summary["status"] == "partial"
    assert summary["resume_from"] == resume_from
    assert summary["documents"] == summary["indexed"] == sent
    assert summary["failed"] == 0
    # Never mid-chunk: exactly the chunks that fitted, each one whole.
    bulks = live.proxy.bulk_requests()
    assert [len(bulk_ids(bulk)) for bulk in bulks] == [chunk_size, records, chunk_size]
    assert context.calls == 2 + allowed + 1  # asked before the two templates, every chunk, and once more to stop
    # The hours before resume_from are all indexed (plus, with split hours, part of the next).
    expected = expected_documents(DAY_START, 24)
    held = live.documents()
    assert live.count() == len(held) == sent
    assert held == {_id: expected[_id] for _id in held}
    assert set(expected_documents(DAY_START, done_hours)) <= set(held)

    # The next invocation resumes from resume_from, with the same end, and has time.
    resumed = data_generator.lambda_handler({"start": resume_from, "end": BACKFILL["end"]}, budget(live, 100))
    assert resumed["status"] == "ok" and "resume_from" not in resumed
    assert resumed["documents"] == (24 - done_hours) * 20
    assert_exactly(live, expected)


def test_resuming_until_done_indexes_every_hour_exactly_once(live, monkeypatch):
    monkeypatch.setattr(es, "CHUNK_SIZE", 70)
    event, invocations = dict(BACKFILL), 0
    while True:
        invocations += 1
        summary = data_generator.lambda_handler(event, budget(live, 2))
        if summary["status"] == "ok":
            break
        assert summary["status"] == "partial"
        assert summary["resume_from"] > event["start"]  # always progress
        event = {"start": summary["resume_from"], "end": BACKFILL["end"]}
        assert invocations < 20
    # Two requests per invocation: the first chunk's 9 answer-key records and 70 documents,
    # 3 whole hours per invocation, so 24 hours take 8 invocations.
    assert invocations == 8
    assert_exactly(live, expected_documents(DAY_START, 24))


def test_a_scheduled_hour_with_time_completes_and_consults_the_context(live):
    context = budget(live, 5)
    summary = data_generator.lambda_handler(scheduled(), context)
    assert summary["status"] == "ok" and "resume_from" not in summary
    assert context.calls == 3  # before the two templates and before the chunk
    assert_exactly(live, expected_documents(datetime(2026, 11, 1, 5, tzinfo=timezone.utc), 1))


def test_too_little_time_for_one_chunk_fails_before_sending_any(live):
    with pytest.raises(es.IndexingError, match="too little time left"):
        data_generator.lambda_handler(BACKFILL, budget(live, 0))
    assert live.proxy.bulk_requests() == []


def test_the_safety_threshold_is_the_attempt_deadline_plus_the_margin(live):
    """Exactly at the threshold an attempt still starts; a millisecond less and it does not."""
    threshold_ms = NEEDED_S() * 1000
    summary = data_generator.lambda_handler(scheduled(), FakeContext(lambda: threshold_ms))
    assert summary["status"] == "ok"
    with pytest.raises(es.IndexingError, match="too little time left"):
        data_generator.lambda_handler(scheduled(), FakeContext(lambda: threshold_ms - 1))
    assert len(live.proxy.bulk_requests()) == 1


@pytest.mark.parametrize("event, merchants", [
    ({"start": "1970-01-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}, None),      # 57 years x 20
    ({"start": "2026-10-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}, "1000"),    # 744 h x 1,000
    ({"start": "2026-11-01T00:00:00Z", "end": "2026-11-01T06:00:00Z"}, "100000"),  # 6 h x 100,000
])
def test_ranges_beyond_the_per_invocation_maximum_are_refused_up_front(live, monkeypatch, event, merchants):
    if merchants:
        monkeypatch.setenv(config.MERCHANT_COUNT, merchants)
    with pytest.raises(config.EventError, match=str(config.MAX_DOCUMENTS_PER_INVOCATION)):
        data_generator.lambda_handler(event, budget(live, 100))
    assert live.proxy.requests == []


def test_a_month_at_the_default_roster_fits_one_invocation():
    start = datetime(2026, 10, 1, tzinfo=timezone.utc)
    hour_range = config.parse_event({"start": start.isoformat(), "end": "2026-11-01T00:00:00Z"},
                                    datetime(2026, 11, 27, tzinfo=timezone.utc))
    assert hour_range.hours == 31 * 24
    config.check_invocation_size(hour_range, config.DEFAULT_MERCHANTS)


def test_running_out_of_time_inside_the_first_hour_fails_instead_of_resuming_in_place(live, monkeypatch):
    """With more merchants than fit in the time left, resume_from would be start again: no progress, ever."""
    monkeypatch.setattr(es, "CHUNK_SIZE", 100)
    monkeypatch.setenv(config.MERCHANT_COUNT, "250")  # 3 chunks an hour
    with pytest.raises(es.IndexingError, match="before finishing the first hour") as failure:
        data_generator.lambda_handler(BACKFILL, budget(live, 2))
    assert config.MERCHANT_COUNT in str(failure.value)
    assert len(live.proxy.bulk_requests()) == 2
    # With time for a whole hour it stops after that hour and makes progress.
    live.proxy.requests.clear()
    summary = data_generator.lambda_handler(BACKFILL, budget(live, 4))
    assert summary["status"] == "partial" and summary["resume_from"] == "2026-11-01T01:00:00Z"
