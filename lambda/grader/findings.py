"""Findings: what an AI under test concluded, one JSON object per line or per index document.

{"merchant_id": "merchant_007", "issue": "high_error_rate", "timestamp": "2026-12-01T11:00:00Z",
 "root_cause": {"category": "dependency", "component": "payment_provider:<name>"}}

Nothing is dropped silently: malformed lines and unknown labels are kept as
problems with where they were (line number or document id). Files are untrusted:
read in binary, line by line (each at most MAX_LINE_BYTES), decoded and parsed
one at a time, so no byte, nesting or size makes anything but a malformed line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from config import EventError, parse_time
from generator import HIGH_ERROR_RATE, LOW_CONVERSION, MISSING_LOCATION, TRAFFIC_DROP, hour_index

LABELS = (LOW_CONVERSION, HIGH_ERROR_RATE, MISSING_LOCATION, TRAFFIC_DROP)
# A finding is a few hundred bytes, a line of the generator's NDJSON under one KB.
MAX_LINE_BYTES = 1 << 20


def text_lines(stream):
    """Each line of a binary stream, in order: its text, or a ValueError saying why it cannot be
    read (not UTF-8, or longer than MAX_LINE_BYTES: such a line is never held whole)."""
    while line := stream.readline(MAX_LINE_BYTES + 1):
        if len(line) > MAX_LINE_BYTES:
            while line and not line.endswith(b"\n"):  # the rest of the line, a piece at a time
                line = stream.readline(MAX_LINE_BYTES)
            yield ValueError(f"longer than {MAX_LINE_BYTES} bytes")
            continue
        try:
            yield line.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield ValueError(f"not UTF-8 (byte 0x{line[exc.start]:02x} at column {exc.start + 1})")


def _constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _integer(text: str) -> int:
    # int() refuses over 4,300 digits anyway, with a message about a Python setting.
    if len(text) > 100:
        raise ValueError("an integer of too many digits")
    return int(text)


def loads(text: str):
    """json.loads, where every way untrusted text can fail is a ValueError: bad JSON, NaN or
    Infinity, nesting deeper than the interpreter's recursion limit, an integer of too many digits."""
    try:
        return json.loads(text, parse_constant=_constant, parse_int=_integer)
    except RecursionError:
        raise ValueError("nested too deeply") from None


@dataclass(frozen=True)
class Finding:
    merchant_id: str
    issue: str
    hour: int  # the data hour the AI concluded at, in hours since the epoch (floored)
    root_cause: dict | None
    where: str  # "line 3" or "document <id>", for messages


@dataclass
class Findings:
    usable: list = field(default_factory=list)
    # (where, reason) of every line that was not usable, in order.
    problems: list = field(default_factory=list)
    lines: int = 0
    malformed: int = 0
    unknown_label: int = 0

    @property
    def unusable(self) -> bool:
        """Lines were given but none of them counts: an input mistake, not the null detector."""
        return self.lines > 0 and not self.usable


def _finding(value, where: str) -> Finding:
    """The finding in value; raises ValueError with the reason."""
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    for name in ("merchant_id", "issue", "timestamp"):
        if not isinstance(value.get(name), str) or not value[name].strip():
            raise ValueError(f"{name} must be a non-empty string")
    try:
        moment = parse_time(value["timestamp"], "timestamp")
    except EventError as exc:
        raise ValueError(str(exc)) from None
    root_cause = value.get("root_cause")
    if root_cause is not None:
        if not isinstance(root_cause, dict) or not all(
            isinstance(root_cause.get(key, ""), str) for key in ("category", "component")
        ):
            raise ValueError("root_cause must be an object with string category and component")
    return Finding(value["merchant_id"].strip(), value["issue"].strip(), hour_index(moment), root_cause, where)


def _add(result: Findings, value, where: str) -> None:
    result.lines += 1
    try:
        finding = _finding(value, where)
    except ValueError as exc:
        result.malformed += 1
        result.problems.append((where, f"malformed: {exc}"))
        return
    if finding.issue not in LABELS:
        result.unknown_label += 1
        issue = repr(finding.issue) if len(finding.issue) <= 40 else repr(finding.issue[:40]) + "..."
        result.problems.append((where, f"unknown label {issue} (known: {', '.join(LABELS)})"))
        return
    result.usable.append(finding)


def parse_lines(lines) -> Findings:
    """Findings from JSON lines (text, or a ValueError for a line text_lines could not read);
    blank lines are skipped, line numbers count from 1."""
    result = Findings()
    for number, line in enumerate(lines, 1):
        if isinstance(line, str) and not line.strip():
            continue
        try:
            value = loads(line) if isinstance(line, str) else None
        except ValueError as exc:
            line = ValueError(f"not JSON ({exc})")
        if isinstance(line, ValueError):
            result.lines += 1
            result.malformed += 1
            result.problems.append((f"line {number}", f"malformed: {line}"))
            continue
        _add(result, value, f"line {number}")
    return result


def parse_documents(hits) -> Findings:
    """Findings from (id, source) pairs of a findings index."""
    result = Findings()
    for _id, source in hits:
        _add(result, source, f"document {_id}")
    return result
