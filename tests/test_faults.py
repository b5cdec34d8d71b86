"""Fault injection against the real engine: every hour ends up indexed exactly once, or the run stops cleanly.

A fault-injecting proxy (tests/shim.py) sits between the client and the
engine. Each fault is bounded (fires N times, then forwards) or timed on a
fake clock; the engine is then asked what it holds. Where simulated time
matters (backoffs, hung attempts, the Lambda deadline) reliability.FakeClock
skips every wait at once, so minutes of back pressure take a second.
"""

from __future__ import annotations

import json
import random
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone

import pytest

import config
import data_generator
import es
from reliability import (
    BACKFILL, DAY_START, EVENTS, ITEM_REJECTED, TOO_MANY_REQUESTS, UNAVAILABLE, FakeClock, es_error,
    expected_documents, fast, scheduled,
)
from shim import Delay, Fault, Hang, ItemErrors, Reply, Reset, Script, Trickle, bulk_ids, is_bulk

LAMBDA_TIMEOUT_S = 300  # the template's Timeout


@pytest.fixture
def live(cluster, monkeypatch):
    """The cluster, with the function pointed at it and fast timeouts/backoffs."""
    fast(monkeypatch)
    monkeypatch.setenv(config.ELASTICSEARCH_HOST, cluster.url)
    return cluster


@pytest.fixture
def shipped(cluster, monkeypatch):
    """The cluster with the shipped timeouts and backoffs, on a fake clock with seeded jitter."""
    monkeypatch.setenv(config.ELASTICSEARCH_HOST, cluster.url)
    monkeypatch.setattr(es, "JITTER", random.Random(1729))
    cluster.clock = FakeClock(cluster.proxy, monkeypatch)
    return cluster


def is_template(request) -> bool:
    return request.path.startswith("/_index_template/")


def third_of_items(status=429, error=ITEM_REJECTED):
    """Reject every third document of the request with a per-item error."""
    return lambda request: ItemErrors({_id: (status, error) for _id in bulk_ids(request)[::3]})


def slow():
    return Delay(es.REQUEST_TIMEOUT_S * 3)


ENVOY_503 = "upstream connect error or disconnect/reset before headers. reset reason: connection termination"

# name -> factory of the faults (bounded: two firings, then the cluster answers).
FAULTS = {
    "bulk-429": lambda: [Fault(Reply(429, TOO_MANY_REQUESTS), times=2, when=is_bulk)],
    "bulk-503": lambda: [Fault(Reply(503, UNAVAILABLE), times=2, when=is_bulk)],
    "bulk-503-plain-text": lambda: [Fault(Reply(503, ENVOY_503, "text/plain"), times=2, when=is_bulk)],
    "bulk-502": lambda: [Fault(Reply(502, "Bad Gateway", "text/plain"), times=2, when=is_bulk)],
    "bulk-504": lambda: [Fault(Reply(504, "Gateway Timeout", "text/plain"), times=2, when=is_bulk)],
    "item-429": lambda: [Fault(third_of_items(), times=2, when=is_bulk)],
    "item-503": lambda: [Fault(third_of_items(503, {"type": "unavailable_shards_exception", "reason": "primary"}),
                               times=2, when=is_bulk)],
    "reset-before-answer": lambda: [Fault(Reset(), times=2, when=is_bulk)],
    "reset-after-indexing": lambda: [Fault(Reset(forward_first=True), times=2, when=is_bulk)],
    "slow-beyond-timeout": lambda: [Fault(lambda request: slow(), times=2, when=is_bulk)],
    "template-429-then-reset": lambda: [Script([Reply(429, TOO_MANY_REQUESTS), Reset()], when=is_template)],
    "mix": lambda: [Script([
        Reply(429, TOO_MANY_REQUESTS), third_of_items(), Reset(),
        Reply(503, UNAVAILABLE), third_of_items(), lambda request: slow(),
    ], when=is_bulk)],
}


