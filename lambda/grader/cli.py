"""Grade an AI against the answer key: baseline, score and report (docs/grading.md).

  python lambda/evaluate.py baseline --start ISO --end ISO [--input NDJSON] [--output findings.jsonl]
  python lambda/evaluate.py reference --start ISO --end ISO [--input NDJSON] [--output findings.jsonl] [--remediate]
  python lambda/evaluate.py score (--findings F | --findings-index NAME) --start ISO --end ISO [--json]
  python lambda/evaluate.py report --start ISO --end ISO [--input NDJSON] [--findings F] [--output report.html]
  python lambda/evaluate.py remediate (--merchant ID | --payment-provider NAME) --action ACTION --at ISO
                                      [--incident-id ID] [--note TEXT]   (docs/closed-loop.md)

Configuration (SCENARIO, seed, merchants, index names) comes from the generator's variables and
flags, so the answer key is recomputed here for any range, never read back. Observations come
from the data index (ELASTICSEARCH_HOST) or from the generator's NDJSON (--input). Not on the
Lambda handler's import path.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime, timezone

import catalog
import config
import data_generator
import es
import generator
import incidents
from config import HOUR, ConfigError, EventError, HourRange
from grader import baseline, findings, reference, scoring

HISTORY = baseline.HISTORY_DAYS * 24 * HOUR
REFERENCE_HISTORY = (reference.HISTORY_HOURS + reference.LEAD_HOURS) * HOUR
EVENTS_SUFFIX = "-events"
# Every action some incident kind accepts, in the catalog's order.
ACTIONS = tuple(dict.fromkeys(action for kind in catalog.CATALOG.values() for action in kind.remediation))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="evaluate.py", description="Grade an AI's findings against the answer key.")
    commands = parser.add_subparsers(dest="command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument("--start", required=True, help="first hour, ISO 8601 (naive = UTC)")
        sub.add_argument("--end", required=True, help="end of the range, exclusive")
        sub.add_argument("--scenario", metavar="NAME|FILE", help=f"scenario (env {config.SCENARIO}, default steady)")
        sub.add_argument("--merchants", metavar="N", help=f"merchant count (env {config.MERCHANT_COUNT}, default 20)")
        sub.add_argument("--seed", metavar="S", help=f"generator seed (env {config.GENERATOR_SEED})")
        sub.add_argument("--index", metavar="NAME", help=f"data index (env {config.ELASTICSEARCH_INDEX})")
        sub.add_argument("--remediation", metavar="on|off",
                         help=f"the closed loop: apply and score remediations (env {config.REMEDIATION}, default off)")
        return sub

    def source(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--input", metavar="NDJSON",
                         help="read observations from the generator's bulk NDJSON instead of the data index")

    def findings_from(sub: argparse.ArgumentParser, required: bool) -> None:
        group = sub.add_mutually_exclusive_group(required=required)
        group.add_argument("--findings", metavar="FILE", help="findings, one JSON object per line")
        group.add_argument("--findings-index", metavar="NAME", help="findings, one document each in this index")

    sub = command("baseline", "write the baseline detector's findings")
    source(sub)
    sub.add_argument("--output", metavar="FILE", help="write the findings here (default: stdout)")
    sub = command("reference", "write the reference solver's findings, each with a root cause")
    source(sub)
    sub.add_argument("--output", metavar="FILE", help="write the findings here (default: stdout)")
    sub.add_argument("--remediate", action="store_true",
                     help="also write the accepted action for what it found in the range to the remediations "
                          "index, as an AI would (the closed loop)")
    sub = command("score", "score findings against the answer key")
    findings_from(sub, required=True)
    sub.add_argument("--json", action="store_true", help="print the score as JSON")
    sub = command("report", "write a self-contained HTML report")
    source(sub)
    findings_from(sub, required=False)
    sub.add_argument("--output", metavar="FILE", help="default: out/<index>-report.html")

    sub = commands.add_parser("remediate", help="write one remediation (the AI's action) for the closed loop",
                              description="write one remediation to the remediations index (docs/closed-loop.md)")
    target = sub.add_mutually_exclusive_group(required=True)
    target.add_argument("--merchant", metavar="ID", help="act on one merchant, e.g. merchant_003")
    target.add_argument("--payment-provider", metavar="NAME", help="act on a payment provider (all its merchants)")
    sub.add_argument("--action", required=True, help="an accepted action name: " + ", ".join(ACTIONS))
    sub.add_argument("--at", required=True, metavar="ISO", help="the data hour at which the AI acts (naive = UTC)")
    sub.add_argument("--incident-id", metavar="ID", help="the AI's own reference, recorded as it is")
    sub.add_argument("--note", metavar="TEXT", help="free text")
    sub.add_argument("--merchants", metavar="N", help=f"merchant count (env {config.MERCHANT_COUNT}, default 20)")
    sub.add_argument("--index", metavar="NAME", help=f"data index (env {config.ELASTICSEARCH_INDEX}); "
                                                     f"remediations go to {config.REMEDIATION_INDEX}")
    sub.set_defaults(seed=None, scenario=None, remediation=None)
    return parser


def _range(args: argparse.Namespace) -> HourRange:
    return config.parse_event({"start": args.start, "end": args.end}, datetime.now(timezone.utc))


def _client(cfg: config.Config):
    if not cfg.host:
        raise ConfigError(f"{config.ELASTICSEARCH_HOST} is not set: set it, or give the observations with --input")
    return es.connect(cfg.host, **config.auth(cfg))


def _ndjson(path: str, indices: dict, start: datetime, end: datetime) -> dict:
    """{index: [documents of hours [start, end)]} of indices ({index: fields kept}) in the generator's
    bulk NDJSON; other indices' pairs (the answer key's) are skipped."""
    first, stop = generator.stamp(generator.hour_index(start)), generator.stamp(generator.hour_index(end))
    out = {index: [] for index in indices}
    try:
        with open(path, encoding="utf-8") as stream:
            for number, action_line in enumerate(stream, 1):
                if not action_line.strip():
                    continue
                source_line = next(stream, "")
                try:
                    (meta,) = json.loads(action_line).values()
                    doc = json.loads(source_line)
                    target, timestamp = meta["_index"], doc.get("timestamp", "")
                except (ValueError, AttributeError, TypeError, KeyError):
                    raise ConfigError(f"--input {path}: line {number} is not a bulk action and document pair") from None
                if target in out and first <= timestamp < stop:
                    out[target].append({name: doc[name] for name in indices[target] if name in doc})
    except OSError as exc:
        raise ConfigError(f"--input: {exc}") from None
    return out


def _ndjson_observations(path: str, index: str, start: datetime, end: datetime) -> list:
    """The baseline's observed fields of index's documents in the generator's bulk NDJSON."""
    return _ndjson(path, {index: baseline.OBSERVED_FIELDS}, start, end)[index]


