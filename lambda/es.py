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

import itertools
import json
import logging
import math
import random
import threading
import time
import weakref

import config

logger = logging.getLogger("pp_merchantai.es")

# The client is imported inside the functions that use it, not at module load:
# a dry run or an --output run never pays its ~170 ms import.

# Documents per _bulk request: ~850 KB, well inside Elasticsearch's
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
        # REMEDIATION=on (remediations.answer_fields).
        "resolved_by": {"type": "keyword"},
        "resolved_at": {"type": "date"},
        "remediation_id": {"type": "keyword"},
        "wrong_actions": {
            "properties": {
                "remediation_id": {"type": "keyword"},
                "action": {"type": "keyword"},
                "timestamp": {"type": "date"},
                "merchant_id": {"type": "keyword"},
                "payment_provider": {"type": "keyword"},
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
# One search reads every remediation a run needs: Elasticsearch's default
# index.max_result_window. More in one window is refused by name, not cut.
MAX_REMEDIATIONS = 10_000
REMEDIATION_FILTER_PATH = "hits.total,hits.hits._id,hits.hits._source"


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


class _Malformed(Exception):
    """A 200 answer to a _bulk that does not say what happened to every action: retried whole."""


def connect(host: str, *, api_key: str | None = None, basic_auth: tuple | None = None):
    from elasticsearch import Elasticsearch

    return Elasticsearch(
        host,
        api_key=api_key,
        basic_auth=basic_auth,
        # requests, so tests can intercept with the responses library.
        node_class="requests",
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
        return f"malformed _bulk answer: {exc}"
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


def _item_reason(item: dict) -> str:
    error = item.get("error")
    if isinstance(error, dict):
        error = f"{error.get('type')}: {error.get('reason')}"
    return f"{item.get('_id')}: HTTP {item.get('status')} {error}"


# The privileges named when Elasticsearch refuses the generator's own requests.
WRITER_NEEDS = "manage_index_templates, and write and auto_configure on the data and answer-key indices"


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
        return _items(answer, pairs)

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
                rejected = []
                for pair, item in zip(pairs, items):
                    status = item["status"]
                    if 200 <= status < 300:
                        indexed += pair[0] not in self._records
                    elif status in RETRY_STATUSES:
                        retry.append(pair)
                        rejected.append(item)
                    else:
                        self._fail(_item_reason(item))
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

    def send(self, pairs: list, records: int = 0) -> int:
        """Index one chunk, in requests of at most self.size pairs; returns how many of its documents succeeded.

        The first `records` pairs are answer-key records: sent alike, failed alike, not counted as documents.
        Raises OutOfTime (with what of the chunk was done) when a retry no longer fits.
        """
        self._put_templates()
        self._records = {action for action, _ in pairs[:records]}
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


# Hits per page of a scroll: well inside index.max_result_window (10,000).
def read_remediations(client, index: str, start: str, end: str, retrier: Retrier | None = None) -> list:
    """Hits ({_id, _source}) of index with start <= timestamp < end, in one search request.

    An index that does not exist yet holds no remediations: not an error.
    Order and validation are remediations.parse's job.
    """
    response = _patient(retrier).retry(
        lambda: client.search(
            index=index,
            query={"range": {"timestamp": {"gte": start, "lt": end}}},
            size=MAX_REMEDIATIONS,
            ignore_unavailable=True,
            filter_path=REMEDIATION_FILTER_PATH,
        ),
        f"reading remediations from {index!r}",
        needs=f"read on {index}",
    ).body
    hits = response.get("hits", {})
    found = hits.get("hits", [])  # filter_path drops an empty list
    total = hits.get("total", {"value": 0, "relation": "eq"})
    if total["relation"] != "eq" or total["value"] > len(found):
        raise IndexingError(
            f"more than {MAX_REMEDIATIONS} remediations in {index!r} between {start} and {end}: "
            "one run reads them in one search; delete the excess"
        )
    return found


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
                   retrier: Retrier | None = None):
    """Yield (_id, _source) of every document of index matching query, in sort order.

    A scroll: one consistent snapshot, on any mapping and on engines without point in time.
    The opening search is retried; a later page is not, since a retried page can skip one.
    """
    from elasticsearch import ApiError, TransportError

    what = f"reading index {index!r}"
    page = _patient(retrier).retry(
        lambda: client.search(index=index, query=query, sort=sort, size=SCROLL_PAGE, source=source,
                              scroll=SCROLL_KEEP_ALIVE),
        what, needs=f"read on {index}",
    )
    scroll_id = page.get("_scroll_id")
    try:
        while page["hits"]["hits"]:
            for hit in page["hits"]["hits"]:
                yield hit["_id"], hit["_source"]
            try:
                page = client.scroll(scroll_id=scroll_id, scroll=SCROLL_KEEP_ALIVE)
            except (ApiError, TransportError) as exc:
                raise IndexingError(f"{what} failed mid-way (run it again): {_describe(exc)}") from None
            scroll_id = page.get("_scroll_id", scroll_id)
    finally:
        if scroll_id:
            try:
                client.clear_scroll(scroll_id=scroll_id)
            except (ApiError, TransportError):
                pass  # it expires with its keep-alive anyway


def read_observations(client, index: str, start, end, fields, retrier: Retrier | None = None) -> list:
    """The documents of hours [start, end) (aware datetimes), only fields, by hour then merchant;
    retrier bounds the opening search's retries (default: the CLI's default patience)."""
    query = {"range": {"timestamp": {"gte": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                     "lt": end.strftime("%Y-%m-%dT%H:%M:%SZ")}}}
    sort = [{"timestamp": "asc"}, {"merchant_id": "asc"}]
    return [source for _, source in read_documents(client, index, query, sort, list(fields), retrier)]