def fired(faults) -> int:
    return sum(fault.fired for fault in faults)


def held(cluster) -> int:
    """Documents in the index; 0 when nothing ever created it."""
    try:
        return cluster.count()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return 0
        raise


def assert_exactly(cluster, start, hours, merchants=config.DEFAULT_MERCHANTS):
    """The engine holds exactly the fault-free run's documents: every id once, identical sources."""
    expected = expected_documents(start, hours, merchants)
    assert cluster.count() == len(expected)
    assert cluster.documents() == expected


@pytest.mark.parametrize("event_name", EVENTS)
@pytest.mark.parametrize("fault_name", FAULTS)
def test_bounded_fault_is_retried_and_every_document_lands_once(live, monkeypatch, fault_name, event_name):
    # 100-document chunks (see fast()): the backfill is 5 _bulk requests, the fault hits the first.
    event, (start, hours) = EVENTS[event_name]
    faults = FAULTS[fault_name]()
    live.proxy.faults.extend(faults)

    summary = data_generator.lambda_handler(event, FakeClock(live.proxy, monkeypatch).context(LAMBDA_TIMEOUT_S))

    assert fired(faults) == sum(getattr(f, "times", None) or len(f.actions) for f in faults)
    assert summary["status"] == "ok"
    assert summary["documents"] == summary["indexed"] == hours * 20
    assert summary["failed"] == 0
    assert_exactly(live, start, hours)


def test_mix_takes_the_documented_number_of_requests(live, monkeypatch):
    """The mixed fault costs the first chunk exactly 7 _bulk requests: 6 faulted, 1 clean.

    A chunk is 20 documents and the 9 answer-key records of the default roster's chronic profiles."""
    faults = FAULTS["mix"]()
    live.proxy.faults.extend(faults)
    data_generator.lambda_handler(scheduled(), FakeClock(live.proxy, monkeypatch).context(LAMBDA_TIMEOUT_S))
    bulks = live.proxy.bulk_requests()
    assert len(bulks) == 7
    # A retry after item errors resends only the rejected items; any other retry resends what was pending.
    assert [len(bulk_ids(b)) for b in bulks] == [29, 29, 10, 10, 10, 4, 4]
    assert_exactly(live, *EVENTS["scheduled-hour"][1])


# Every kind of fault, in turn, for the consecutive-fault runs below.
MIXED = [
    lambda request: Reply(429, TOO_MANY_REQUESTS),
    third_of_items(),
    lambda request: Reset(),
    lambda request: Reply(503, UNAVAILABLE),
    lambda request: Reply(502, "Bad Gateway", "text/plain"),
    lambda request: Reset(forward_first=True),
    third_of_items(503, {"type": "unavailable_shards_exception", "reason": "primary shard is not active"}),
    lambda request: Reply(504, "Gateway Timeout", "text/plain"),
    lambda request: Hang(),
    lambda request: Reply(503, ENVOY_503, "text/plain"),
    lambda request: slow(),
]


@pytest.mark.parametrize("count", [10, 30, 60])
@pytest.mark.parametrize("event_name", EVENTS)
def test_consecutive_mixed_faults_every_document_lands_exactly_once(live, monkeypatch, count, event_name):
    """count bad answers in a row, of every kind, then a healthy cluster: ridden out inside the invocation."""
    clock = FakeClock(live.proxy, monkeypatch)
    event, (start, hours) = EVENTS[event_name]
    script = Script([MIXED[i % len(MIXED)] for i in range(count)], when=is_bulk)
    live.proxy.faults.append(script)

    summary = data_generator.lambda_handler(event, clock.context(LAMBDA_TIMEOUT_S))

    assert script.fired == count
    assert summary["status"] == "ok"
    assert summary["documents"] == summary["indexed"] == hours * 20
    assert_exactly(live, start, hours)
    assert clock.elapsed() < LAMBDA_TIMEOUT_S


