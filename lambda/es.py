"""All Elasticsearch I/O: the client, the index template, bulk indexing, remediations.

Retries are safe because every document has a deterministic _id and is
written with op_type index: a retried or duplicated request overwrites the
same documents. Failures are collected per run and raised once, so healthy
documents are still indexed when a few are rejected.
"""

from __future__ import annotations

import json
import logging
import time

logger = logging.getLogger("pp_merchantai.es")

# The client is imported inside the functions that use it, not at module load:
# a dry run or an --output run never pays its ~170 ms import.

# Documents per _bulk request: ~850 KB, well inside Elasticsearch's
# recommended 5-15 MB, small enough for a 512 MB Lambda.
CHUNK_SIZE = 2000
REQUEST_TIMEOUT_S = 10
# Whole-request statuses and per-item statuses worth retrying (back pressure,
# a node or proxy restarting); anything else is permanent.
RETRY_STATUSES = (429, 502, 503, 504)
STATUS_RETRIES = 2  # by the bulk helper, with backoff 1 s, 2 s
CONNECTION_RETRIES = 2  # connection resets and timeouts, backoff 1 s, 2 s
INITIAL_BACKOFF_S = 1
MAX_BACKOFF_S = 4
# The longest one chunk can take before it succeeds or fails: every attempt
# timing out. Callers with a deadline (Lambda) start a chunk only if this fits.
CHUNK_WORST_CASE_S = (CONNECTION_RETRIES + 1) * (
    (STATUS_RETRIES + 1) * REQUEST_TIMEOUT_S + sum(INITIAL_BACKOFF_S * 2**i for i in range(STATUS_RETRIES))
) + sum(INITIAL_BACKOFF_S * 2**i for i in range(CONNECTION_RETRIES))
# Only what the bulk helper and our failure reasons read: the helper zips
# items with the documents sent and reads each item's status (so every item
# must stay), the reasons quote _id and error. Cuts the response's size and
# parsing by about two thirds.
BULK_FILTER_PATH = "items.*._id,items.*.status,items.*.error"
# Reasons quoted in a BulkError and logged: enough to diagnose, not a flood.
REASONS_SHOWN = 3

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
        "seed": {"type": "long"},
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


class BulkError(IndexingError):
    """Some documents were rejected for good; the others were indexed."""

    def __init__(self, failed: int, total: int, reasons: list):
        self.failed = failed
        self.reasons = reasons
        super().__init__(
            f"{failed} of {total} documents failed to index: " + "; ".join(reasons)
        )


def connect(host: str, *, api_key: str | None = None, basic_auth: tuple | None = None):
    from elasticsearch import Elasticsearch

    return Elasticsearch(
        host,
        api_key=api_key,
        basic_auth=basic_auth,
        # requests, so tests can intercept with the responses library.
        node_class="requests",
        request_timeout=REQUEST_TIMEOUT_S,
        # Retries live in this module, with backoff and a known worst case;
        # the transport's own are immediate and would multiply with ours.
        max_retries=0,
    )


def _describe(exc: Exception) -> str:
    from elasticsearch import ApiError

    if isinstance(exc, ApiError):
        return f"HTTP {exc.status_code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _tries(exc: Exception, attempt: int, status_tries: int) -> str:
    """How often a failed call was tried, for its error message."""
    from elasticsearch import ApiError

    if isinstance(exc, ApiError) and exc.status_code in RETRY_STATUSES and status_tries > 1:
        # The call (the bulk helper) retried this status itself.
        if attempt == 0:
            return f"{status_tries} attempt(s)"
        return f"{attempt + 1} attempt(s), the last of {status_tries} requests"
    return f"{attempt + 1} attempt(s)"


def _retrying(call, what: str, statuses: tuple = (), status_tries: int = 1,
              needs: str = "manage_index_templates and write on the index"):
    """call(), retrying connection errors (and statuses) with exponential backoff.

    status_tries: how many requests call() itself makes on a retryable status.
    needs: the privileges to name when the credentials are refused.
    """
    from elastic_transport import ConnectionError as TransportConnectionError
    from elastic_transport import ConnectionTimeout
    from elasticsearch import ApiError, AuthenticationException, AuthorizationException, UnsupportedProductError

    for attempt in range(CONNECTION_RETRIES + 1):
        try:
            return call()
        except (AuthenticationException, AuthorizationException) as exc:
            # No retry storm: credentials do not heal by themselves.
            raise CredentialsError(
                f"Elasticsearch refused {what} with HTTP {exc.status_code}: check ELASTICSEARCH_API_KEY "
                "(or ELASTICSEARCH_USERNAME/ELASTICSEARCH_PASSWORD) and the key's privileges "
                f"(it needs {needs})"
            ) from None
        except UnsupportedProductError as exc:
            raise IndexingError(f"ELASTICSEARCH_HOST does not answer as Elasticsearch: {exc.message}") from None
        except (TransportConnectionError, ConnectionTimeout, ApiError) as exc:
            retryable = not isinstance(exc, ApiError) or exc.status_code in statuses
            if not retryable or attempt == CONNECTION_RETRIES:
                raise IndexingError(f"{what} failed after {_tries(exc, attempt, status_tries)}: {_describe(exc)}") from None
            delay = min(MAX_BACKOFF_S, INITIAL_BACKOFF_S * 2**attempt)
            logger.warning("%s failed (%s); retrying in %s s", what, _describe(exc), delay)
            time.sleep(delay)


