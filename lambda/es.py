"""All Elasticsearch I/O: the client, the index templates, bulk indexing, and reads
(observations, findings, remediations).

Retries are safe because every document has a deterministic _id and is
written with op_type index: a retried or duplicated request overwrites the
same documents. Failures are collected per run and raised once, so healthy
documents are still indexed when a few are rejected. A document counts as indexed
only when its own item in the answer says so: an answer that does not account for
every action, in order, is retried whole.

Back pressure is ridden out for as long as the deadline allows: every retry
waits a capped, fully jittered exponential backoff, and is started only if it
and a worst-case attempt still fit in the time left (Lambda: before the
invocation's safety margin; CLI: within --patience of the chunk's first
failure). Each attempt has a hard deadline, so nothing outlasts its share.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import math
import random
import re
import threading
import time
import weakref

import config
import ledger

logger = logging.getLogger("pp_merchantai.es")

# The client is imported inside the functions that use it, not at module load:
# a dry run or an --output run never pays its ~170 ms import.

# Documents per _bulk request: ~1.3 MB, well inside Elasticsearch's
# recommended 5-15 MB, small enough for a 512 MB Lambda.
CHUNK_SIZE = 2000
# Sustained 429s halve the requests down to this, and successes grow them back.
MIN_CHUNK_SIZE = 250
SHRINK_AFTER_429S = 2  # consecutive 429 answers that halve the next requests
GROW_AFTER_SUCCESSES = 3  # requests accepted in a row that double them again
# One attempt's hard deadline: connect, send and the whole answer. Also the
# worst case a retry must still fit before the deadline.
REQUEST_TIMEOUT_S = 10
# Whole-request statuses and per-item statuses worth retrying (back pressure,
# a node or proxy restarting); anything else is permanent.
RETRY_STATUSES = (429, 502, 503, 504)
# Backoff before the n-th retry: uniform in [0, min(MAX, INITIAL * 2**(n-1))] (full jitter).
INITIAL_BACKOFF_S = 1
MAX_BACKOFF_S = 30
# Only what our item handling reads: each item's status, and _id and error for
# the failure reasons. Cuts the response's size and parsing by about two thirds.
BULK_FILTER_PATH = "items.*._id,items.*.status,items.*.error"
# Reasons quoted in a BulkError and logged: enough to diagnose, not a flood.
REASONS_SHOWN = 3

# Time and jitter go through these, so tests can run on a fake clock with a seeded JITTER.
monotonic = time.monotonic
sleep = time.sleep


def wait(done: threading.Event, timeout: float) -> bool:
    return done.wait(timeout)


JITTER = random.Random()

# The observation index: what a real merchant-metrics pipeline would hold.
MAPPINGS = {
    "dynamic": "strict",
    "properties": {
        "merchant_id": {"type": "keyword"},
        "merchant_name": {"type": "keyword"},
        "category": {"type": "keyword"},
        "payment_provider": {"type": "keyword"},
        "city": {"type": "keyword"},
        "country": {"type": "keyword"},
        "timestamp": {"type": "date"},
        "sessions": {"type": "integer"},
        "transaction_count": {"type": "integer"},
        "successful_transactions": {"type": "integer"},
        "failed_transactions": {"type": "integer"},
        "conversion_rate": {"type": "float"},
        "error_rate": {"type": "float"},
        # The evidence (generator.ERROR_CODES, generator.CHANNELS).
        "errors_by_code": {"properties": {code: {"type": "integer"} for code in (
            "declined", "timeout", "provider_unavailable", "fraud_blocked", "authentication_failed",
            "invalid_request")}},
        "latency_p95_ms": {"type": "integer"},
        "channels": {"properties": {channel: {"properties": {
            "sessions": {"type": "integer"}, "transactions": {"type": "integer"}}} for channel in ("web", "app")}},
        "location": {"type": "geo_point"},
    },
}
# GROUND_TRUTH=inline only: the truth beside the observations.
INLINE_TRUTH_PROPERTIES = {
    "issues": {"type": "keyword"},
    "is_problematic": {"type": "boolean"},
    "incident_ids": {"type": "keyword"},
}
# The answer-key index: one record per incident (incidents.Incident.record).
ANSWER_KEY_MAPPINGS = {
    "dynamic": "strict",
    "properties": {
        "incident_id": {"type": "keyword"},
        "kind": {"type": "keyword"},
        "is_issue": {"type": "boolean"},
        "issues": {"type": "keyword"},
        "merchant_ids": {"type": "keyword"},
        "payment_provider": {"type": "keyword"},
        "root_cause": {
            "properties": {
                "category": {"type": "keyword"},
                "component": {"type": "keyword"},
                "description": {"type": "text"},
            },
        },
        "onset": {"type": "date"},
        "plateau_start": {"type": "date"},
        "recovery_start": {"type": "date"},
        "end": {"type": "date"},
        "remediation": {"type": "keyword"},
        "scenario": {"type": "keyword"},
        "seed_digest": {"type": "keyword"},
        "causal_event_id": {"type": "keyword"},  # the change event that caused it (events.py), if any
        # REMEDIATION=on (remediations.answer_fields).
        "resolved_by": {"type": "keyword"},
        "resolved_at": {"type": "date"},
        "remediation_id": {"type": "keyword"},
        "wrong_actions": {
            "properties": {
                "remediation_id": {"type": "keyword"},
                "action": {"type": "keyword"},
                "timestamp": {"type": "date"},
                "claimed_at": {"type": "date"},
                "merchant_id": {"type": "keyword"},
                "payment_provider": {"type": "keyword"},
            },
        },
        "refused": {"type": "keyword"},
        # What the bench saw of the AI's documents (ledger.record): kinds remediation_seen, finding_seen.
        "digest": {"type": "keyword"},
        "seen_at": {"type": "date"},
        "claimed_at": {"type": "date"},
        "timestamp": {"type": "date"},
        "action": {"type": "keyword"},
        "merchant_id": {"type": "keyword"},
        "finding_id": {"type": "keyword"},
        "finding": {"type": "object", "enabled": False},  # what the bench read of it, stored, never searched
        "malformed": {"type": "keyword"},
    },
}


# The change events (events.Event.source): what a change log and status pages show.
EVENTS_MAPPINGS = {
    "dynamic": "strict",
    "properties": {
        "event_id": {"type": "keyword"},
        "timestamp": {"type": "date"},
        "merchant_id": {"type": "keyword"},
        "payment_provider": {"type": "keyword"},
        "type": {"type": "keyword"},
        "component": {"type": "keyword"},
        "summary": {"type": "text"},
        "details": {
            "properties": {
                "version": {"type": "keyword"},
                "previous_version": {"type": "keyword"},
                "channel": {"type": "keyword"},
                "setting": {"type": "keyword"},
                "old_value": {"type": "keyword"},
                "new_value": {"type": "keyword"},
                "status": {"type": "keyword"},
                "impact": {"type": "keyword"},
                "campaign": {"type": "keyword"},
                "discount_percent": {"type": "integer"},
                "window_start": {"type": "date"},
                "window_end": {"type": "date"},
            },
        },
    },
}


def data_mappings(inline: bool) -> dict:
    """The observation index's mappings; the truth fields only with GROUND_TRUTH=inline."""
    if not inline:
        return MAPPINGS
    return {**MAPPINGS, "properties": {**MAPPINGS["properties"], **INLINE_TRUTH_PROPERTIES}}


