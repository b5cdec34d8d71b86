"""Remediations: the AI's actions, and what they do to the incidents they touch. Pure.

A remediation document names a target (merchant_id or payment_provider), an
action, and the data hour at which the AI claims it acted (timestamp). It acts in
the hour the bench recorded for it (ledger.real_hour): the claim, never before the
hour before the first run that saw it. An accepted action, aimed at the incident's
own scope while it has not started to recover, starts its recovery at the next hour.
Anything else fixes nothing: it is recorded as a wrong action on the incidents it
touched, or on its own when it touched none, and does the harm its action does when
it is not needed (catalog side effects). Intervals only ever shrink, so hours before
an action never change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime

import ledger
from config import EventError, parse_time
from generator import hour_index, stamp

# An incident that waits for a fix recovers by itself this long after its onset.
CAP_HOURS = 7 * 24

REMEDIATION = "remediation"
TIMEOUT = "timeout"
# The answer-key kind of a remediation that touched no active incident (or was refused).
UNMATCHED = "unmatched_action"
# At most this many new remediation documents act per data hour; the rest are refused.
RATE_LIMIT = 50
RATE_LIMITED = "rate_limit"

TARGETS = ("merchant_id", "payment_provider")
# Ids, actions, targets and the AI's incident_id are copied into keyword fields and _ids of the
# answer key (Elasticsearch refuses terms over 32,766 bytes, _ids over 512): a longer one makes
# the document malformed.
MAX_TEXT_BYTES = 128


@dataclass(frozen=True)
class Remediation:
    id: str
    time: datetime  # as written (UTC); orders the remediations
    hour: int  # the data hour it acts in, in hours since the epoch
    action: str
    merchant_id: str | None = None
    payment_provider: str | None = None
    claim: int | None = None  # the hour the AI claimed, when the bench's hour differs from it
    digest: str = ""  # the version the bench recorded (ledger.digest)
    refused: str | None = None  # RATE_LIMITED: recorded, never acted on


@dataclass(frozen=True)
class Skipped:
    id: str
    reason: str


def _size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def bounded_id(doc_id: str) -> str:
    """An AI's id as the bench shows and records it: itself up to MAX_TEXT_BYTES, else
    sha256-<its hex digest>, which fits every keyword field and _id."""
    if _size(doc_id) <= MAX_TEXT_BYTES:
        return doc_id
    return "sha256-" + hashlib.sha256(doc_id.encode("utf-8", "surrogatepass")).hexdigest()


def _bounded(value: str, name: str) -> str:
    if _size(value) > MAX_TEXT_BYTES:
        raise ValueError(f"{name} is longer than {MAX_TEXT_BYTES} bytes")
    return value


def _optional_text(source: dict, name: str) -> str | None:
    value = source.get(name)
    if value is not None and not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


def _parse_one(doc_id: str, source) -> Remediation:
    if not isinstance(source, dict):
        raise ValueError("the document is not a JSON object")
    _bounded(doc_id, "_id")
    targets = [name for name in TARGETS if source.get(name) is not None]
    if len(targets) != 1:
        raise ValueError("exactly one of merchant_id or payment_provider is required")
    (target,) = targets
    if not isinstance(source[target], str) or not source[target]:
        raise ValueError(f"{target} must be a non-empty string")
    _bounded(source[target], target)
    action = source.get("action")
    if not isinstance(action, str) or not action:
        raise ValueError("action must be a non-empty string")
    _bounded(action, "action")
    incident_id = _optional_text(source, "incident_id")
    if incident_id is not None:
        _bounded(incident_id, "incident_id")
    if "timestamp" not in source:
        raise ValueError("timestamp is missing")
    try:
        moment = parse_time(source["timestamp"], "timestamp")
    except EventError as exc:
        raise ValueError(str(exc)) from None
    return Remediation(
        id=doc_id,
        time=moment,
        hour=hour_index(moment),
        action=action,
        **{target: source[target]},
    )


# A malformed document's reason, as recorded: enough to fix it, never a flood.
MAX_REASON = 200


def _seen_record(hit, seen: int) -> dict:
    """The bench's record of a version of a remediation document first seen by a run starting at seen."""
    doc_id, source, key = ledger.version(hit, ledger.REMEDIATION_FIELDS)
    made = ledger.record(ledger.REMEDIATION_SEEN, doc_id, source, key, seen, remediation_id=bounded_id(doc_id),
                         action=None, merchant_id=None, payment_provider=None, refused=None,
                         malformed=ledger.too_large(hit))
    if made["malformed"]:
        return made
    try:
        r = _parse_one(doc_id, source)
    except ValueError as exc:
        made["malformed"] = str(exc)[:MAX_REASON]
        return made
    made.update(action=r.action, merchant_id=r.merchant_id, payment_provider=r.payment_provider)
    return made