# --- back pressure for minutes, with the shipped timeouts and backoffs, in simulated time -------------------


def for_seconds(clock, seconds, action, when=lambda request: True):
    """A fault answering action to every matching request for the first `seconds` of simulated time."""
    return lambda request: action if when(request) and clock.elapsed() < seconds else None


def test_two_minutes_of_429s_the_scheduled_hour_rides_them_out(shipped):
    clock = shipped.clock
    shipped.proxy.faults.append(for_seconds(clock, 120, Reply(429, TOO_MANY_REQUESTS)))

    summary = data_generator.lambda_handler(scheduled(), clock.context(LAMBDA_TIMEOUT_S))

    assert summary["status"] == "ok" and summary["indexed"] == 20
    assert_exactly(shipped, *EVENTS["scheduled-hour"][1])
    assert 120 <= clock.elapsed() < LAMBDA_TIMEOUT_S - data_generator.SAFETY_MARGIN_S
    # Capped exponential backoff with full jitter: no wait above the cap, and they do grow.
    assert max(clock.sleeps) <= es.MAX_BACKOFF_S
    assert max(clock.sleeps) > 4 * es.INITIAL_BACKOFF_S
    assert len(shipped.proxy.requests) == len(clock.sleeps) + 4  # every 429 waited once; three templates + bulk landed


def test_ten_minutes_of_429s_the_scheduled_hour_fails_clearly_inside_the_invocation(shipped):
    clock = shipped.clock
    shipped.proxy.faults.append(for_seconds(clock, 600, Reply(429, TOO_MANY_REQUESTS), is_bulk))

    with pytest.raises(es.IndexingError) as failure:
        data_generator.lambda_handler(scheduled(), clock.context(LAMBDA_TIMEOUT_S))

    message = str(failure.value)
    # 20 documents and 9 answer-key records: the records named, never counted.
    assert "bulk request of 20 documents and answer-key records failed after" in message
    assert "HTTP 429" in message and "time runs out" in message
    # Stopped before the safety margin, and not long before it: the patience was used.
    assert LAMBDA_TIMEOUT_S - 60 < clock.elapsed() <= LAMBDA_TIMEOUT_S - data_generator.SAFETY_MARGIN_S
    assert held(shipped) == 0


def test_ten_minutes_of_429s_in_a_backfill_stop_partial_and_resume_exactly(shipped, monkeypatch):
    monkeypatch.setattr(es, "CHUNK_SIZE", 100)
    clock = shipped.clock
    bulks = lambda: len(shipped.proxy.bulk_requests())  # noqa: E731
    # Three chunks land, then the cluster pushes back for ten minutes.
    shipped.proxy.faults.append(
        lambda request: Reply(429, TOO_MANY_REQUESTS) if is_bulk(request) and bulks() > 3 else None)

    summary = data_generator.lambda_handler(BACKFILL, clock.context(LAMBDA_TIMEOUT_S))

    assert summary["status"] == "partial"
    # Chunks of 100 documents, the records and change events of their hours ahead: the first
    # (9 records, 2 events) in requests of 100 and 11 pairs, then 100 pairs of the second
    # (1 event, 99 documents): 199 documents, 9 whole hours.
    assert summary["resume_from"] == "2026-11-01T09:00:00Z"
    assert summary["documents"] == summary["indexed"] == 199
    assert clock.elapsed() <= LAMBDA_TIMEOUT_S - data_generator.SAFETY_MARGIN_S
    shipped.proxy.faults.clear()
    resumed = data_generator.lambda_handler({"start": summary["resume_from"], "end": BACKFILL["end"]},
                                            clock.context(LAMBDA_TIMEOUT_S))
    assert resumed["status"] == "ok"
    assert_exactly(shipped, DAY_START, 24)


