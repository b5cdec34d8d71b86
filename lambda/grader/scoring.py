"""Score findings against the answer key: incident-level detection, time to detect, NAB, root cause.

Rules (docs/grading.md):
- a finding matches an incident when its merchant is in the incident's scope, its issue is
  among the incident's labels and its hour lies in [onset, end); chronic incidents match at
  any hour of the range;
- each incident is detected once, by its earliest matching finding; later ones are neither
  rewarded nor punished;
- a finding that matches nothing is neutral inside a side effect of a remediation on its
  merchant (neither rewarded nor punished), else a false positive, and a look-alike false
  alarm when it lies inside a benign incident of its merchant.
Only incidents that overlap the range and findings inside it are scored.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from datetime import datetime, timezone

import ledger
from catalog import SIDE_EFFECT_KINDS
from grader.findings import LABELS, Finding, Findings
from generator import hour_index, stamp
from remediations import REMEDIATION, UNMATCHED

# NAB's profiles (config/profiles.json): weights of a detected window, a false positive, a missed window.
NAB_PROFILES = {
    "standard": {"tp": 1.0, "fp": 0.11, "fn": 1.0},
    "reward_low_fp": {"tp": 1.0, "fp": 0.22, "fn": 1.0},
    "reward_low_fn": {"tp": 1.0, "fp": 0.11, "fn": 2.0},
}

TP, DUPLICATE, FP, LOOKALIKE, SIDE_EFFECT = "tp", "duplicate", "fp", "lookalike", "side_effect"
# Answer-key records that are not incidents: the agent's own acts and the bench's records of what it saw.
NOT_INCIDENTS = frozenset({UNMATCHED, *ledger.KINDS})

# mitigation_score (docs/grading.md): a remediable incident resolved by the agent earns
# 0.5 ** (hours to mitigate / MITIGATION_HALF_LIFE_HOURS); every wrong action costs WRONG_ACTION_COST.
MITIGATION_HALF_LIFE_HOURS = 12
WRONG_ACTION_COST = 0.25


def hour_of(text: str) -> int:
    """Hours since the epoch of a stamp "YYYY-MM-DDTHH:00:00Z" (the answer key's and the documents')."""
    return hour_index(datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc))


@dataclass(frozen=True)
class Incident:
    record: dict
    merchants: frozenset
    labels: tuple
    onset: int | None  # None: chronic, present at every hour
    end: int | None

    @classmethod
    def of(cls, record: dict) -> "Incident":
        onset = record.get("onset")
        return cls(record, frozenset(record["merchant_ids"]), tuple(record.get("issues") or ()),
                   hour_of(onset) if onset else None, hour_of(record["end"]) if onset else None)

    @property
    def id(self) -> str:
        return self.record["incident_id"]

    @property
    def chronic(self) -> bool:
        return self.onset is None

    @property
    def is_issue(self) -> bool:
        return bool(self.record.get("is_issue"))

    def covers(self, merchant_id: str, hour: int) -> bool:
        return merchant_id in self.merchants and (self.chronic or self.onset <= hour < self.end)

    def matches(self, finding: Finding) -> bool:
        return finding.issue in self.labels and self.covers(finding.merchant_id, finding.hour)

    def window(self, start: int, end: int) -> tuple:
        """(first, last) hour of the NAB window inside [start, end): the incident clipped to the range."""
        if self.chronic:
            return start, end - 1
        return max(self.onset, start), min(self.end, end) - 1


def scaled_sigmoid(position: float) -> float:
    """NAB's 2*sigmoid(-5*y) - 1: 0.9866 at a window's start (y = -1), 0 at its end, -1 far past it."""
    if position >= 3.0:
        return -1.0
    return 2 / (1 + math.exp(5 * position)) - 1


MAX_TP = scaled_sigmoid(-1.0)


def _ratio(part: int, whole: int):
    return round(part / whole, 4) if whole else None


def _counts(tp: int, fp: int, fn: int) -> dict:
    # f1 = 2tp / (2tp + fp + fn): defined whenever anything was found or missed.
    return {"tp": tp, "fp": fp, "fn": fn, "precision": _ratio(tp, tp + fp), "recall": _ratio(tp, tp + fn),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn)}


def _p90(values: list) -> int:
    """Nearest rank: the smallest value with at least 90 % of the values at or below it."""
    return sorted(values)[math.ceil(0.9 * len(values)) - 1]


def _spread(values: list) -> dict:
    return {
        "count": len(values),
        "median": statistics.median(values) if values else None,
        "p90": _p90(values) if values else None,
        "max": max(values) if values else None,
    }


def _loop(records: list, start: int, end: int) -> tuple[list, list, set]:
    """(the acute incidents over hours [start, end) that accept a remediation, those the agent
    resolved, the ids of its wrong actions: each once, inside or outside any incident, refused too)."""
    remediable = [i for i in _in_range(records, start, end)
                  if i.is_issue and not i.chronic and i.record.get("remediation")]
    resolved = [i for i in remediable if i.record.get("resolved_by") == REMEDIATION]
    wrong = {action["remediation_id"] for r in records for action in r.get("wrong_actions") or ()
             if start <= hour_of(action["timestamp"]) < end}
    return remediable, resolved, wrong


def mitigation_score(records: list, start: int, end: int):
    """The closed loop's headline, 0 to 100: credit per resolved incident, decaying with the hours
    to mitigate, less a cost per wrong action, over the remediable incidents; None without any."""
    remediable, resolved, wrong = _loop(records, start, end)
    if not remediable:
        return None
    credit = sum(0.5 ** ((hour_of(i.record["resolved_at"]) - i.onset) / MITIGATION_HALF_LIFE_HOURS) for i in resolved)
    return round(100 * max(0.0, credit - WRONG_ACTION_COST * len(wrong)) / len(remediable), 2)


def remediation_summary(records: list, skipped: list, start: int, end: int) -> dict:
    """The closed loop's score over hours [start, end): of the acute incidents that accept a
    remediation, the share the agent resolved and how long after the onset it acted; its wrong
    actions (each counted once, inside or outside any incident); the malformed remediations."""
    remediable, resolved, wrong = _loop(records, start, end)
    return {
        "remediable": len(remediable),
        "resolved_by_agent": _ratio(len(resolved), len(remediable)),
        "hours_to_mitigate": _spread([hour_of(i.record["resolved_at"]) - i.onset for i in resolved]),
        "wrong_actions": len(wrong),
        "unresolved": len(remediable) - len(resolved),
        "malformed": len(skipped),
        "problems": [f"{bad.id}: {bad.reason}" for bad in skipped],
    }


def _shares(causes: list, truth: list, whole: int) -> dict:
    """Of whole, the share of stated causes whose category (component) equals the truth's."""
    return {key: _ratio(sum(c.get(key) == t.get(key) for c, t in zip(causes, truth)), whole)
            for key in ("category", "component")}


