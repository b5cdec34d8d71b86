"""Fault injection against the real engine: every hour ends up indexed exactly once, or the run fails loudly.

A fault-injecting proxy (tests/shim.py) sits between the client and the
engine. Each fault is bounded (fires N times, then forwards) so a run can
succeed within es.py's retry budget; the engine is then asked what it holds.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

import config
import data_generator
import es
import incidents
from reliability import (
    EVENTS, ITEM_REJECTED, TOO_MANY_REQUESTS, UNAVAILABLE, expected_documents, fast, scheduled,
)
from shim import Delay, Fault, Hang, ItemErrors, Reply, Reset, Script, bulk_ids, is_bulk


@pytest.fixture
def live(cluster, monkeypatch):
    """The cluster, with the function pointed at it and fast timeouts/backoffs."""
    fast(monkeypatch)
    monkeypatch.setenv(config.ELASTICSEARCH_HOST, cluster.url)
    return cluster


def is_template(request) -> bool:
    return request.path.startswith("/_index_template/")


def third_of_items(status=429, error=ITEM_REJECTED):
    """Reject every third document of the request with a per-item error."""
    return lambda request: ItemErrors({_id: (status, error) for _id in bulk_ids(request)[::3]})


def slow():
    return Delay(es.REQUEST_TIMEOUT_S * 3)


ENVOY_503 = "upstream connect error or disconnect/reset before headers. reset reason: connection termination"

# name -> factory of the faults (bounded so the run fits es.py's retry budget).
FAULTS = {
    "bulk-429": lambda: [Fault(Reply(429, TOO_MANY_REQUESTS), times=es.STATUS_RETRIES, when=is_bulk)],
    "bulk-503": lambda: [Fault(Reply(503, UNAVAILABLE), times=es.STATUS_RETRIES, when=is_bulk)],
    "bulk-503-plain-text": lambda: [
        Fault(Reply(503, ENVOY_503, "text/plain"), times=es.STATUS_RETRIES, when=is_bulk)],
    "item-429": lambda: [Fault(third_of_items(), times=es.STATUS_RETRIES, when=is_bulk)],
    "reset-before-answer": lambda: [Fault(Reset(), times=es.CONNECTION_RETRIES, when=is_bulk)],
    "reset-after-indexing": lambda: [Fault(Reset(forward_first=True), times=es.CONNECTION_RETRIES, when=is_bulk)],
    "slow-beyond-timeout": lambda: [Fault(lambda request: slow(), times=es.CONNECTION_RETRIES, when=is_bulk)],
    "template-429-then-reset": lambda: [Script([Reply(429, TOO_MANY_REQUESTS), Reset()], when=is_template)],
    # The most one chunk survives: two status retries inside each of the
    # first two attempts, each attempt ended by a connection-level fault.
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


def assert_exactly(cluster, start, hours):
    """The engine holds exactly the fault-free run's documents: every id once, identical sources."""
    expected = expected_documents(start, hours)
    assert cluster.count() == len(expected)
    assert cluster.documents() == expected


@pytest.mark.parametrize("event_name", EVENTS)
@pytest.mark.parametrize("fault_name", FAULTS)
def test_bounded_fault_is_retried_and_every_document_lands_once(live, fault_name, event_name):
    # 100-document chunks (see fast()): the backfill is 5 _bulk requests, the fault hits the first.
    event, (start, hours) = EVENTS[event_name]
    faults = FAULTS[fault_name]()
    live.proxy.faults.extend(faults)

    summary = data_generator.lambda_handler(event, None)

    assert fired(faults) == sum(getattr(f, "times", None) or len(f.actions) for f in faults)
    assert summary["status"] == "ok"
    assert summary["documents"] == summary["indexed"] == hours * 20
    assert summary["failed"] == 0
    assert_exactly(live, start, hours)


def test_mix_takes_the_documented_number_of_requests(live):
    """The mixed fault costs the first chunk exactly 7 _bulk requests: 6 faulted, 1 clean.

    A chunk is 20 documents and the 9 answer-key records of the default roster's chronic profiles."""
    faults = FAULTS["mix"]()
    live.proxy.faults.extend(faults)
    data_generator.lambda_handler(scheduled(), None)
    bulks = live.proxy.bulk_requests()
    assert len(bulks) == 7
    # Status retries resend only the rejected items; a new attempt resends the chunk.
    assert [len(bulk_ids(b)) for b in bulks] == [29, 29, 10, 29, 29, 10, 29]
    assert_exactly(live, *EVENTS["scheduled-hour"][1])