def _hour(text: str) -> int:
    return hour_index(parse_time(text, "timestamp"))


def _from_record(record: dict) -> Remediation:
    moment = parse_time(record["claimed_at"], "claimed_at")
    return Remediation(record["remediation_id"], moment, _hour(record["timestamp"]), record["action"],
                       merchant_id=record.get("merchant_id"), payment_provider=record.get("payment_provider"),
                       claim=hour_index(moment), digest=record["digest"], refused=record.get("refused"))


def _record_order(record: dict) -> tuple:
    return record["timestamp"], record["claimed_at"] or "", record["remediation_id"], record["digest"]


def reconcile(hits, records, seen: int, lo: int, stop: int) -> tuple[list, list, list]:
    """(the remediations that act in hours [lo, stop), in the order they apply; the malformed
    ones (Skipped); the bench's new records).

    records: the bench's remediation records of the window (ledger.Window); hits: the
    remediations index's documents in it. A version with a record acts in its recorded
    hour; any other is seen now, by a run whose first hour is seen. Of the new ones, at most
    RATE_LIMIT act in any hour (counting those already recorded there); the rest are refused.
    """
    known = {r["digest"]: r for r in records if r.get("kind") == ledger.REMEDIATION_SEEN}
    fresh: dict = {}
    for hit in hits:
        made = _seen_record(hit, seen)
        if made["digest"] not in known:
            fresh.setdefault(made["digest"], made)
    acting: dict = {}
    for r in known.values():
        if not (r.get("refused") or r.get("malformed")):
            acting[r["timestamp"]] = acting.get(r["timestamp"], 0) + 1
    new = sorted(fresh.values(), key=_record_order)
    for made in new:
        if made["malformed"] is None:
            if acting.get(made["timestamp"], 0) >= RATE_LIMIT:
                made["refused"] = RATE_LIMITED
            else:
                acting[made["timestamp"]] = acting.get(made["timestamp"], 0) + 1
    window = [r for r in [*known.values(), *new] if lo <= _hour(r["timestamp"]) < stop]
    skipped = sorted((Skipped(r["remediation_id"], r["malformed"]) for r in window if r.get("malformed")),
                     key=lambda s: (s.id, s.reason))
    parsed = [_from_record(r) for r in sorted(window, key=_record_order) if not r.get("malformed")]
    return parsed, skipped, new


def harmful(outcomes: dict, orphans: list) -> list:
    """The remediations that acted and fixed nothing (wrong or unmatched), each once, in order:
    each does the harm its action does where it is not needed."""
    found = {(r.id, r.digest): r for outcome in outcomes.values() for r in outcome.wrong_actions}
    found.update(((r.id, r.digest), r) for r in orphans)
    return sorted(found.values(), key=lambda r: (r.hour, r.time, r.id, r.digest))


@dataclass(frozen=True)
class Span:
    """What remediations need to know of one incident; hours since the epoch."""

    incident_id: str
    merchant_ids: tuple
    payment_provider: str | None  # set when the provider is the incident's scope
    onset: int
    recovery_start: int  # as planned
    recovery_hours: int
    accepted: tuple  # accepted actions; () for benign look-alikes
    persistent: bool  # waits for a fix (REMEDIATION=on and the incident requires action)

    def in_scope(self, r: Remediation) -> bool:
        """r aims at this incident's own scope: its provider, or one of its merchants."""
        if self.payment_provider is not None:
            return r.payment_provider == self.payment_provider
        return r.merchant_id in self.merchant_ids

    def touches(self, r: Remediation) -> bool:
        """r acts on something this incident affects (a merchant of a provider outage too)."""
        return self.in_scope(r) or (r.merchant_id is not None and r.merchant_id in self.merchant_ids)


