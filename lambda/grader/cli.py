"""Grade an AI against the answer key: baseline, score and report (docs/grading.md).

  python lambda/evaluate.py baseline --start ISO --end ISO [--input NDJSON] [--output findings.jsonl]
  python lambda/evaluate.py score (--findings F | --findings-index NAME) --start ISO --end ISO [--json]
  python lambda/evaluate.py report --start ISO --end ISO [--input NDJSON] [--findings F] [--output report.html]
  python lambda/evaluate.py remediate (--merchant ID | --payment-provider NAME) --action ACTION --at ISO
                                      [--incident-id ID] [--note TEXT]   (docs/closed-loop.md)

Configuration (SCENARIO, seed, merchants, index names) comes from the generator's variables and
flags, so the answer key is recomputed here for any range, never read back. Observations and the
change events beside them come from their indices (ELASTICSEARCH_HOST) or from the generator's
NDJSON (--input). Not on the Lambda handler's import path.
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
from grader import baseline, findings, scoring

HISTORY = baseline.HISTORY_DAYS * 24 * HOUR
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


def _ndjson_sources(path: str, index: str, start: datetime, end: datetime) -> list:
    """Sources of index in the generator's bulk NDJSON within [start, end) (other indices' pairs skipped)."""
    first, stop = generator.stamp(generator.hour_index(start)), generator.stamp(generator.hour_index(end))
    out = []
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
                if target == index and first <= timestamp < stop:
                    out.append(doc)
    except OSError as exc:
        raise ConfigError(f"--input: {exc}") from None
    return out


def _observations(args, cfg: config.Config, start: datetime, end: datetime) -> list:
    if args.input:
        return [baseline.observed(doc) for doc in _ndjson_sources(args.input, cfg.index, start, end)]
    return es.read_observations(_client(cfg), cfg.index, start, end, baseline.OBSERVED_FIELDS)


def _events(args, cfg: config.Config, start: datetime, end: datetime) -> list:
    """The change events of [start, end), by time then id: what an AI reads beside the documents."""
    if args.input:
        found = _ndjson_sources(args.input, cfg.events_index, start, end)
        return sorted(found, key=lambda event: (event.get("timestamp", ""), event.get("event_id", "")))
    return es.read_events(_client(cfg), cfg.events_index, start, end)


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


def _baseline(args, cfg, hour_range, out, err) -> None:
    # The traffic rule compares with the 7 days before each hour: read them too.
    observations = _observations(args, cfg, hour_range.start - HISTORY, hour_range.end)
    found = baseline.detect(observations, hour_range.start, hour_range.end)
    text = "".join(json.dumps(f) + "\n" for f in found)
    if args.output:
        os.makedirs(os.path.dirname(args.output) or ".", exist_ok=True)
        with open(args.output, "w", encoding="utf-8") as stream:
            stream.write(text)
    else:
        out.write(text)
    print(f"baseline: {len(found)} findings from {len(observations)} documents "
          f"({hour_range.hours} hours and {baseline.HISTORY_DAYS} days of history)", file=err)


def _score(args, cfg, hour_range, out, err) -> None:
    parsed = _usable(_findings(args, cfg), args.findings or args.findings_index, err)
    records, skipped = _answer_key(cfg, hour_range)
    result = scoring.assess(records, parsed, hour_range.start, hour_range.end, skipped).summary()
    out.write(json.dumps(result, indent=2) + "\n" if args.json else scoring.table(result))


def _report(args, cfg, hour_range, out, err) -> None:
    from grader import report

    records, skipped = _answer_key(cfg, hour_range)
    assessment = None
    source = args.findings or args.findings_index
    if source:
        parsed = _usable(_findings(args, cfg), source, err)
        assessment = scoring.assess(records, parsed, hour_range.start, hour_range.end, skipped)
    meta = {"scenario": cfg.scenario, "seed": cfg.seed, "merchants": cfg.merchants,
            "range": f"{generator.stamp(generator.hour_index(hour_range.start))} to "
                     f"{generator.stamp(generator.hour_index(hour_range.end))} ({hour_range.hours} hours)",
            "data index": cfg.index + (f" (from {args.input})" if args.input else ""),
            "answer-key index": cfg.answer_key_index, "findings": source or "none"}
    text = report.render(meta, hour_range.start, hour_range.end,
                         _observations(args, cfg, hour_range.start, hour_range.end), records, assessment,
                         _events(args, cfg, hour_range.start, hour_range.end))
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
    document = {**target, "action": args.action, "timestamp": hour.strftime("%Y-%m-%dT%H:00:00Z")}
    for field, value in (("incident_id", args.incident_id), ("note", args.note)):
        if value is not None:
            document[field] = value
    doc_id = f"{next(iter(target.values()))}-{args.action}-{hour:%Y%m%d%H}"
    es.write_remediation(_client(cfg), cfg.remediation_index, doc_id, document)
    out.write(f"remediation {doc_id} written to {cfg.remediation_index}: {json.dumps(document)}\n")


COMMANDS = {"baseline": _baseline, "score": _score, "report": _report}


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