def ensure_template(client, index: str, mappings: dict) -> None:
    """Create or update the composable template that maps the index (named after it)."""
    _retrying(
        lambda: client.indices.put_index_template(
            name=index,
            index_patterns=[index],
            priority=TEMPLATE_PRIORITY,
            template={"mappings": mappings},
            meta={"managed_by": "pp-merchantai-data-generator"},
        ),
        f"creating index template {index!r}",
        RETRY_STATUSES,
    )


def read_remediations(client, index: str, start: str, end: str) -> list:
    """Hits ({_id, _source}) of index with start <= timestamp < end, in one search request.

    An index that does not exist yet holds no remediations: not an error.
    Order and validation are remediations.parse's job.
    """
    response = _retrying(
        lambda: client.search(
            index=index,
            query={"range": {"timestamp": {"gte": start, "lt": end}}},
            size=MAX_REMEDIATIONS,
            ignore_unavailable=True,
            filter_path=REMEDIATION_FILTER_PATH,
        ),
        f"reading remediations from {index!r}",
        RETRY_STATUSES,
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


def write_remediation(client, index: str, doc_id: str, document: dict) -> None:
    """Index one remediation, visible to the next search when this returns (refresh=wait_for)."""
    _retrying(
        lambda: client.index(index=index, id=doc_id, document=document, refresh="wait_for"),
        f"writing remediation {doc_id!r} to {index!r}",
        RETRY_STATUSES,
        needs=f"write on {index}",
    )


def _pair(action):
    # Actions arrive pre-serialized as (action line, source line); the
    # helper's serializer passes str through untouched.
    return action


def _item_reason(item: dict) -> str:
    error = item.get("error")
    if isinstance(error, dict):
        error = f"{error.get('type')}: {error.get('reason')}"
    return f"{item.get('_id')}: HTTP {item.get('status')} {error}"


class Indexer:
    """Sends chunks of bulk lines for one run; collects permanent failures across chunks."""

    def __init__(self, client):
        self.client = client
        self.failed = 0
        self.reasons: list = []

    def send(self, pairs: list, records: int = 0) -> int:
        """Index one chunk in one _bulk request (plus retries); returns how many of its documents succeeded.

        The first `records` pairs are answer-key records: sent alike, failed alike, not counted as documents.
        """
        from elasticsearch import helpers

        def bulk():
            return [
                info
                for ok, info in helpers.streaming_bulk(
                    self.client,
                    pairs,
                    chunk_size=len(pairs),
                    expand_action_callback=_pair,
                    raise_on_error=False,
                    yield_ok=False,
                    max_retries=STATUS_RETRIES,
                    initial_backoff=INITIAL_BACKOFF_S,
                    max_backoff=MAX_BACKOFF_S,
                    retry_on_status=RETRY_STATUSES,
                    filter_path=BULK_FILTER_PATH,
                )
            ]

        failures = _retrying(bulk, f"bulk request of {len(pairs)} documents", status_tries=STATUS_RETRIES + 1)
        record_ids = {json.loads(action)["index"]["_id"] for action, _ in pairs[:records]} if failures else ()
        failed_documents = 0
        for failure in failures:
            (item,) = failure.values()
            self.failed += 1
            failed_documents += item.get("_id") not in record_ids
            if len(self.reasons) < REASONS_SHOWN:
                self.reasons.append(_item_reason(item))
                logger.error("document rejected: %s", self.reasons[-1])
        return len(pairs) - records - failed_documents

    def raise_failures(self, total: int) -> None:
        if self.failed:
            raise BulkError(self.failed, total, self.reasons)


# Hits per page of a scroll: well inside index.max_result_window (10,000).
SCROLL_PAGE = 5000
SCROLL_KEEP_ALIVE = "2m"


def read_documents(client, index: str, query: dict, sort: list, source: list | None = None):
    """Yield (_id, _source) of every document of index matching query, in sort order.

    A scroll: one consistent snapshot, on any mapping and on engines without point in time.
    The opening search is retried; a later page is not, since a retried page can skip one.
    """
    from elasticsearch import ApiError, TransportError

    what = f"reading index {index!r}"
    page = _retrying(
        lambda: client.search(index=index, query=query, sort=sort, size=SCROLL_PAGE, source=source,
                              scroll=SCROLL_KEEP_ALIVE),
        what, RETRY_STATUSES, needs=f"read on {index}",
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


def read_observations(client, index: str, start, end, fields) -> list:
    """The documents of hours [start, end) (aware datetimes), only fields, by hour then merchant."""
    query = {"range": {"timestamp": {"gte": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                     "lt": end.strftime("%Y-%m-%dT%H:%M:%SZ")}}}
    sort = [{"timestamp": "asc"}, {"merchant_id": "asc"}]
    return [source for _, source in read_documents(client, index, query, sort, list(fields))]