# Above the built-in templates (priority 100-ish) so ours wins on overlap.
TEMPLATE_PRIORITY = 500
# A run reads at most this many documents of each of the AI's indices (only the fields it
# uses): more in the window wait, unread, so no number of them can slow or exhaust it.
MAX_INBOX = 2000
# The function's client reads no answer longer than this (connect's max_answer_bytes): whatever
# the AI wrote, a run parses one such answer at a time, at a few times its size in memory.
MAX_ANSWER_BYTES = 16 * 1024 * 1024
# The bench's records, per page (search_after): Elasticsearch's default index.max_result_window.
RECORDS_PAGE = 10_000
# Of the bench's records of the AI's recent documents the one search reads at most this many;
# past it, those of the documents read are looked up by digest (one more request).
RECENT_RECORDS = RECORDS_PAGE
# When the one search's answer is too large: the AI's documents in pieces of at most this many
# (halved while a piece is too large), for at most INBOX_SECONDS a run; the rest wait.
INBOX_PIECE = 250
INBOX_SECONDS = 60
SEEN_FILTER_PATH = ("responses.hits.total,responses.hits.hits._id,responses.hits.hits._source,"
                    "responses.hits.hits.sort,responses.error,responses.status")
RECORDS_FILTER_PATH = "hits.total,hits.hits._id,hits.hits._source,hits.hits.sort"


class IndexingError(Exception):
    """Writing to Elasticsearch failed; the run should be retried later."""


class CredentialsError(IndexingError):
    """Elasticsearch rejected the credentials (401) or their privileges (403)."""


class OutOfTime(IndexingError):
    """The next attempt could not finish in time; nothing of it was started.

    done counts the pairs of the interrupted chunk finished before it (a prefix
    of the chunk), indexed the documents among them that succeeded.
    """

    done = indexed = 0


class BulkError(IndexingError):
    """Some documents were rejected for good; the others were indexed."""

    def __init__(self, failed: int, total: int, reasons: list):
        self.failed = failed
        self.reasons = reasons
        super().__init__(
            f"{failed} of {total} documents failed to index: " + "; ".join(reasons)
        )


class _Deadline(Exception):
    """An attempt reached its hard deadline (the server is hung or trickling)."""


class _TooLarge(IndexingError):
    """The cluster refused a request as too large (413)."""


class AnswerTooLarge(IndexingError):
    """An answer was longer than the client reads (connect's max_answer_bytes, the limit): it was
    not read further."""

    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"an answer longer than {limit} bytes (not read further)")


class _Malformed(Exception):
    """A 200 answer to a _bulk that does not say what happened to every action: retried whole."""

    answer = "_bulk"


class _MalformedSearch(_Malformed):
    """A 200 answer to a search without the shape the reads rely on: retried like a _bulk's."""

    answer = "search"


# An answer is read in pieces of this size, so reading stops soon after the cap.
ANSWER_PIECE_BYTES = 64 * 1024


def _read_capped(response, cap: int, **_) -> None:
    """A requests response hook (it runs before requests reads the body): the body, read in
    pieces; past cap bytes the connection is dropped and AnswerTooLarge raised."""
    pieces, size = [], 0
    for piece in response.iter_content(ANSWER_PIECE_BYTES):
        size += len(piece)
        if size > cap:
            response.close()
            raise AnswerTooLarge(cap)
        pieces.append(piece)
    response._content = b"".join(pieces)  # what response.content then returns, unread again


@functools.lru_cache(maxsize=None)
def _capped_node(cap: int):
    """The requests node class, reading no answer past cap bytes."""
    from elastic_transport import ConnectionError as TransportConnectionError
    from elastic_transport import RequestsHttpNode

    class CappedNode(RequestsHttpNode):
        def __init__(self, node_config):
            super().__init__(node_config)
            self.session.hooks["response"].append(functools.partial(_read_capped, cap=cap))

        def perform_request(self, *args, **kwargs):
            try:
                return super().perform_request(*args, **kwargs)
            except TransportConnectionError as exc:
                # The node wraps whatever the hook raised; it is no connection failure to retry.
                too_large = [error for error in exc.errors if isinstance(error, AnswerTooLarge)]
                if too_large:
                    raise too_large[0] from None
                raise

    return CappedNode