# --- beyond the retry budget: fail loudly, then the retried invocation completes ---------------

BEYOND_BUDGET = {
    "bulk-503-always": (lambda: Fault(Reply(503, UNAVAILABLE), times=10**6, when=is_bulk), "HTTP 503"),
    "bulk-503-plain-text-always": (
        lambda: Fault(Reply(503, ENVOY_503, "text/plain"), times=10**6, when=is_bulk), "HTTP 503"),
    "bulk-429-always": (lambda: Fault(Reply(429, TOO_MANY_REQUESTS), times=10**6, when=is_bulk), "HTTP 429"),
    "reset-always": (lambda: Fault(Reset(), times=10**6, when=is_bulk), "ConnectionError"),
    "slow-always": (lambda: Fault(lambda request: slow(), times=10**6, when=is_bulk), "ConnectionTimeout"),
}


@pytest.mark.parametrize("event_name", EVENTS)
@pytest.mark.parametrize("fault_name", BEYOND_BUDGET)
def test_persistent_fault_fails_loudly_and_the_retry_completes_exactly(live, fault_name, event_name):
    event, (start, hours) = EVENTS[event_name]
    make, named = BEYOND_BUDGET[fault_name]
    fault = make()
    live.proxy.faults.append(fault)

    with pytest.raises(es.IndexingError) as failure:
        data_generator.lambda_handler(event, None)
    assert named in str(failure.value)
    assert "bulk request" in str(failure.value)

    # AWS retries the failed invocation; the cluster has recovered.
    live.proxy.faults.remove(fault)
    summary = data_generator.lambda_handler(event, None)
    assert summary["status"] == "ok"
    assert_exactly(live, start, hours)