def test_sustained_429s_halve_the_requests_down_to_the_minimum_then_grow_back(shipped, monkeypatch, caplog):
    caplog.set_level("DEBUG", logger="pp_merchantai.es")
    monkeypatch.setattr(es, "CHUNK_SIZE", 400)
    monkeypatch.setattr(es, "MIN_CHUNK_SIZE", 100)
    monkeypatch.setenv(config.MERCHANT_COUNT, "400")
    clock = shipped.clock
    # Two 429s on each of the first two requests; then the cluster keeps up.
    shipped.proxy.faults.append(Fault(Reply(429, TOO_MANY_REQUESTS), times=4, when=is_bulk))

    event = {"start": "2026-11-01T00:00:00Z", "end": "2026-11-01T04:00:00Z"}  # 4 hours x 400 = 4 chunks
    summary = data_generator.lambda_handler(event, clock.context(LAMBDA_TIMEOUT_S))

    assert summary["status"] == "ok" and summary["indexed"] == 1600
    sizes = [len(bulk_ids(b)) for b in shipped.proxy.bulk_requests()]
    # Retries resend the pending request as it was; the halving applies to the requests after it.
    # Chunks of 400 documents, each with its hour's change events (5, 3, 4, 3) ahead, the first
    # also with the 139 answer-key records (544 pairs).
    assert sizes == [400] * 5 + [100, 44, 200, 200, 3, 400, 4, 400, 3]
    # At DEBUG: a size cut from a piece holding records would tell how many there were.
    assert {r.levelname for r in caplog.records if "from now on" in r.getMessage()} == {"DEBUG"}
    changes = [r.getMessage() for r in caplog.records if "from now on" in r.getMessage()]
    assert changes == ["bulk requests of 200 documents from now on (sustained 429s)",
                       "bulk requests of 100 documents from now on (sustained 429s)",
                       "bulk requests of 200 documents from now on (accepted again)",
                       "bulk requests of 400 documents from now on (accepted again)"]
    assert_exactly(shipped, DAY_START, 4, merchants=400)


# --- request too large ----------------------------------------------------------------------


TOO_LARGE = {
    "413-json": Reply(413, es_error(413, "http_exception", "request entity too large")),
    "413-cloud-proxy": Reply(413, "Request Entity Too Large", "text/plain"),
}


@pytest.mark.parametrize("answer", TOO_LARGE)
def test_a_413_on_a_2000_document_chunk_is_split_and_lands_exactly(live, monkeypatch, answer):
    monkeypatch.setattr(es, "CHUNK_SIZE", 2000)
    monkeypatch.setattr(es, "REQUEST_TIMEOUT_S", 30)  # 2,000 documents through the Python shim
    monkeypatch.setenv(config.MERCHANT_COUNT, "2000")
    live.proxy.faults.append(lambda request: TOO_LARGE[answer] if len(bulk_ids(request)) > 500 else None)

    summary = data_generator.lambda_handler(scheduled(), None)

    assert summary["status"] == "ok" and summary["indexed"] == 2000
    # The hour's 2,000 documents, 700 answer-key records and 21 change events are two chunks:
    # 2,000 and 721 pairs.
    assert "events" not in summary
    assert [len(bulk_ids(b)) for b in live.proxy.bulk_requests()] == [2000, 1000, 500, 500, 1000, 500, 500,
                                                                      721, 360, 361]
    assert_exactly(live, *EVENTS["scheduled-hour"][1], merchants=2000)


def test_a_single_document_still_too_large_fails_by_name_and_never_loops(live):
    big = "merchant_007-2026110105"
    live.proxy.faults.append(lambda request: TOO_LARGE["413-json"] if big in bulk_ids(request) else None)

    with pytest.raises(es.BulkError) as failure:
        data_generator.lambda_handler(scheduled(), None)

    assert failure.value.failed == 1
    assert f"{big}: HTTP 413" in str(failure.value) and "larger than the cluster accepts" in str(failure.value)
    # 9 answer-key records, then the 20 documents: halves down to the one, the rest sent once.
    assert [len(bulk_ids(b)) for b in live.proxy.bulk_requests()] == [29, 14, 15, 7, 3, 1, 2, 1, 1, 4, 8]
    expected = expected_documents(*EVENTS["scheduled-hour"][1])
    assert live.documents() == {_id: doc for _id, doc in expected.items() if _id != big}