def connect(host: str, *, api_key: str | None = None, basic_auth: tuple | None = None,
            max_answer_bytes: int | None = None):
    """A client; max_answer_bytes: no answer is read past it (AnswerTooLarge), so no answer can
    exhaust the caller's memory (the function's client: MAX_ANSWER_BYTES)."""
    from elasticsearch import Elasticsearch

    return Elasticsearch(
        host,
        api_key=api_key,
        basic_auth=basic_auth,
        # requests, so tests can intercept with the responses library.
        node_class="requests" if max_answer_bytes is None else _capped_node(max_answer_bytes),
        request_timeout=REQUEST_TIMEOUT_S,
        # Retries live in this module, with backoff and a deadline; the
        # transport's own are immediate and would multiply with ours.
        max_retries=0,
    )


def _attempt(call):
    """call() with a hard deadline of REQUEST_TIMEOUT_S, whatever the server does.

    The connect and read timeouts restart with every byte, so a trickling
    server could hold a request for ever; the call runs in a worker thread and
    is abandoned at the deadline (its own timeouts end it later).
    """
    outcome: dict = {}
    done = threading.Event()

    def target():
        try:
            outcome["value"] = call()
        except BaseException as exc:  # handed to the caller's thread
            outcome["error"] = exc
        finally:
            done.set()

    threading.Thread(target=target, name="es-attempt", daemon=True).start()
    if not wait(done, REQUEST_TIMEOUT_S):
        raise _Deadline(f"no complete answer within {REQUEST_TIMEOUT_S} s")
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def _describe(exc: Exception) -> str:
    from elasticsearch import ApiError

    if isinstance(exc, ApiError):
        return f"HTTP {exc.status_code}: {exc.message}"
    if isinstance(exc, _Deadline):
        return f"ConnectionTimeout: {exc}"
    if isinstance(exc, _Malformed):
        return f"malformed {exc.answer} answer: {exc}"
    return f"{type(exc).__name__}: {exc}"


def _too_large(exc: Exception) -> bool:
    """413, or an Elastic Cloud proxy's "request entity too large" under another status."""
    from elasticsearch import ApiError

    return isinstance(exc, ApiError) and (
        exc.status_code == 413 or "request entity too large" in f"{exc.message} {exc.body}".lower())


def _pair_id(pair) -> str:
    (meta,) = json.loads(pair[0]).values()
    return meta["_id"]


def _answers(action_line: str, op: str, _id: str) -> bool:
    """An item of action op for _id answers action_line: the same action (index) and _id."""
    # Our action lines end in "_id":"<id>"}}: compared as text, parsed only when that differs (an escaped id).
    if action_line.endswith('"_id":"' + _id + '"}}') and action_line.startswith('{"' + op + '":'):
        return True
    ((action, meta),) = json.loads(action_line).items()
    return (op, _id) == (action, meta.get("_id"))


def _items(answer, pairs: list) -> list:
    """The items of a _bulk answer, one per pair, if it says what happened to each: a JSON object
    whose items list has one item per action, in order, each naming its action and _id, with an
    HTTP status (an integer from 100 to 599). Else _Malformed, saying what was wrong: nothing of
    it is counted, and the whole request is sent again (same ids)."""
    items = answer.get("items") if isinstance(answer, dict) else None
    if not isinstance(items, list):
        raise _Malformed("no items list" if isinstance(answer, dict) else
                         f"not a JSON object but {type(answer).__name__} {str(answer)[:40]!r}")
    if len(items) != len(pairs):
        raise _Malformed(f"{len(items)} items for {len(pairs)} actions")
    checked = []
    for n, (pair, entry) in enumerate(zip(pairs, items)):
        try:
            ((op, item),) = entry.items()
            _id, status = item["_id"], item.get("status")
            answers = type(_id) is str and _answers(pair[0], op, _id)
        except (AttributeError, ValueError, KeyError, TypeError):  # not {action: {"_id": ...}}
            answers = False
        if not answers:
            raise _Malformed(f"item {n} does not answer action {n} ({_pair_id(pair)})")
        if type(status) is not int or not 100 <= status <= 599:  # bool is not int here
            raise _Malformed(f"item {n} ({_pair_id(pair)}) has no HTTP status (got {str(status)[:20]})")
        checked.append(item)
    return checked
_INTRODUCED = re.compile(r"dynamic introduction of \[([^\]]+)\] within \[([^\]]+)\]")


def _unmapped_field(item: dict) -> str | None:
    """The field path (channels.web) that a strict mapping refused in a bulk item's error, or None."""
    error = item.get("error")
    if not isinstance(error, dict) or error.get("type") != "strict_dynamic_mapping_exception":
        return None
    match = _INTRODUCED.search(str(error.get("reason")))
    if match is None:
        return None
    name, parent = match.groups()
    return name if parent == "_doc" else f"{parent}.{name}"


def _maps(mappings: dict, path: str) -> bool:
    """Whether mappings define the field at path (a.b.c)."""
    properties = mappings.get("properties", {})
    for part in path.split("."):
        if part not in properties:
            return False
        properties = properties[part].get("properties", {})
    return True


def _pair_index(pair) -> str:
    (meta,) = json.loads(pair[0]).values()
    return meta["_index"]


def _item_reason(item: dict) -> str:
    error = item.get("error")
    if isinstance(error, dict):
        error = f"{error.get('type')}: {error.get('reason')}"
    return f"{item.get('_id')}: HTTP {item.get('status')} {error}"


# The privileges named when Elasticsearch refuses the generator's own requests.
WRITER_NEEDS = "manage_index_templates, and write and auto_configure on the data, answer-key and events indices"


def _patient(retrier):
    """The retrier a one-off call uses: the caller's (sharing its deadline), or the CLI's default patience."""
    return retrier if retrier is not None else Retrier(patience=config.DEFAULT_PATIENCE_S)


