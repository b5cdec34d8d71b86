"""Remediations: the AI's actions, and what they do to the incidents they touch. Pure.

A remediation document names a target (merchant_id or payment_provider), an
action, and the data hour at which the AI acted (timestamp). An accepted
action, aimed at the incident's own scope while it has not started to recover,
starts its recovery at the next hour. Anything else changes no data: it is
recorded as a wrong action on the incidents it touched, or on its own when it
touched none. Intervals only ever shrink, so hours before an action never change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime

from config import EventError, parse_time
from generator import hour_index, stamp

# An incident that waits for a fix recovers by itself this long after its onset.
CAP_HOURS = 7 * 24

REMEDIATION = "remediation"
TIMEOUT = "timeout"
# The answer-key kind of a remediation that touched no active incident.
UNMATCHED = "unmatched_action"

TARGETS = ("merchant_id", "payment_provider")
FIELDS = frozenset(TARGETS + ("action", "timestamp", "incident_id", "note"))
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
    incident_id: str | None = None  # the AI's own reference; never used for matching
    note: str | None = None


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


def _field_names(names: list) -> str:
    """Unknown field names as a message shows them: the first few, each cut short."""
    shown = [name if name.isprintable() and len(name) <= 40 else repr(name[:40]) + "..." * (len(name) > 40)
             for name in names[:5]]
    return ", ".join(shown) + (f" and {len(names) - 5} more" if len(names) > 5 else "")


def _parse_one(doc_id: str, source) -> Remediation:
    if not isinstance(source, dict):
        raise ValueError("the document is not a JSON object")
    _bounded(doc_id, "_id")
    unknown = sorted(set(source) - FIELDS)
    if unknown:
        raise ValueError(f"unknown fields: {_field_names(unknown)}")
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
        incident_id=incident_id,
        note=_optional_text(source, "note"),
        **{target: source[target]},
    )


def parse(hits) -> tuple[list, list]:
    """(remediations in the order they apply: timestamp, then id; skipped documents with reasons).

    hits: search hits, {"_id": ..., "_source": {...}}. A malformed document is
    skipped, never fatal: the caller logs it and the scorer reports it.
    """
    parsed, skipped = [], []
    for hit in hits:
        doc_id = str(hit.get("_id"))
        try:
            parsed.append(_parse_one(doc_id, hit.get("_source")))
        except ValueError as exc:
            skipped.append(Skipped(bounded_id(doc_id), str(exc)))
    parsed.sort(key=lambda r: (r.time, r.id))
    skipped.sort(key=lambda s: s.id)
    return parsed, skipped


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
    target = {"merchant_id": r.merchant_id} if r.merchant_id else {"payment_provider": r.payment_provider}
    return {"remediation_id": r.id, "action": r.action, "timestamp": stamp(r.hour), **target}


def answer_fields(outcome: Outcome) -> dict:
    """What an incident's answer-key record says of its remediations."""
    return {
        "resolved_by": outcome.resolved_by,
        "resolved_at": None if outcome.resolved_at is None else stamp(outcome.resolved_at),
        "remediation_id": outcome.remediation_id,
        "wrong_actions": [action_record(r) for r in outcome.wrong_actions],
    }


def unmatched_record(r: Remediation, scenario: str, seed_digest: str) -> dict:
    """The answer-key record of a remediation that touched no active incident: one hour, no issue."""
    record = {"incident_id": f"{UNMATCHED}-{bounded_id(r.id)}", "kind": UNMATCHED, "is_issue": False, "issues": [],
              "merchant_ids": [r.merchant_id] if r.merchant_id else []}
    if r.payment_provider:
        record["payment_provider"] = r.payment_provider
    record.update(onset=stamp(r.hour), end=stamp(r.hour + 1), remediation=[], scenario=scenario, seed_digest=seed_digest,
                  resolved_by=None, resolved_at=None, remediation_id=None, wrong_actions=[action_record(r)])
    return record