def _observations(args, cfg: config.Config, start: datetime, end: datetime) -> list:
    if args.input:
        return _ndjson_observations(args.input, cfg.index, start, end)
    return es.read_observations(_client(cfg), cfg.index, start, end, baseline.OBSERVED_FIELDS)


def _documents_and_events(args, cfg: config.Config, start: datetime, end: datetime) -> tuple:
    """What the reference reads: its observed fields of the documents, and the events, of [start, end)."""
    events_index = cfg.index + EVENTS_SUFFIX
    if args.input:
        found = _ndjson(args.input, {cfg.index: reference.OBSERVED_FIELDS, events_index: reference.EVENT_FIELDS},
                        start, end)
        return found[cfg.index], found[events_index]
    client = _client(cfg)
    return (es.read_observations(client, cfg.index, start, end, reference.OBSERVED_FIELDS),
            es.read_observations(client, events_index, start, end, reference.EVENT_FIELDS))


def _findings(args, cfg: config.Config) -> findings.Findings:
    if args.findings_index:
        name = config.index_name(args.findings_index, "--findings-index")
        return findings.parse_documents(es.read_documents(_client(cfg), name, {"match_all": {}}, ["_doc"]))
    try:
        with open(args.findings, encoding="utf-8") as stream:
            parsed = findings.parse_lines(stream)
    except OSError as exc:
        raise ConfigError(f"--findings: {exc}") from None
    return parsed


