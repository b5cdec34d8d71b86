"""What the bench saw of the AI's documents, and when: the hours that count are the bench's. Pure.

The AI writes remediations and findings with a `timestamp`: its claim. The hourly run
records, in the answer-key index where the AI cannot write, the first hour of the first
run that saw each version of a document (its id and a digest of the fields the bench
reads). The hour that counts is the claim, but never earlier than the hour before that
run: the last hour whose data the AI could have seen when it wrote. Every later run and
the scorer use the recorded hour, so re-runs stay byte-identical and back-dating gains
nothing. A rewritten document is a new version, seen when its new content is first read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from config import EventError, parse_time
from generator import hour_index, stamp

# A document claiming an hour more than this long before a run's first hour is not read by
# that run: back-dating gains nothing (it counts from the hour before the run that sees it),
# and each run re-reads only this much of the AI's indices to tell new documents from seen ones.
LATE_HOURS = 24

REMEDIATION_SEEN = "remediation_seen"
FINDING_SEEN = "finding_seen"
KINDS = (REMEDIATION_SEEN, FINDING_SEEN)

# The only fields the bench asks for: never a note, never a field it does not know.
REMEDIATION_FIELDS = ("merchant_id", "payment_provider", "action", "timestamp", "incident_id")
FINDING_FIELDS = ("merchant_id", "issue", "timestamp", "root_cause")
# A finding is recorded whole (what the bench read of it), so the AI cannot delete or rewrite a
# finding once seen; one larger than this is recorded without its content, as malformed.
MAX_FINDING_BYTES = 2048
# What a run keeps of a remediation it reads, as JSON: a larger one is malformed whatever it holds
# (an honest one is a few hundred bytes), and only its id, digest and claim are kept (kept), so
# MAX_INBOX of them weigh little whatever the AI wrote. A finding's limit is MAX_FINDING_BYTES.
MAX_REMEDIATION_BYTES = 4096
# Keys of a hit kept without its content: the reason it is malformed, and its version's digest.
TOO_LARGE = "too_large"
DIGEST = "digest"

@dataclass(frozen=True)
class Window:
    """Hour stamps of one read: the bench's records that act in [lo, stop), and the AI's
    documents (and the records of their versions) that claim an hour in [recent, stop)."""

    lo: str
    recent: str
    stop: str


@dataclass
class Seen:
    """One read: the AI's documents in the window (hits, only the fields the bench reads) and
    the bench's records of the window (answer-key records of the KINDS)."""

    remediations: list = field(default_factory=list)
    findings: list = field(default_factory=list)
    records: list = field(default_factory=list)
    latest: int | None = None  # the last hour the data index held when the run began


def first_seen(seen: Seen, start: int) -> int:
    """The hour at which a run whose first hour is start sees what it reads first: that hour,
    or, when hours from it on were generated already (a re-run, a backfill over them), the hour
    after the last one: the AI may have seen all of them before it wrote, so nothing new may
    act in them."""
    return start if seen.latest is None else max(start, seen.latest + 1)


def project(source, fields: tuple):
    """What the bench reads of a document: the fields it asks for, as the search returns them."""
    if not isinstance(source, dict):
        return source
    return {name: source[name] for name in fields if name in source}


def version(hit: dict, fields: tuple) -> tuple[str, object, str]:
    """(the id, what the bench reads, the digest of that version) of a search hit, as kept."""
    doc_id, source = str(hit.get("_id")), project(hit.get("_source"), fields)
    return doc_id, source, hit.get(DIGEST) or digest(doc_id, source)


def _size(source) -> int:
    return len(json.dumps(source, separators=(",", ":")).encode())


def kept(hit: dict, fields: tuple) -> dict:
    """What a run keeps of a hit of the AI's: itself, or for one larger than its kind's limit (as
    the bench reads it), its id, digest and claim, and why it is malformed (too_large)."""
    limit = MAX_FINDING_BYTES if fields == FINDING_FIELDS else MAX_REMEDIATION_BYTES
    doc_id, source, key = version(hit, fields)
    if too_large(hit) or _size(source) <= limit:
        return hit
    claim = source.get("timestamp") if isinstance(source, dict) else None
    return {"_id": doc_id, "_source": {"timestamp": claim} if isinstance(claim, str) and len(claim) <= 64 else {},
            DIGEST: key, TOO_LARGE: f"larger than {limit} bytes"}


def unread(doc_id: str, limit: int) -> dict:
    """The hit of a document whose answer alone is longer than the run reads (limit): its id only."""
    return {"_id": doc_id, TOO_LARGE: f"larger than the {limit} bytes a run reads of one answer"}


def too_large(hit: dict) -> str | None:
    """Why a hit kept without its content is malformed, or None for a hit kept whole."""
    return hit.get(TOO_LARGE)


def digest(doc_id: str, source) -> str:
    """One version of one document: its id and the fields the bench reads (128 bits, hex)."""
    text = json.dumps([doc_id, source], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def claimed(source) -> int | None:
    """The hour the document claims (its timestamp, floored), or None when it has none."""
    value = source.get("timestamp") if isinstance(source, dict) else None
    try:
        return hour_index(parse_time(value, "timestamp")) if isinstance(value, str) else None
    except EventError:
        return None


def real_hour(claim: int | None, seen: int) -> int:
    """The hour that counts: the claim, never before the hour before the first run that saw it."""
    return seen - 1 if claim is None else max(claim, seen - 1)


def record(kind: str, doc_id: str, source, key: str, seen: int, **fields) -> dict:
    """The bench's record of one version of a document (key: its digest), first seen by a run
    starting at hour seen."""
    claim = claimed(source)
    moment = None
    if claim is not None:
        moment = parse_time(source["timestamp"], "timestamp").strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"incident_id": f"{kind}-{key}", "kind": kind, "digest": key, "seen_at": stamp(seen),
            "claimed_at": moment, "timestamp": stamp(real_hour(claim, seen)), **fields}


def _flat(value, depth: int) -> bool:
    """Whether value is a scalar, or an object at most depth levels deep over scalars: what the
    bench copies into its records, so no record it reads back can nest deeper than that."""
    if isinstance(value, dict):
        return depth > 0 and all(_flat(item, depth - 1) for item in value.values())
    return value is None or isinstance(value, (str, int, float, bool))


def new_findings(seen: Seen, first: int) -> list:
    """Records of the findings no run has recorded yet, seen by a run whose first hour is first."""
    known = {r["digest"] for r in seen.records if r["kind"] == FINDING_SEEN}
    out = []
    for hit in seen.findings:
        doc_id, source, key = version(hit, FINDING_FIELDS)
        made = record(FINDING_SEEN, doc_id, source, key, first, finding_id=doc_id)
        if too_large(hit) or _size(source) > MAX_FINDING_BYTES:
            made["malformed"] = too_large(hit) or f"larger than {MAX_FINDING_BYTES} bytes"
        elif not _flat(source, 2):
            made["malformed"] = "not an object of strings (root_cause: an object of strings)"
        else:
            made["finding"] = source
        if made["digest"] not in known:
            known.add(made["digest"])
            out.append(made)
    return out