def _root_causes(problems: list, causes: list) -> dict:
    """Root-cause accuracy over every problem (missed, or detected without a cause: wrong), and,
    apart, among the detections that state a cause."""
    stated = [(i.record.get("root_cause") or {}, c) for i, c in zip(problems, causes) if c]
    truth, given = [t for t, _ in stated], [c for _, c in stated]
    return {"problems": len(problems), **_shares(given, truth, len(problems)),
            "among_stated": {"stated": len(stated), **_shares(given, truth, len(stated))}}


def skill(nab: dict, baseline_nab: dict) -> dict:
    """Per NAB profile, (score - baseline) / (perfect - baseline): the baseline 0, perfect 1.
    None where either score is undefined or the baseline is already perfect."""
    out = {}
    for name, score in nab.items():
        base = baseline_nab.get(name)
        out[name] = None if score is None or base is None or base >= 100 else round((score - base) / (100 - base), 4)
    return out


@dataclass
class Assessment:
    """Every finding's outcome and every incident's detection; summary() is the score."""

    start: int
    end: int
    findings: Findings
    incidents: list  # [Incident] overlapping the range, problems and look-alikes
    side_effects: list = field(default_factory=list)  # [Incident] of remediations' side effects in the range
    outcomes: list = field(default_factory=list)  # [(Finding, outcome)] of the findings in range
    detected: dict = field(default_factory=dict)  # incident id -> its earliest matching Finding
    outside_range: int = 0
    records: list = field(default_factory=list)
    skipped: list | None = None  # REMEDIATION=on: the malformed remediations; None: the loop is open
    # The shipped baseline's NAB scores on the same range, seed and scenario: the summary then has skill.
    baseline_nab: dict | None = None

    @property
    def problems(self) -> list:
        return [i for i in self.incidents if i.is_issue]

    @property
    def lookalikes(self) -> list:
        return [i for i in self.incidents if not i.is_issue]

    def false_positives(self) -> list:
        return [f for f, outcome in self.outcomes if outcome in (FP, LOOKALIKE)]

    def summary(self) -> dict:
        problems = self.problems
        fps = self.false_positives()
        per_label = {}
        for label in LABELS:
            labelled = [i for i in problems if label in i.labels]
            tp = sum(any(f.issue == label and i.matches(f) for f, _ in self.outcomes) for i in labelled)
            per_label[label] = _counts(tp, sum(f.issue == label for f in fps), len(labelled) - tp)
        tp = sum(i.id in self.detected for i in problems)
        delays = [self.detected[i.id].hour - i.onset for i in problems if not i.chronic and i.id in self.detected]
        causes = [self.detected[i.id].root_cause if i.id in self.detected else None for i in problems]
        result = {
            "range": {"start": stamp(self.start), "end": stamp(self.end)},
            "findings": {"lines": self.findings.lines, "usable": len(self.findings.usable),
                         "malformed": self.findings.malformed, "unknown_label": self.findings.unknown_label,
                         "unrecorded": self.findings.unrecorded, "times": self.findings.times,
                         "outside_range": self.outside_range, "during_side_effects": sum(
                             o == SIDE_EFFECT for _, o in self.outcomes),
                         "problems": [f"{where}: {reason}" for where, reason in self.findings.problems]},
            "incidents": {"problems": len(problems), "acute": sum(not i.chronic for i in problems),
                          "chronic": sum(i.chronic for i in problems), "lookalikes": len(self.lookalikes)},
            "overall": _counts(tp, len(fps), len(problems) - tp),
            "per_label": per_label,
            "hours_to_detect": _spread(delays),
            "nab": {name: self.nab(weights) for name, weights in NAB_PROFILES.items()},
            "root_cause_accuracy": _root_causes(problems, causes),
            "lookalike_false_alarms": sum(o == LOOKALIKE for _, o in self.outcomes),
        }
        if self.baseline_nab is not None:
            result["skill"] = skill(result["nab"], self.baseline_nab)
            result["baseline_nab"] = self.baseline_nab
        if self.skipped is not None:
            result["mitigation_score"] = mitigation_score(self.records, self.start, self.end)
            result["remediation"] = remediation_summary(self.records, self.skipped, self.start, self.end)
        return result

    def nab(self, weights: dict):
        """NAB's score, normalised: 0 for no findings, 100 for each window found at its first hour.

        Each problem incident is one window (clipped to the range). Its earliest matching finding
        scores tp * S(y) / S(-1), y = -(last - hour + 1) / width; a missed window scores -fn. A false
        positive scores fp * S(y), y = (hour - last) / (width - 1) past the latest window of its
        merchant that ended before it, or -fp when there is none.
        """
        problems = self.problems
        if not problems:
            return None
        raw = 0.0
        for incident in problems:
            if incident.id not in self.detected:
                raw -= weights["fn"]
                continue
            first, last = incident.window(self.start, self.end)
            hour = self.detected[incident.id].hour
            raw += weights["tp"] * scaled_sigmoid(-(last - hour + 1) / (last - first + 1)) / MAX_TP
        for finding in self.false_positives():
            before = [i.window(self.start, self.end) for i in problems
                      if finding.merchant_id in i.merchants and i.window(self.start, self.end)[1] < finding.hour]
            if before:
                first, last = max(before, key=lambda w: w[1])
                raw += weights["fp"] * scaled_sigmoid((finding.hour - last) / max(last - first, 1))
            else:
                raw -= weights["fp"]
        null, perfect = -weights["fn"] * len(problems), weights["tp"] * len(problems)
        return round(100 * (raw - null) / (perfect - null), 2)