# Clients whose index templates are in place (by index name): a warm
# invocation then makes exactly one request, the _bulk.
_TEMPLATES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class Retrier:
    """Retries with capped full-jitter backoff while time allows.

    time_left: seconds the caller may still spend (Lambda: to the safety margin);
    every attempt starts only if it fits. Otherwise patience: seconds a call may
    go on retrying after its first failure (CLI).
    """

    def __init__(self, *, time_left=None, patience: float | None = None):
        self.time_left = time_left
        self.patience = patience

    def _left(self, first_failure: float | None) -> float:
        if self.time_left is not None:
            return self.time_left()
        return math.inf if first_failure is None else first_failure + self.patience - monotonic()

    def _limit(self) -> str:
        if self.time_left is not None:
            return "the next try would not end before the invocation's time runs out"
        return f"gave up after {self.patience:g} s of retrying (--patience)"

    def _start(self, what: str) -> None:
        """Refuse to start a first attempt that might not end in time."""
        if self._left(None) < REQUEST_TIMEOUT_S:
            raise OutOfTime(f"too little time left for {what} (an attempt may take "
                            f"{REQUEST_TIMEOUT_S} s): raise the function's timeout")

    def _pause(self, what: str, reason: str, tries: int, first_failure: float) -> None:
        """Back off before try tries + 1, or raise OutOfTime if it might not end in time."""
        # The exponent capped: past the cap it changes nothing, and 2.0 ** 1024 overflows.
        delay = JITTER.uniform(0, min(MAX_BACKOFF_S, INITIAL_BACKOFF_S * 2 ** min(tries - 1, 64)))
        if delay + REQUEST_TIMEOUT_S > self._left(first_failure):
            raise OutOfTime(f"{what} failed after {tries} attempt(s) over "
                            f"{monotonic() - first_failure:.0f} s ({reason}); {self._limit()}")
        logger.warning("%s failed (%s); retrying in %.1f s", what, reason, delay)
        sleep(delay)

    def _call(self, call, what: str, tries: int, needs: str = WRITER_NEEDS):
        """One attempt: (answer, None), or (None, the failure) when it is worth retrying; else raises."""
        from elastic_transport import ConnectionError as TransportConnectionError
        from elastic_transport import ConnectionTimeout
        from elasticsearch import ApiError, AuthenticationException, AuthorizationException, UnsupportedProductError

        try:
            return _attempt(call), None
        except (AuthenticationException, AuthorizationException) as exc:
            # No retry storm: credentials do not heal by themselves.
            raise CredentialsError(
                f"Elasticsearch refused {what} with HTTP {exc.status_code}: check ELASTICSEARCH_API_KEY "
                "(or ELASTICSEARCH_USERNAME/ELASTICSEARCH_PASSWORD) and the key's privileges "
                f"(it needs {needs})"
            ) from None
        except UnsupportedProductError as exc:
            raise IndexingError(f"ELASTICSEARCH_HOST does not answer as Elasticsearch: {exc.message}") from None
        except (TransportConnectionError, ConnectionTimeout, _Deadline, _Malformed, ApiError) as exc:
            if _too_large(exc):
                raise _TooLarge(_describe(exc)) from None
            if isinstance(exc, ApiError) and exc.status_code not in RETRY_STATUSES:
                raise IndexingError(f"{what} failed after {tries + 1} attempt(s): {_describe(exc)}") from None
            return None, exc

    def retry(self, call, what: str, needs: str = WRITER_NEEDS):
        """call()'s answer, retried on back pressure and connection errors while time allows.

        needs: the privileges to name when the credentials are refused.
        """
        self._start(what)
        tries, first_failure = 0, None
        while True:
            answer, failure = self._call(call, what, tries, needs)
            tries += 1
            if failure is None:
                return answer
            if first_failure is None:
                first_failure = monotonic()
            self._pause(what, _describe(failure), tries, first_failure)