@pytest.mark.parametrize("event_name", EVENTS)
def test_items_rejected_beyond_retries_fail_the_run_naming_them(live, event_name):
    event, (start, hours) = EVENTS[event_name]
    last_answer = {}  # _id -> was it rejected in the last request that carried it

    def reject(request):
        ids = bulk_ids(request)
        rejected = set(ids[::3])
        last_answer.update({_id: _id in rejected for _id in ids})
        return ItemErrors({_id: (429, ITEM_REJECTED) for _id in rejected})

    fault = Fault(reject, times=10**6, when=is_bulk)
    live.proxy.faults.append(fault)
    with pytest.raises(es.BulkError) as failure:
        data_generator.lambda_handler(event, None)
    failed = {_id for _id, rejected in last_answer.items() if rejected}
    message = str(failure.value)
    assert "es_rejected_execution_exception" in message and "HTTP 429" in message
    assert failure.value.failed == len(failed) > 0
    assert any(_id in message for _id in failed)
    # Per-item 429s were retried (STATUS_RETRIES times per chunk) before counting as failed.
    chunks = -(-hours * 20 // es.CHUNK_SIZE)
    assert len(live.proxy.bulk_requests()) == chunks * (es.STATUS_RETRIES + 1)
    # The healthy documents are indexed, the rejected ones are not.
    expected = expected_documents(start, hours)
    assert live.documents() == {_id: doc for _id, doc in expected.items() if _id not in failed}

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
    # Permanent: not retried (one _bulk per chunk of documents and answer-key records).
    records = len(incidents.answer_key(config.Config(), config.HourRange(start, start + hours * config.HOUR)))
    assert len(live.proxy.bulk_requests()) == -(-(len(expected) + records) // es.CHUNK_SIZE)


# --- a hung cluster fails the invocation inside a known bound --------------------------------


def test_hung_bulk_fails_after_the_documented_number_of_attempts(live):
    live.proxy.faults.append(Fault(Hang(), times=10**6, when=is_bulk))
    with pytest.raises(es.IndexingError) as failure:
        data_generator.lambda_handler(scheduled(), None)
    assert "ConnectionTimeout" in str(failure.value)
    assert len(live.proxy.bulk_requests()) == es.CONNECTION_RETRIES + 1
    assert held(live) == 0


def test_hung_template_fails_before_any_bulk(live):
    live.proxy.faults.append(Fault(Hang(), times=10**6))
    with pytest.raises(es.IndexingError) as failure:
        data_generator.lambda_handler(scheduled(), None)
    assert "index template" in str(failure.value)
    assert len(live.proxy.requests) == es.CONNECTION_RETRIES + 1
    assert not live.proxy.bulk_requests()


def test_worst_case_attempts_match_the_chunk_worst_case_formula(live):
    """Status retries inside every connection attempt: (CONNECTION_RETRIES+1) x (STATUS_RETRIES+1) requests."""
    pattern = [Reply(429, TOO_MANY_REQUESTS)] * es.STATUS_RETRIES + [Hang()]
    live.proxy.faults.append(Script(pattern * (es.CONNECTION_RETRIES + 1), when=is_bulk))
    with pytest.raises(es.IndexingError):
        data_generator.lambda_handler(scheduled(), None)
    attempts = (es.CONNECTION_RETRIES + 1) * (es.STATUS_RETRIES + 1)
    assert len(live.proxy.bulk_requests()) == attempts
    # CHUNK_WORST_CASE_S is those attempts each timing out, plus every backoff.
    backoffs = (es.CONNECTION_RETRIES + 1) * sum(
        min(es.MAX_BACKOFF_S, es.INITIAL_BACKOFF_S * 2**i) for i in range(es.STATUS_RETRIES)
    ) + sum(min(es.MAX_BACKOFF_S, es.INITIAL_BACKOFF_S * 2**i) for i in range(es.CONNECTION_RETRIES))
    assert backoffs < attempts * es.REQUEST_TIMEOUT_S  # sanity of the fast settings


def test_chunk_worst_case_is_well_inside_the_lambda_timeout():
    # No fixture patches here: these are the shipped constants.
    attempts = (es.CONNECTION_RETRIES + 1) * (es.STATUS_RETRIES + 1)
    status_backoffs = sum(min(es.MAX_BACKOFF_S, es.INITIAL_BACKOFF_S * 2**i) for i in range(es.STATUS_RETRIES))
    connection_backoffs = sum(
        min(es.MAX_BACKOFF_S, es.INITIAL_BACKOFF_S * 2**i) for i in range(es.CONNECTION_RETRIES))
    assert es.CHUNK_WORST_CASE_S == (
        attempts * es.REQUEST_TIMEOUT_S + (es.CONNECTION_RETRIES + 1) * status_backoffs + connection_backoffs)
    # A cold start also creates the template (its own bounded retries) before the first chunk.
    template = (es.CONNECTION_RETRIES + 1) * es.REQUEST_TIMEOUT_S + connection_backoffs
    assert template + es.CHUNK_WORST_CASE_S + data_generator.SAFETY_MARGIN_S <= 300 / 2


def test_connect_and_retries_read_the_module_constants_at_call_time(live, monkeypatch):
    """Patching es's constants after import changes the client's timeout and both retry loops."""
    monkeypatch.setattr(es, "REQUEST_TIMEOUT_S", 0.25)
    monkeypatch.setattr(es, "STATUS_RETRIES", 1)
    monkeypatch.setattr(es, "CONNECTION_RETRIES", 1)
    assert es.connect(live.url)._request_timeout == 0.25
    pattern = [Reply(503, UNAVAILABLE), Hang()]
    live.proxy.faults.append(Script(pattern * 3, when=is_bulk))
    with pytest.raises(es.IndexingError):
        data_generator.lambda_handler(scheduled(), None)
    assert len(live.proxy.bulk_requests()) == (1 + 1) * (1 + 1)


@pytest.mark.parametrize("status, body", [(503, UNAVAILABLE), (429, TOO_MANY_REQUESTS)])
def test_a_status_failure_says_it_was_retried(live, status, body):
    """An operator reading the error must not think a 503/429 was given up on at once."""
    live.proxy.faults.append(Fault(Reply(status, body), times=10**6, when=is_bulk))
    with pytest.raises(es.IndexingError) as failure:
        data_generator.lambda_handler(scheduled(), None)
    assert len(live.proxy.bulk_requests()) == es.STATUS_RETRIES + 1
    assert f"after {es.STATUS_RETRIES + 1} attempt(s)" in str(failure.value)
    assert f"HTTP {status}" in str(failure.value)