# --- a trickling server ----------------------------------------------------------------------


def test_a_trickling_server_is_cut_at_the_attempt_deadline(live, monkeypatch, capsys):
    """One byte every 50 ms never trips the read timeout; the attempt's hard deadline ends it."""
    monkeypatch.setattr(es, "REQUEST_TIMEOUT_S", 0.5)
    live.proxy.faults.append(Fault(Trickle(0.05), times=10**6, when=is_bulk))
    started = time.monotonic()
    code = data_generator.main(["--start", "2026-11-01T05:00:00Z", "--end", "2026-11-01T06:00:00Z",
                                "--patience", "0"])
    elapsed = time.monotonic() - started
    assert code == 1
    err = capsys.readouterr().err
    assert "ConnectionTimeout: no complete answer within 0.5 s" in err
    assert "failed after 1 attempt(s)" in err and "gave up after 0 s of retrying (--patience)" in err
    assert len(live.proxy.bulk_requests()) == 1
    # The template (answered at once) and one bulk attempt cut at its deadline, not the ~1,000 s of trickle.
    assert 0.5 <= elapsed < 0.5 + 1.0

# --- beyond the patience: stop loudly, then the retried invocation completes ---------------

PERSISTENT = {
    "bulk-503-always": (lambda: Fault(Reply(503, UNAVAILABLE), times=10**6, when=is_bulk), "HTTP 503"),
    "bulk-503-plain-text-always": (
        lambda: Fault(Reply(503, ENVOY_503, "text/plain"), times=10**6, when=is_bulk), "HTTP 503"),
    "bulk-429-always": (lambda: Fault(Reply(429, TOO_MANY_REQUESTS), times=10**6, when=is_bulk), "HTTP 429"),
    "reset-always": (lambda: Fault(Reset(), times=10**6, when=is_bulk), "ConnectionError"),
    "slow-always": (lambda: Fault(lambda request: slow(), times=10**6, when=is_bulk), "ConnectionTimeout"),
}


@pytest.mark.parametrize("event_name", EVENTS)
@pytest.mark.parametrize("fault_name", PERSISTENT)
def test_persistent_fault_fails_loudly_and_the_retry_completes_exactly(live, monkeypatch, fault_name, event_name):
    FakeClock(live.proxy, monkeypatch)
    event, (start, hours) = EVENTS[event_name]
    make, named = PERSISTENT[fault_name]
    fault = make()
    live.proxy.faults.append(fault)

    with pytest.raises(es.IndexingError) as failure:
        data_generator.lambda_handler(event, None)  # no context: the default patience (1 s in fast())
    assert named in str(failure.value)
    assert "bulk request" in str(failure.value)
    assert len(live.proxy.bulk_requests()) > 1

    # AWS retries the failed invocation; the cluster has recovered.
    live.proxy.faults.remove(fault)
    summary = data_generator.lambda_handler(event, None)
    assert summary["status"] == "ok"
    assert_exactly(live, start, hours)