class Indexer(Retrier):
    """Sends chunks of bulk lines for one run; collects permanent failures across chunks.

    templates: {index name: mappings}, each put once per client before the first _bulk.
    time_left or patience: as for Retrier, per chunk and template.
    """

    def __init__(self, client, templates: dict, *, time_left=None, patience: float | None = None):
        super().__init__(time_left=time_left, patience=patience)
        self.client = client
        self.templates = templates
        self.failed = 0
        self.reasons: list = []
        self.size = CHUNK_SIZE
        self._429s = self._accepted = 0
        self._records: set = set()  # action lines of the current chunk's answer-key records
        self._upgraded: set = set()  # indices whose mapping this run brought up to this version's

    # --- template ---

    def _put_templates(self) -> None:
        """Create or update the composable template of each index (named after it), once per client."""
        in_place = _TEMPLATES.setdefault(self.client, set())
        for index, mappings in self.templates.items():
            if index not in in_place:
                self.retry(lambda: self.client.indices.put_index_template(
                    name=index,
                    index_patterns=[index],
                    priority=TEMPLATE_PRIORITY,
                    template={"mappings": mappings},
                    meta={"managed_by": "pp-merchantai-data-generator"},
                ), f"creating index template {index!r}")
                in_place.add(index)

    # --- bulk ---

    def _adapt(self, sent: int, pushed_back: bool, clean: bool) -> None:
        """After an attempt: halve the requests on sustained 429s, double them back after successes."""
        if pushed_back:
            self._429s, self._accepted = self._429s + 1, 0
        elif clean:
            self._429s, self._accepted = 0, self._accepted + 1
        size = self.size
        if self._429s >= SHRINK_AFTER_429S and sent > MIN_CHUNK_SIZE:
            size, self._429s = max(MIN_CHUNK_SIZE, min(size, sent) // 2), 0
        elif self._accepted >= GROW_AFTER_SUCCESSES and size < CHUNK_SIZE:
            size, self._accepted = min(CHUNK_SIZE, size * 2), 0
        if size != self.size:
            cause = "sustained 429s" if size < self.size else "accepted again"
            # DEBUG: a size cut from a request's answer-key records would tell how many there were.
            logger.debug("bulk requests of %d documents from now on (%s)", size, cause)
            self.size = size

    def _bulk(self, pairs: list) -> list:
        """The checked items of one _bulk of pairs (see _items)."""
        from elastic_transport import SerializationError

        body = "\n".join(itertools.chain.from_iterable(pairs)) + "\n"
        try:
            answer = self.client.bulk(operations=body, filter_path=BULK_FILTER_PATH).body
        except SerializationError:
            raise _Malformed("not valid JSON") from None
        except AnswerTooLarge as exc:  # its items are a few bytes each: no true answer is that long
            raise _Malformed(str(exc)) from None
        return _items(answer, pairs)

    def _upgradable(self, pair, item: dict) -> bool:
        """Whether an item was refused only because its index predates a field this version maps."""
        field = _unmapped_field(item) if item.get("status") == 400 else None
        if field is None:
            return False
        index = _pair_index(pair)
        return index in self.templates and index not in self._upgraded and _maps(self.templates[index], field)

    def _upgrade(self, pairs: list, items: list) -> list:
        """Add this version's fields to the mapping of each index an earlier version made (PUT
        _mapping only adds fields; templates act only when an index is created), once per index
        and run; returns the pairs to send again. A refused update fails its pairs, naming why."""
        again = []
        for index in dict.fromkeys(map(_pair_index, pairs)):
            mine = [(pair, item) for pair, item in zip(pairs, items) if _pair_index(pair) == index]
            self._upgraded.add(index)
            lacking = sorted({_unmapped_field(item) for _, item in mine})
            logger.info("index %r was made by an earlier version (it lacks %s): adding the fields this version "
                        "maps to its mapping", index, ", ".join(lacking))
            try:
                self.retry(lambda: self.client.indices.put_mapping(
                    index=index, properties=self.templates[index]["properties"]),
                    f"adding this version's fields to the mapping of {index!r}")
            except (CredentialsError, OutOfTime):
                raise
            except IndexingError as exc:
                for pair, item in mine:
                    self._fail(f"{_item_reason(item)}; adding the field to the mapping failed: {exc}")
                continue
            again += [pair for pair, _ in mine]
        return again

    def _fail(self, reason: str) -> None:
        self.failed += 1
        if len(self.reasons) < REASONS_SHOWN:
            self.reasons.append(reason)
            logger.error("document rejected: %s", reason)

    def _documents(self, pairs: list) -> str:
        """What messages say of pairs: the documents counted, answer-key records only named, so no
        log tells how many incidents started in a request's hours."""
        documents = sum(pair[0] not in self._records for pair in pairs)
        return f"{documents} documents" + (" and answer-key records" if documents < len(pairs) else "")

    def _send(self, pairs: list) -> int:
        """Index pairs in one request (plus retries; halves on 413); returns how many documents succeeded."""
        indexed, tries, first_failure = 0, 0, None
        self._start(f"a bulk request of {self._documents(pairs)}")
        while pairs:
            what = f"bulk request of {self._documents(pairs)}"
            try:
                items, failure = self._call(lambda: self._bulk(pairs), what, tries)
            except _TooLarge as exc:
                if len(pairs) == 1:
                    self._fail(f"{_pair_id(pairs[0])}: {exc} (one document larger than the cluster accepts)")
                    return indexed
                logger.info("%s too large (%s): sending it in halves", what, exc)
                half = len(pairs) // 2
                return indexed + self._send(pairs[:half]) + self._send(pairs[half:])
            tries += 1
            retry: list = []
            if items is None:
                reason, pushed_back = _describe(failure), getattr(failure, "status_code", None) == 429
            else:
                rejected, outdated = [], ([], [])
                for pair, item in zip(pairs, items):
                    status = item["status"]
                    # A create that finds its record already there: the bench saw it first, earlier.
                    if 200 <= status < 300 or (status == 409 and pair[0].startswith('{"create"')):
                        indexed += pair[0] not in self._records
                    elif status in RETRY_STATUSES:
                        retry.append(pair)
                        rejected.append(item)
                    elif self._upgradable(pair, item):
                        outdated[0].append(pair)
                        outdated[1].append(item)
                    else:
                        self._fail(_item_reason(item))
                if outdated[0]:
                    again = self._upgrade(*outdated)
                    if again:
                        indexed += self._send(again)
                pushed_back = any(item.get("status") == 429 for item in rejected)
                if rejected:
                    # A document's for an example: an answer-key record's _id names an incident.
                    example = next((item for pair, item in zip(retry, rejected) if pair[0] not in self._records),
                                   {**rejected[0], "_id": "an answer-key record"})
                    reason = f"{self._documents(retry)} rejected, e.g. {_item_reason(example)}"
            self._adapt(len(pairs), pushed_back, clean=items is not None and not retry)
            if items is not None:
                if not retry:
                    return indexed
                what = f"bulk request of {self._documents(pairs)} ({self._documents(retry)} to retry)"
                pairs = retry
            if first_failure is None:
                first_failure = monotonic()
            self._pause(what, reason, tries, first_failure)
        return indexed

    def send(self, pairs: list, records: int = 0, events: int = 0) -> int:
        """Index one chunk, in requests of at most self.size pairs; returns how many of its documents succeeded.

        The first `records` pairs are answer-key records, the next `events` change events: sent
        alike, failed alike, not counted as documents.
        Raises OutOfTime (with what of the chunk was done) when a retry no longer fits.
        """
        self._put_templates()
        self._records = {action for action, _ in pairs[:records + events]}
        indexed = done = 0
        try:
            while done < len(pairs):
                piece = pairs[done:done + self.size]
                indexed += self._send(piece)
                done += len(piece)
        except OutOfTime as exc:
            exc.done, exc.indexed = done, indexed
            raise
        return indexed

    def raise_failures(self, total: int) -> None:
        if self.failed:
            raise BulkError(self.failed, total, self.reasons)


def _page(answer, sort: bool = False, source: bool = True, total: bool = True) -> tuple[list, int | None]:
    """(hits, total) of a search answer, if it has the shape the reads rely on: hits.total.value
    an integer (when total: a scroll needs none), hits.hits (absent when empty, as filter_path
    leaves it) a list of objects, each with a string _id, a _source object (when source; the
    AI's documents may have none) and sort values (when sort, for search_after). Else
    _MalformedSearch, saying what was wrong."""
    hits = answer.get("hits") if isinstance(answer, dict) else None
    if not isinstance(hits, dict):
        raise _MalformedSearch("no hits object" if isinstance(answer, dict) else
                               f"not a JSON object but {type(answer).__name__} {str(answer)[:40]!r}")
    count = hits.get("total")
    count = count.get("value") if isinstance(count, dict) else None
    if total and (type(count) is not int or count < 0):  # bool is not int here
        raise _MalformedSearch("no hits.total.value count")
    found = hits.get("hits", [])
    if not isinstance(found, list):
        raise _MalformedSearch("hits.hits is not a list")
    for n, hit in enumerate(found):
        if not isinstance(hit, dict) or type(hit.get("_id")) is not str:
            raise _MalformedSearch(f"hit {n} has no string _id")
        if source and not isinstance(hit.get("_source"), dict):
            raise _MalformedSearch(f"hit {n} ({str(hit['_id'])[:40]}) has no _source object")
        if sort and not (isinstance(hit.get("sort"), list) and hit["sort"]):
            raise _MalformedSearch(f"hit {n} ({str(hit['_id'])[:40]}) has no sort values")
    return found, count


def _msearch_answers(body, searches: list) -> list:
    """The answers of an _msearch of searches ((kind, body) pairs), checked as _page does: one per
    search, in order; an answer with an error passes as it is (each caller decides)."""
    answers = body.get("responses") if isinstance(body, dict) else None
    if not isinstance(answers, list) or len(answers) != len(searches):
        raise _MalformedSearch(f"{len(answers) if isinstance(answers, list) else 'no'} responses for "
                               f"{len(searches)} searches")
    for answer, (kind, _) in zip(answers, searches):
        if not (isinstance(answer, dict) and "error" in answer):
            _page(answer, sort=kind == "records", source=kind != "inbox")
    return answers


def _in_pieces(search, page: int, limit: float = math.inf, hits: list | None = None, total: int | None = None,
               single=None, until: float = math.inf) -> tuple[list, int | None, bool]:
    """(hits, the last total, whether done) of a search read piece by piece: search(size, hits) ->
    (the next hits after those so far, total). A piece whose answer is too large is halved, and
    GROW_AFTER_SUCCESSES pieces in a row double it back, up to page; a single hit too large is
    single(hits, the client's limit) (raised without single). Goes on from hits (of total) until
    limit hits, the end, or the clock passes until (then not done)."""
    hits, size, good = list(hits or []), page, 0
    while len(hits) < limit and (total is None or len(hits) < total):
        if monotonic() > until:
            return hits, total, False
        want = int(min(size, limit - len(hits)))
        try:
            got, total = search(want, hits)
        except AnswerTooLarge as exc:
            if want > 1:
                size, good = want // 2, 0
                continue
            if single is None:
                raise
            hits.append(single(hits, exc.limit))
            continue
        hits += got
        if len(got) < want:
            break
        good += 1
        if good >= GROW_AFTER_SUCCESSES:
            size, good = min(page, size * 2), 0
    return hits, total, True


def _inbox(index: str, fields: tuple, window: ledger.Window) -> list:
    return [{"index": index, "ignore_unavailable": True},
            {"query": _claiming(window), "size": MAX_INBOX, "_source": list(fields), "track_total_hits": True}]


def _claiming(window: ledger.Window) -> dict:
    return {"range": {"timestamp": {"gte": window.recent, "lt": window.stop}}}


def _acting_query(window: ledger.Window) -> dict:
    """The bench's records of remediations that act in [lo, stop): neither refused nor malformed.
    The rate limit bounds them (remediations.RATE_LIMIT an hour), whatever the AI writes."""
    return {"bool": {"filter": [{"term": {"kind": ledger.REMEDIATION_SEEN}},
                                {"range": {"timestamp": {"gte": window.lo, "lt": window.stop}}}],
                     "must_not": [{"exists": {"field": "refused"}}, {"exists": {"field": "malformed"}}]}}


def _recent_query(window: ledger.Window) -> dict:
    """The bench's records that stand for a document claiming [recent, stop) or that count in it:
    what tells the documents read from new ones, and the refused ones of the run's hours."""
    return {"bool": {"filter": [{"terms": {"kind": list(ledger.KINDS)}}], "minimum_should_match": 1, "should": [
        {"range": {"timestamp": {"gte": window.recent, "lt": window.stop}}},
        {"range": {"claimed_at": {"gte": window.recent, "lt": window.stop}}}]}}


def _records_body(query: dict, size: int) -> dict:
    # Not the findings' recorded copies: the run needs their digests and hours only (the scorer reads them).
    return {"query": query, "size": size, "sort": [{"incident_id": "asc"}], "track_total_hits": True,
            "_source": {"excludes": ["finding"]}}


LATEST = {"size": 1, "sort": [{"timestamp": "desc"}], "_source": ["timestamp"]}


class _Reads:
    """One run's reads of what the AI wrote and what the bench recorded of it (read_seen)."""

    def __init__(self, client, window: ledger.Window, answer_key_index: str, inboxes: list, retrier: Retrier,
                 data_index: str | None):
        self.client, self.window, self.key, self.retrier = client, window, answer_key_index, retrier
        self.inboxes, self.data_index = inboxes, data_index
        self.needs = f"read on {', '.join([name for name, _ in inboxes] + [answer_key_index])}"

    def searches(self) -> list:
        """(kind, [header, body]) of every search the one _msearch makes."""
        found = [("inbox", _inbox(name, fields, self.window)) for name, fields in self.inboxes]
        header = {"index": self.key, "ignore_unavailable": True}
        found += [("records", [header, _records_body(_acting_query(self.window), RECORDS_PAGE)]),
                  ("records", [header, _records_body(_recent_query(self.window), RECENT_RECORDS)])]
        if self.data_index:
            found.append(("latest", [{"index": self.data_index, "ignore_unavailable": True}, LATEST]))
        return found

    def msearch(self, searches: list, what: str) -> list:
        lines = [line for _, pair in searches for line in pair]
        return self.retrier.retry(lambda: _msearch_answers(self.client.msearch(
            searches=lines, filter_path=SEEN_FILTER_PATH).body, searches), what, needs=self.needs)

    def records(self, query: dict, size: int, limit: float = math.inf, hits=None, total=None) -> tuple[list, int]:
        """The bench's records matching query, from hits (of total) on, by search_after in pieces."""
        def search(want: int, so_far: list):
            after = {"search_after": so_far[-1]["sort"]} if so_far else {}
            return self.retrier.retry(lambda: _page(self.client.search(
                index=self.key, **_records_body(query, want), **after, ignore_unavailable=True,
                filter_path=RECORDS_FILTER_PATH).body, sort=True),
                f"reading the bench's records from {self.key!r}", needs=f"read on {self.key}")
        found, total, _ = _in_pieces(search, size, limit, hits, total)
        return found, total

    def mine(self, answers: list | None) -> tuple[list, int | None, bool]:
        """(the bench's records, the last hour the data index holds, whether the recent records
        were too many to read) from the answers to searches() past the AI's indices (None: read
        on their own)."""
        if answers is None:
            acting = recent = ([], None)
            latest = self.latest() if self.data_index else None
        else:
            for answer in answers:
                if "error" in answer:
                    raise IndexingError(f"reading the bench's records failed: HTTP {answer.get('status')} "
                                        f"{str(answer['error'])[:200]}")
            acting, recent = _page(answers[0], sort=True), _page(answers[1], sort=True)
            latest = self._latest(answers[2]) if self.data_index else None
        records, _ = self.records(_acting_query(self.window), RECORDS_PAGE, math.inf, *acting)
        more, total = self.records(_recent_query(self.window), RECENT_RECORDS, RECENT_RECORDS, *recent)
        return records + more, latest, (total or 0) > len(more)

    def latest(self) -> int | None:
        return self._latest(self.retrier.retry(lambda: self.client.search(
            index=self.data_index, **LATEST, ignore_unavailable=True).body,
            f"reading the last hour {self.data_index!r} holds", needs=f"read on {self.data_index}"))

    def _latest(self, answer) -> int | None:
        hits, _ = _page(answer)
        return ledger.claimed(hits[0]["_source"]) if hits else None

    def inbox(self, name: str, fields: tuple, until: float) -> list:
        """The AI's documents in the window, in pieces (the one answer was too large); a document
        whose answer alone is too large is read by its id only (ledger.TOO_LARGE)."""
        what, needs = f"reading {name!r} in pieces", f"read on {name}"

        def search(size: int, hits: list, source=list(fields)):
            got, total = self.retrier.retry(lambda: _page(self.client.search(
                index=name, query=_claiming(self.window), from_=len(hits), size=size, source=source,
                track_total_hits=True, ignore_unavailable=True).body, source=False), what, needs=needs)
            return [ledger.kept(hit, fields) for hit in got], total

        def single(hits: list, limit: int) -> dict:
            (hit,), _ = search(1, hits, source=False)
            logger.warning("document %s of %r is larger than %d bytes: recorded by its id only",
                           config.shown(hit["_id"]), name, limit)
            return ledger.unread(hit["_id"], limit)

        try:
            hits, total, done = _in_pieces(search, INBOX_PIECE, MAX_INBOX, single=single, until=until)
        except RecursionError:
            logger.warning("cannot read %r this run (a document nested too deeply): nothing read from it", name)
            return []
        except (CredentialsError, OutOfTime):
            raise
        except IndexingError as exc:  # a mapping the AI broke
            logger.warning("cannot read %r this run (%s): nothing read from it", name, exc)
            return []
        if not done:
            logger.warning("reading %r in pieces took over %d s: %d documents read this run, the rest wait",
                           name, INBOX_SECONDS, len(hits))
        elif (total or 0) > len(hits):
            logger.warning("%d documents in %r claim %s to %s: %d read this run, the rest wait",
                           total, name, self.window.recent, self.window.stop, len(hits))
        return hits


def _inbox_hits(name: str, fields: tuple, answer: dict, window: ledger.Window) -> list:
    """What the run keeps of the hits of one of the AI's indices in the one search (ledger.kept)."""
    if "error" in answer:
        logger.warning("cannot read %r this run (HTTP %s): nothing read from it", name, answer.get("status"))
        return []
    hits, total = _page(answer, source=False)
    if total > len(hits):
        logger.warning("%d documents in %r claim %s to %s: %d read this run, the rest wait",
                       total, name, window.recent, window.stop, len(hits))
    return [ledger.kept(hit, fields) for hit in hits]


def read_seen(client, window: ledger.Window, answer_key_index: str, remediation_index: str | None = None,
              findings_index: str | None = None, retrier: Retrier | None = None,
              data_index: str | None = None) -> ledger.Seen:
    """What the AI wrote in window and what the bench recorded of it: one _msearch.

    The AI's indices: only the fields the bench reads, at most MAX_INBOX documents each (more
    are logged and left for later runs); a missing index holds nothing, and one the search
    cannot read (a mapping the AI broke, a document nested too deeply to parse) holds nothing
    this run, with a warning. An answer longer than the client reads (AnswerTooLarge) is read
    again in pieces (_Reads.inbox). The bench's records: those of remediations that act in the
    window, all of them (search_after past a page), and those of the recent documents, up to
    RECENT_RECORDS, past which those of the documents read are looked up by digest; so what
    the AI wrote long ago weighs nothing. data_index: also the last hour it holds (Seen.latest).
    """
    inboxes = [(name, fields) for name, fields in ((remediation_index, ledger.REMEDIATION_FIELDS),
                                                   (findings_index, ledger.FINDING_FIELDS)) if name]
    reads = _Reads(client, window, answer_key_index, inboxes, _patient(retrier), data_index)
    names = ", ".join(name for name, _ in inboxes)
    what = f"reading what the AI wrote ({names}) and the bench's records" if inboxes else "reading the bench's records"
    try:
        answers = reads.msearch(reads.searches(), what)
        found = {name: _inbox_hits(name, fields, answer, window) for (name, fields), answer in zip(inboxes, answers)}
        answers = answers[len(inboxes):]
    except RecursionError:
        if not inboxes:
            raise
        # A document of the AI's nested deeper than the JSON parser goes: its indices hold
        # nothing this run (the bench's records read alone), never a failed run.
        logger.warning("cannot read %s this run (a document nested too deeply): nothing read from them",
                       ", ".join(repr(name) for name, _ in inboxes))
        answers, found = None, {}
    except AnswerTooLarge as exc:
        logger.warning("%s: %s; reading them in pieces", what, exc)
        until = monotonic() + INBOX_SECONDS
        answers, found = None, {name: reads.inbox(name, fields, until) for name, fields in inboxes}
    hits, latest, partial = reads.mine(answers)
    records = {hit["_id"]: hit["_source"] for hit in hits}  # one record may be in both searches
    if partial:
        records.update((hit["_id"], hit["_source"]) for hit in _looked_up(reads, found, records.values()))
    return ledger.Seen(found.get(remediation_index, []), found.get(findings_index, []), list(records.values()),
                       latest)


def _looked_up(reads: _Reads, found: dict, records) -> list:
    """The bench's records (hits) of the documents read that the recent ones read did not hold
    (they were too many to read): by digest, in pieces."""
    known = {record.get("digest") for record in records}
    digests = sorted({ledger.version(hit, fields)[2] for name, fields in reads.inboxes
                      for hit in found.get(name, [])} - known)
    if not digests:
        return []
    query = {"bool": {"filter": [{"terms": {"kind": list(ledger.KINDS)}}, {"terms": {"digest": digests}}]}}
    return reads.records(query, RECORDS_PAGE)[0]


def read_records(client, answer_key_index: str, query: dict, retrier: Retrier | None = None) -> list:
    """The bench's records (of ledger.KINDS) matching query, all of them (a scroll); none without the index."""
    query = {"bool": {"filter": [{"terms": {"kind": list(ledger.KINDS)}}, query]}}
    return [source for _, source in read_documents(client, answer_key_index, query, [{"incident_id": "asc"}],
                                                   retrier=retrier, missing_ok=True)]


def write_remediation(client, index: str, doc_id: str, document: dict, retrier: Retrier | None = None) -> None:
    """Index one remediation, visible to the next search when this returns (refresh=wait_for)."""
    _patient(retrier).retry(
        lambda: client.index(index=index, id=doc_id, document=document, refresh="wait_for"),
        f"writing remediation {doc_id!r} to {index!r}",
        needs=f"write on {index}",
    )


SCROLL_PAGE = 5000
SCROLL_KEEP_ALIVE = "2m"


def read_documents(client, index: str, query: dict, sort: list, source: list | None = None,
                   retrier: Retrier | None = None, missing_ok: bool = False):
    """Yield (_id, _source) of every document of index matching query, in sort order
    (missing_ok: nothing, rather than an error, if the index does not exist).

    A scroll: one consistent snapshot, on any mapping and on engines without point in time.
    The opening search is retried; a later page is not, since a retried page can skip one.
    missing_ok: a missing index holds nothing (else it is an error).
    """
    from elasticsearch import ApiError, TransportError

    what = f"reading index {index!r}"
    page = _patient(retrier).retry(
        lambda: _scroll_page(client.search(index=index, query=query, sort=sort, size=SCROLL_PAGE, source=source,
                                           scroll=SCROLL_KEEP_ALIVE, ignore_unavailable=missing_ok or None).body),
        what, needs=f"read on {index}",
    )
    scroll_id = page.get("_scroll_id")
    try:
        while page["hits"]["hits"]:
            for hit in page["hits"]["hits"]:
                yield hit["_id"], hit["_source"]
            try:
                page = _scroll_page(client.scroll(scroll_id=scroll_id, scroll=SCROLL_KEEP_ALIVE).body)
            except (ApiError, TransportError, _MalformedSearch) as exc:
                raise IndexingError(f"{what} failed mid-way (run it again): {_describe(exc)}") from None
            scroll_id = page.get("_scroll_id", scroll_id)
    finally:
        if scroll_id:
            try:
                client.clear_scroll(scroll_id=scroll_id)
            except (ApiError, TransportError):
                pass  # it expires with its keep-alive anyway


def _scroll_page(answer) -> dict:
    """A page of a scroll, checked as _page does, with a string _scroll_id to go on from when it has hits."""
    hits, _ = _page(answer, total=False)
    answer["hits"]["hits"] = hits
    if hits and type(answer.get("_scroll_id")) is not str:
        raise _MalformedSearch("no _scroll_id to go on from")
    return answer


def read_observations(client, index: str, start, end, fields, retrier: Retrier | None = None) -> list:
    """The documents of hours [start, end) (aware datetimes), only fields, by hour then merchant;
    retrier bounds the opening search's retries (default: the CLI's default patience)."""
    query = {"range": {"timestamp": {"gte": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                     "lt": end.strftime("%Y-%m-%dT%H:%M:%SZ")}}}
    sort = [{"timestamp": "asc"}, {"merchant_id": "asc"}]
    return [source for _, source in read_documents(client, index, query, sort, list(fields), retrier)]


def read_events(client, index: str, start, end, retrier: Retrier | None = None) -> list:
    """The change events of hours [start, end) (aware datetimes), by time then id; none if the
    index does not exist (a deployment from before events)."""
    query = {"range": {"timestamp": {"gte": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                     "lt": end.strftime("%Y-%m-%dT%H:%M:%SZ")}}}
    sort = [{"timestamp": "asc"}, {"event_id": "asc"}]
    return [source for _, source in read_documents(client, index, query, sort, retrier=retrier, missing_ok=True)]