def _overlapping(records: list, first: int, stop: int) -> list:
    return [i for i in map(Incident.of, records) if i.merchants and (i.chronic or (i.onset < stop and i.end > first))]


def _in_range(records: list, first: int, stop: int) -> list:
    """The incidents of records that overlap the hours [first, stop) and touch a merchant
    (a scenario file's outage on a provider without merchants in the roster shows in no data).
    An unmatched remediation's record is the agent's act, a side effect its harm: not incidents."""
    return _overlapping([r for r in records if r["kind"] not in NOT_INCIDENTS | SIDE_EFFECT_KINDS], first, stop)


def assess(records: list, findings: Findings, start: datetime, end: datetime, skipped: list | None = None,
           baseline_nab: dict | None = None) -> Assessment:
    """Match findings to the answer-key records over the hours [start, end).

    skipped: with REMEDIATION=on, the malformed remediations: the summary then scores the loop too.
    baseline_nab: the shipped baseline's NAB scores here: the summary then has skill.
    """
    first, stop = hour_index(start), hour_index(end)
    result = Assessment(first, stop, findings, _in_range(records, first, stop),
                        _overlapping([r for r in records if r["kind"] in SIDE_EFFECT_KINDS], first, stop),
                        records=records, skipped=skipped, baseline_nab=baseline_nab)
    # Stable: findings of the same hour keep their input order.
    in_range = sorted((f for f in findings.usable if first <= f.hour < stop), key=lambda f: f.hour)
    result.outside_range = len(findings.usable) - len(in_range)
    problems, lookalikes = result.problems, result.lookalikes
    for finding in in_range:
        matched = [i for i in problems if i.matches(finding)]
        if matched:
            new = [i for i in matched if i.id not in result.detected]
            for incident in new:
                result.detected[incident.id] = finding
            result.outcomes.append((finding, TP if new else DUPLICATE))
        elif any(i.covers(finding.merchant_id, finding.hour) for i in result.side_effects):
            result.outcomes.append((finding, SIDE_EFFECT))
        elif any(i.covers(finding.merchant_id, finding.hour) for i in lookalikes):
            result.outcomes.append((finding, LOOKALIKE))
        else:
            result.outcomes.append((finding, FP))
    return result