@dataclass(frozen=True)
class Outcome:
    recovery_start: int
    end: int  # exclusive
    resolved_by: str | None  # "remediation", "timeout" (a persistent one, left alone), or None
    resolved_at: int | None  # the hour of the fixing action, or of the timeout
    remediation_id: str | None
    wrong_actions: tuple = field(default=())  # Remediation, in the order they came


def planned(span: Span) -> Outcome:
    """The outcome with no remediation: as planned, or held until the cap when persistent."""
    if span.persistent:
        start = max(span.recovery_start, span.onset + CAP_HOURS)
        return Outcome(start, start + span.recovery_hours, TIMEOUT, start, None)
    return Outcome(span.recovery_start, span.recovery_start + span.recovery_hours, None, None, None)


def apply(spans, remediations) -> tuple[dict, list]:
    """({incident_id: Outcome}, orphans): remediations applied in order to the incidents.

    remediations: in application order (as parse returns them). A remediation
    touching no active incident is an orphan.
    """
    outcomes = {span.incident_id: planned(span) for span in spans}
    orphans = []
    for r in remediations:
        touched = [span for span in spans
                   if span.touches(r) and span.onset <= r.hour < outcomes[span.incident_id].end]
        if not touched:
            orphans.append(r)
            continue
        accepted = [span for span in touched if r.action in span.accepted and span.in_scope(r)]
        for span in accepted:
            outcome = outcomes[span.incident_id]
            # Not once it recovers: restarting the ramp would make it worse.
            if r.hour < outcome.recovery_start and outcome.resolved_by != REMEDIATION:
                start = r.hour + 1
                outcomes[span.incident_id] = replace(
                    outcome, recovery_start=start, end=start + span.recovery_hours,
                    resolved_by=REMEDIATION, resolved_at=r.hour, remediation_id=r.id)
        if not accepted:
            for span in touched:
                outcome = outcomes[span.incident_id]
                outcomes[span.incident_id] = replace(outcome, wrong_actions=outcome.wrong_actions + (r,))
    return outcomes, orphans


def search_window(spans, start: int, end: int) -> tuple[int, int]:
    """The hours [lo, end) whose remediations can shape hours [start, end): back to the
    onset of every incident that may still run at start. Remediations only shorten
    incidents, so their planned outcomes bound what overlaps.
    """
    onsets = [span.onset for span in spans if span.onset < end and planned(span).end > start]
    return min([start] + onsets), end


# --- answer-key records ------------------------------------------------------------------


def action_record(r: Remediation) -> dict:
    """timestamp: the hour it acted in (the bench's); claimed_at: the hour the AI claimed."""
    target = {"merchant_id": r.merchant_id} if r.merchant_id else {"payment_provider": r.payment_provider}
    return {"remediation_id": r.id, "action": r.action, "timestamp": stamp(r.hour),
            "claimed_at": stamp(r.hour if r.claim is None else r.claim), **target}


def answer_fields(outcome: Outcome) -> dict:
    """What an incident's answer-key record says of its remediations."""
    return {
        "resolved_by": outcome.resolved_by,
        "resolved_at": None if outcome.resolved_at is None else stamp(outcome.resolved_at),
        "remediation_id": outcome.remediation_id,
        "wrong_actions": [action_record(r) for r in outcome.wrong_actions],
    }


def unmatched_record(r: Remediation, scenario: str, seed_digest: str) -> dict:
    """The answer-key record of a remediation that touched no active incident, or that was refused
    (then with `refused`): one hour, no issue."""
    # By the version the bench recorded: two versions of one document are two acts.
    record = {"incident_id": f"{UNMATCHED}-{r.digest or bounded_id(r.id)}", "kind": UNMATCHED, "is_issue": False,
              "issues": [],
              "merchant_ids": [r.merchant_id] if r.merchant_id else []}
    if r.payment_provider:
        record["payment_provider"] = r.payment_provider
    record.update(onset=stamp(r.hour), end=stamp(r.hour + 1), remediation=[], scenario=scenario, seed_digest=seed_digest,
                  resolved_by=None, resolved_at=None, remediation_id=None, wrong_actions=[action_record(r)])
    if r.refused:
        record["refused"] = r.refused
    return record