def _usable(parsed: findings.Findings, source: str, err) -> findings.Findings:
    if parsed.unusable:
        for where, reason in parsed.problems:
            print(f"{where}: {reason}", file=err)
        raise ConfigError(f"{source}: {parsed.lines} lines, none usable (an empty file is the null detector)")
    return parsed


def _answer_key(cfg: config.Config, hour_range: HourRange) -> tuple[list, list | None]:
    """(the answer key of hour_range, the malformed remediations or None with REMEDIATION=off):
    recomputed here, with the remediations read from their index when the loop is closed."""
    if not cfg.remediation:
        return incidents.answer_key(cfg, hour_range)[0], None
    client = _client(cfg)
    return incidents.answer_key(cfg, hour_range, lambda lo, hi: es.read_remediations(
        client, cfg.remediation_index, lo, hi))


class _Kept:
    """A sink for data_generator.run that keeps the data index's documents, observed fields only."""

    def __init__(self, index: str):
        self.index = index
        self.documents: list = []

    def send(self, pairs: list, records: int = 0) -> int:
        for action, source in pairs[records:]:
            (meta,) = json.loads(action).values()
            if meta["_index"] == self.index:
                self.documents.append(baseline.observed(json.loads(source)))
        return len(pairs) - records


def baseline_nab(cfg: config.Config, hour_range: HourRange) -> dict:
    """The shipped baseline's NAB scores on cfg's range, seed and scenario, computed here: its data
    generated in-process (with its 7 days of history) in the world it leaves, where nobody remediates."""
    nobody = (lambda lo, hi: []) if cfg.remediation else None
    kept = _Kept(cfg.index)
    data_generator.run(cfg, HourRange(hour_range.start - HISTORY, hour_range.end), kept, read_remediations=nobody)
    found = baseline.detect(kept.documents, hour_range.start, hour_range.end)
    records = incidents.answer_key(cfg, hour_range, nobody)[0]
    parsed = findings.parse_lines(json.dumps(f) for f in found)
    return scoring.assess(records, parsed, hour_range.start, hour_range.end).summary()["nab"]


def _write_findings(args, found: list, out) -> None:
    text = "".join(json.dumps(f) + "\n" for f in found)
    if args.output:
        os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as stream:
            stream.write(text)
    else:
        out.write(text)


def _baseline(args, cfg, hour_range, out, err) -> None:
    # The traffic rule compares with the 7 days before each hour: read them too.
    observations = _observations(args, cfg, hour_range.start - HISTORY, hour_range.end)
    found = baseline.detect(observations, hour_range.start, hour_range.end)
    _write_findings(args, found, out)
    print(f"baseline: {len(found)} findings from {len(observations)} documents "
          f"({hour_range.hours} hours and {baseline.HISTORY_DAYS} days of history)", file=err)


def _reference(args, cfg, hour_range, out, err) -> None:
    documents, events = _documents_and_events(args, cfg, hour_range.start - REFERENCE_HISTORY, hour_range.end)
    found = reference.solve(documents, events, hour_range.start, hour_range.end)
    _write_findings(args, found, out)
    print(f"reference: {len(found)} findings from {len(documents)} documents and {len(events)} events",
          file=err)
    if args.remediate:
        client = _client(cfg)
        for field, target, action, timestamp in reference.act(documents, events, hour_range.start, hour_range.end):
            _write_remediation(client, cfg, {field: target}, action, timestamp, out=err)