def perfect_findings(records: list, start: datetime, end: datetime) -> list:
    """What a perfect AI reports: each label of each problem incident at the first hour of its window,
    cause included."""
    first, stop = hour_index(start), hour_index(end)
    out = []
    for incident in _in_range(records, first, stop):
        if not incident.is_issue:
            continue
        cause = incident.record["root_cause"]
        out += [{"merchant_id": incident.record["merchant_ids"][0], "issue": label,
                 "timestamp": stamp(incident.window(first, stop)[0]),
                 "root_cause": {"category": cause["category"], "component": cause["component"]}}
                for label in incident.labels]
    return sorted(out, key=lambda f: (f["timestamp"], f["merchant_id"], f["issue"]))


# --- the table -----------------------------------------------------------------------


def _number(value, digits: int = 2) -> str:
    if value is None:
        return "n/a"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _findings_lines(result: dict) -> list:
    f = result["findings"]
    lines = [f"findings: {f['lines']} lines, {f['usable']} usable, {f['malformed']} malformed, "
             f"{f['unknown_label']} with an unknown label, {f['outside_range']} outside the range",
             f"  times {f['times']}; {f['unrecorded']} unrecorded, {f['during_side_effects']} during side effects "
             "(neutral)"]
    return lines + [f"  {problem}" for problem in f["problems"]]


def _incident_lines(result: dict) -> list:
    i = result["incidents"]
    return [f"incidents in {result['range']['start']} .. {result['range']['end']}: {i['problems']} problems "
            f"({i['acute']} acute, {i['chronic']} chronic), {i['lookalikes']} benign look-alikes"]


def _detection_lines(result: dict) -> list:
    row = "{:<18} {:>5} {:>5} {:>5} {:>10} {:>7} {:>6}"
    lines = [row.format("label", "tp", "fp", "fn", "precision", "recall", "f1")]
    for name, counts in [*result["per_label"].items(), ("overall", result["overall"])]:
        lines.append(row.format(name, counts["tp"], counts["fp"], counts["fn"], _number(counts["precision"]),
                                _number(counts["recall"]), _number(counts["f1"])))
    return lines


def _timing_lines(result: dict) -> list:
    h = result["hours_to_detect"]
    return [f"hours to detect ({h['count']} acute incidents detected): median {_number(h['median'], 1)}, "
            f"p90 {_number(h['p90'])}, max {_number(h['max'])}"]


def _nab_lines(result: dict) -> list:
    return ["NAB (null 0, perfect 100): " + ", ".join(f"{name} {_number(value)}"
                                                      for name, value in result["nab"].items())]


def _root_cause_lines(result: dict) -> list:
    r = result["root_cause_accuracy"]
    s = r["among_stated"]
    return [f"root cause over all {r['problems']} problems (missed or no cause stated = wrong): "
            f"category {_number(r['category'])}, component {_number(r['component'])}",
            f"root cause among the {s['stated']} detections that state one (not the score): "
            f"category {_number(s['category'])}, component {_number(s['component'])}",
            f"look-alike false alarms: {result['lookalike_false_alarms']}"]


def _skill_lines(result: dict) -> list:
    if "skill" not in result:
        return []
    return ["skill (the shipped baseline 0, perfect 1): " + ", ".join(
        f"{name} {_number(value)}" for name, value in result["skill"].items()) + "; baseline NAB "
        + ", ".join(f"{name} {_number(value)}" for name, value in result["baseline_nab"].items())]


def _remediation_lines(result: dict) -> list:
    r = result.get("remediation")
    if r is None:
        return []
    h = r["hours_to_mitigate"]
    return [f"mitigation score (0-100): {_number(result['mitigation_score'])}",
            f"closed loop: {h['count']} of {r['remediable']} acute incidents that accept a remediation resolved "
            f"by the agent ({_number(r['resolved_by_agent'])}), {r['unresolved']} unresolved; "
            f"{r['wrong_actions']} wrong actions",
            f"hours to mitigate: median {_number(h['median'], 1)}, p90 {_number(h['p90'])}, max {_number(h['max'])}",
            f"remediations: {r['malformed']} malformed"] + [f"  {problem}" for problem in r["problems"]]


# One formatter per section of the result, in the table's order.
SECTIONS = [_findings_lines, _incident_lines, _detection_lines, _timing_lines, _nab_lines, _skill_lines,
            _root_cause_lines, _remediation_lines]


def table(result: dict) -> str:
    return "\n".join(line for section in SECTIONS for line in section(result)) + "\n"