@pytest.mark.parametrize("event_name", EVENTS)
def test_items_rejected_until_the_patience_ends_stop_the_run_naming_them(live, monkeypatch, event_name):
    FakeClock(live.proxy, monkeypatch)
    monkeypatch.setattr(config, "DEFAULT_PATIENCE_S", 3)  # real seconds: four rounds fit on a loaded machine
    event, (start, hours) = EVENTS[event_name]
    last_answer = {}  # _id -> was it rejected in the last request that carried it

    def reject(request):
        ids = bulk_ids(request)
        rejected = set(ids[::3])
        last_answer.update({_id: _id in rejected for _id in ids})
        return ItemErrors({_id: (429, ITEM_REJECTED) for _id in rejected})

    fault = Fault(reject, times=10**6, when=is_bulk)
    live.proxy.faults.append(fault)
    with pytest.raises(es.IndexingError) as failure:
        data_generator.lambda_handler(event, None)
    failed = {_id for _id, rejected in last_answer.items() if rejected}
    message = str(failure.value)
    assert "es_rejected_execution_exception" in message and "HTTP 429" in message
    # The example is a rejected document of the last request, else "an answer-key record": a record's
    # _id names an incident, and the message may reach any log.
    last = bulk_ids(live.proxy.bulk_requests()[-1])
    documents = [_id for _id in last[::3] if _id in expected_documents(start, hours)]
    assert documents[0] in message if documents else "an answer-key record" in message
    assert not [_id for _id in failed if _id not in expected_documents(start, hours) and _id in message]
    # Only the rejected items were resent, ever fewer: one chunk, never a second.
    sizes = [len(bulk_ids(b)) for b in live.proxy.bulk_requests()]
    assert sizes[:4] == {1: [29, 10, 4, 2], 24: [100, 34, 12, 4]}[hours]  # 9 answer-key records first
    assert set(sizes[4:]) <= {1, 2}
    # The healthy documents of that chunk are indexed, the rejected ones are not.
    expected = expected_documents(start, hours)
    assert live.documents() == {_id: expected[_id] for _id, rejected in last_answer.items()
                                if not rejected and _id in expected}

    live.proxy.faults.remove(fault)
    data_generator.lambda_handler(event, None)
    assert_exactly(live, start, hours)