def _score(args, cfg, hour_range, out, err) -> None:
    parsed = _usable(_findings(args, cfg), args.findings or args.findings_index, err)
    records, skipped = _answer_key(cfg, hour_range)
    result = scoring.assess(records, parsed, hour_range.start, hour_range.end, skipped,
                            baseline_nab(cfg, hour_range)).summary()
    out.write(json.dumps(result, indent=2) + "\n" if args.json else scoring.table(result))


def _report(args, cfg, hour_range, out, err) -> None:
    from grader import report

    records, skipped = _answer_key(cfg, hour_range)
    assessment = None
    source = args.findings or args.findings_index
    if source:
        parsed = _usable(_findings(args, cfg), source, err)
        assessment = scoring.assess(records, parsed, hour_range.start, hour_range.end, skipped,
                                    baseline_nab(cfg, hour_range))
    meta = {"scenario": cfg.scenario, "seed": cfg.seed, "merchants": cfg.merchants,
            "range": f"{generator.stamp(generator.hour_index(hour_range.start))} to "
                     f"{generator.stamp(generator.hour_index(hour_range.end))} ({hour_range.hours} hours)",
            "data index": cfg.index + (f" (from {args.input})" if args.input else ""),
            "answer-key index": cfg.answer_key_index, "findings": source or "none"}
    text = report.render(meta, hour_range.start, hour_range.end,
                         _observations(args, cfg, hour_range.start, hour_range.end), records, assessment)
    path = args.output or os.path.join("out", f"{cfg.index}-report.html")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(text)
    print(f"Wrote {path} ({len(text.encode()) // 1024} KB)", file=err)


def _remediate(args, cfg: config.Config, out) -> None:
    """One remediation document, under an id that makes the same command overwrite it."""
    if args.merchant is not None:
        target = {"merchant_id": config.merchant_id(args.merchant, "--merchant", cfg.merchants)}
    elif args.payment_provider in generator.PAYMENT_PROVIDERS:
        target = {"payment_provider": args.payment_provider}
    else:
        raise ConfigError(f"--payment-provider must be one of {', '.join(generator.PAYMENT_PROVIDERS)}, "
                          f"got {config.shown(args.payment_provider)}")
    if args.action not in ACTIONS:
        raise ConfigError(f"--action must be one of {', '.join(ACTIONS)}, got {config.shown(args.action)}")
    # The AI acts on data it has seen: never in an hour not generated yet.
    hour = config.past_hour(args.at, "--at", datetime.now(timezone.utc))
    extra = {field: value for field, value in (("incident_id", args.incident_id), ("note", args.note))
             if value is not None}
    _write_remediation(_client(cfg), cfg, target, args.action, hour.strftime("%Y-%m-%dT%H:00:00Z"), out, extra)


def _write_remediation(client, cfg: config.Config, target: dict, action: str, timestamp: str, out,
                       extra: dict | None = None) -> None:
    """One remediation document, under an id that makes the same action at the same hour overwrite it:
    the one path by which `remediate` and `reference --remediate` act."""
    document = {**target, "action": action, "timestamp": timestamp, **(extra or {})}
    doc_id = f"{next(iter(target.values()))}-{action}-{timestamp[:4]}{timestamp[5:7]}{timestamp[8:10]}{timestamp[11:13]}"
    es.write_remediation(client, cfg.remediation_index, doc_id, document)
    out.write(f"remediation {doc_id} written to {cfg.remediation_index}: {json.dumps(document)}\n")


COMMANDS = {"baseline": _baseline, "reference": _reference, "score": _score, "report": _report}


def main(argv=None, environ=None, out=None, err=None) -> int:
    args = _parser().parse_args(argv)
    environ = os.environ if environ is None else environ
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        cfg = data_generator.config_from_args(args, environ)
        if args.command == "remediate":
            _remediate(args, cfg, out)
        else:
            COMMANDS[args.command](args, cfg, _range(args), out, err)
    except (ConfigError, EventError) as exc:
        print(f"error: {exc}", file=err)
        return 2
    except es.IndexingError as exc:
        print(f"error: {exc}", file=err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