@pytest.mark.parametrize("event_name", EVENTS)
def test_permanent_mapping_error_fails_naming_the_reason_and_keeps_the_healthy_documents(live, event_name):
    """An index created by hand with a conflicting mapping: the engine itself rejects some documents."""
    event, (start, hours) = EVENTS[event_name]
    body = json.dumps({"mappings": {"properties": {"location": {"type": "integer"}}}}).encode()
    request = urllib.request.Request(live.clone.url + "/pp-merchantai", data=body, method="PUT",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).close()

    with pytest.raises(es.BulkError) as failure:
        data_generator.lambda_handler(event, None)

    expected = expected_documents(start, hours)
    bad = {_id for _id, doc in expected.items() if "location" in doc}
    assert bad and len(bad) < len(expected)
    message = str(failure.value)
    assert f"{len(bad)} of {len(expected)} documents failed to index" in message
    assert "mapper_parsing_exception" in message
    assert "HTTP 400" in message
    # The first rejected ids are named.
    named = [_id for _id in sorted(bad) if _id in message]
    assert len(named) == min(es.REASONS_SHOWN, len(bad))
    assert failure.value.failed == len(bad)
    # Healthy documents indexed, identical to a fault-free run.
    assert live.documents() == {_id: doc for _id, doc in expected.items() if _id not in bad}
    # Permanent: not retried (one _bulk per request of a chunk: the answer-key records and change
    # events ahead of a chunk's documents take one more when they do not fit beside them).
    chunks = data_generator._chunks(config.Config(), config.HourRange(start, start + hours * config.HOUR),
                                    es.CHUNK_SIZE)
    assert len(live.proxy.bulk_requests()) == sum(-(-len(pairs) // es.CHUNK_SIZE) for pairs, *_ in chunks)


# --- a hung cluster fails the invocation inside a known bound --------------------------------
# Shipped constants, simulated time: every attempt hangs until its deadline.


def test_every_attempt_hanging_ends_at_its_deadline_and_none_starts_that_could_outlast_the_margin(
        shipped, monkeypatch):
    clock = shipped.clock
    data_generator.lambda_handler(scheduled(), None)  # the template is in place: only the bulk hangs
    shipped.proxy.faults.append(Fault(Hang(), times=10**6, when=is_bulk))
    last_end = LAMBDA_TIMEOUT_S - data_generator.SAFETY_MARGIN_S

    for seed in range(10):  # the jitter decides where the last attempt falls: try several
        monkeypatch.setattr(es, "JITTER", random.Random(seed))
        first, requests = len(clock.attempts), len(shipped.proxy.bulk_requests())
        context = clock.context(LAMBDA_TIMEOUT_S)
        base = clock.elapsed()
        with pytest.raises(es.IndexingError) as failure:
            data_generator.lambda_handler(scheduled(), context)

        message = str(failure.value)
        assert f"ConnectionTimeout: no complete answer within {es.REQUEST_TIMEOUT_S} s" in message
        assert "time runs out" in message
        attempts = [(start - base, end - base) for start, end in clock.attempts[first:]]
        assert len(attempts) == len(shipped.proxy.bulk_requests()) - requests > 5
        for start, end in attempts:
            assert end - start == pytest.approx(es.REQUEST_TIMEOUT_S, abs=0.5)  # cut at its deadline, not later
            assert end <= last_end, f"seed {seed}: an attempt ran into the safety margin"
        # It gave up only when one more backoff and attempt could not fit.
        assert attempts[-1][1] > last_end - es.REQUEST_TIMEOUT_S - es.MAX_BACKOFF_S
        assert clock.elapsed() - base <= last_end
    assert held(shipped) == 20


@pytest.mark.parametrize("budget_s", [14.9, 15.5, 16, 25.5, 60, 120, LAMBDA_TIMEOUT_S])
def test_a_hung_cluster_fails_inside_the_invocation_whatever_time_is_left(shipped, budget_s):
    """A cold start (template, then the chunk) against a cluster that never answers."""
    clock = shipped.clock
    shipped.proxy.faults.append(Fault(Hang(), times=10**6))

    with pytest.raises(es.IndexingError) as failure:
        data_generator.lambda_handler(scheduled(), clock.context(budget_s))

    assert clock.elapsed() <= budget_s - data_generator.SAFETY_MARGIN_S
    message = str(failure.value)
    if budget_s < es.REQUEST_TIMEOUT_S + data_generator.SAFETY_MARGIN_S:
        assert "too little time left" in message
        assert shipped.proxy.requests == []
    else:
        assert "creating index template" in message and "ConnectionTimeout" in message
        assert len(shipped.proxy.requests) == len(clock.attempts) >= 1
        assert not shipped.proxy.bulk_requests()


def test_hung_template_fails_before_any_bulk(live, monkeypatch):
    FakeClock(live.proxy, monkeypatch)
    live.proxy.faults.append(Fault(Hang(), times=10**6))
    with pytest.raises(es.IndexingError) as failure:
        data_generator.lambda_handler(scheduled(), None)
    assert "index template" in str(failure.value)
    assert len(live.proxy.requests) > 1
    assert not live.proxy.bulk_requests()


def test_the_client_reads_the_request_timeout_at_call_time(live, monkeypatch):
    monkeypatch.setattr(es, "REQUEST_TIMEOUT_S", 0.25)
    assert es.connect(live.url)._request_timeout == 0.25


@pytest.mark.parametrize("status, body", [(503, UNAVAILABLE), (429, TOO_MANY_REQUESTS)])
def test_a_status_failure_says_how_long_it_was_retried(live, monkeypatch, status, body):
    """An operator reading the error must not think a 503/429 was given up on at once."""
    FakeClock(live.proxy, monkeypatch)
    live.proxy.faults.append(Fault(Reply(status, body), times=10**6, when=is_bulk))
    with pytest.raises(es.IndexingError) as failure:
        data_generator.lambda_handler(scheduled(), None)
    tries = len(live.proxy.bulk_requests())
    assert tries > 2
    assert f"after {tries} attempt(s) over 0 s" in str(failure.value)  # 1 s of patience, 0.75 s attempts
    assert f"HTTP {status}" in str(failure.value)
    assert "gave up after 1 s of retrying" in str(failure.value)
