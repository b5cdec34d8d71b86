"""Grade an AI against the answer key: baseline, score and report (docs/grading.md).

  python lambda/evaluate.py baseline --start ISO --end ISO [--input NDJSON] [--output findings.jsonl]
  python lambda/evaluate.py reference --start ISO --end ISO [--input NDJSON] [--output findings.jsonl] [--remediate]
  python lambda/evaluate.py score (--findings F | --findings-index NAME) --start ISO --end ISO [--json]
  python lambda/evaluate.py report --start ISO --end ISO [--input NDJSON] [--findings F] [--output report.html]
  python lambda/evaluate.py grade [--days N] [--end ISO] [--findings F] [--output-dir DIR]
  python lambda/evaluate.py remediate (--merchant ID | --payment-provider NAME) --action ACTION --at ISO
                                      [--incident-id ID] [--note TEXT]   (docs/closed-loop.md)

Each takes --patience SECONDS, as the generator does. stdout carries only the command's output
(findings, the score, the remediation written); notes, warnings and errors go to stderr.

Configuration (SCENARIO, seed, merchants, index names) comes from the generator's variables and
flags, so the answer key is recomputed here for any range, never read back; only what the bench
recorded of the AI's remediations and findings is read from the answer-key index. Observations and
the change events beside them come from their indices (ELASTICSEARCH_HOST) or from the generator's
NDJSON (--input). Not on the Lambda handler's import path.
"""

from __future__ import annotations

import argparse
import contextlib
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
import ledger
from config import HOUR, ConfigError, EventError, HourRange
from grader import baseline, findings, reference, scoring

HISTORY = baseline.HISTORY_DAYS * 24 * HOUR
REFERENCE_HISTORY = (reference.HISTORY_HOURS + reference.LEAD_HOURS) * HOUR
# Every action some incident kind accepts, in the catalog's order.
ACTIONS = tuple(dict.fromkeys(action for kind in catalog.CATALOG.values() for action in kind.remediation))


def _parser() -> argparse.ArgumentParser:
    # allow_abbrev=False on every subparser too: --merchant 5 must not be taken for --merchants.
    parser = data_generator.argument_parser(prog="evaluate.py",
                                            description="Grade an AI's findings against the answer key.")
    commands = parser.add_subparsers(dest="command", required=True)

    def patience(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--patience", metavar="SECONDS",
                         help=f"how long an Elasticsearch request may go on retrying after its first failure "
                         f"(default {config.DEFAULT_PATIENCE_S}; 0: no retry)")

    def command(name: str, help: str, ranged: bool = True) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help, allow_abbrev=False)
        if ranged:
            sub.add_argument("--start", required=True, help="first hour, ISO 8601 (naive = UTC)")
            sub.add_argument("--end", required=True, help="end of the range, exclusive")
        sub.add_argument("--scenario", metavar="NAME|FILE", help=f"scenario (env {config.SCENARIO}, default steady)")
        sub.add_argument("--merchants", metavar="N", help=f"merchant count (env {config.MERCHANT_COUNT}, default 20)")
        sub.add_argument("--seed", metavar="S", help=f"generator seed (env {config.GENERATOR_SEED})")
        sub.add_argument("--index", metavar="NAME", help=f"data index (env {config.ELASTICSEARCH_INDEX})")
        sub.add_argument("--remediation", metavar="on|off",
                         help=f"the closed loop: apply and score remediations (env {config.REMEDIATION}, default off)")
        patience(sub)
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
    # grade: the range is --days whole days up to --end.
    sub = command("grade", "generate the range and its history, run the baseline (or take --findings), "
                           "score, write the report", ranged=False)
    sub.add_argument("--days", metavar="N", default="30", help="days in the range (default 30)")
    sub.add_argument("--end", metavar="ISO", help="end of the range, exclusive (default: today 00:00 UTC)")
    sub.add_argument("--findings", metavar="FILE", help="the AI's findings (default: the baseline's)")
    sub.add_argument("--output-dir", metavar="DIR", default=os.path.join("out", "grade"),
                     help="for the data, the baseline's findings and the report (default out/grade)")
    sub.set_defaults(findings_index=None)

    sub = commands.add_parser("remediate", help="write one remediation (the AI's action) for the closed loop",
                              description="write one remediation to the remediations index (docs/closed-loop.md)",
                              allow_abbrev=False)
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
    patience(sub)
    sub.set_defaults(seed=None, scenario=None, remediation=None)
    return parser


def _range(args: argparse.Namespace) -> HourRange:
    return config.parse_event({"start": args.start, "end": args.end}, datetime.now(timezone.utc))


def _retrier(args) -> es.Retrier:
    """What bounds every Elasticsearch request of the command: --patience (checked in main)."""
    return es.Retrier(patience=args.patience)


def _client(cfg: config.Config):
    if not cfg.host:
        raise ConfigError(f"{config.ELASTICSEARCH_HOST} is not set: set it, or give the observations with --input")
    return es.connect(cfg.host, **config.auth(cfg))


NOT_A_PAIR = "not a bulk action and document pair"


def _ndjson_pairs(stream):
    """(line number, index, document) of each pair of a bulk NDJSON stream, or (line number, None,
    a ValueError) where a line is unreadable, not JSON, or not a bulk pair."""
    lines = enumerate(findings.text_lines(stream), 1)
    for number, action_line in lines:
        if isinstance(action_line, str) and not action_line.strip():
            continue
        source_number, source_line = next(lines, (number, None))
        try:
            for where, line in ((number, action_line), (source_number, source_line)):
                if isinstance(line, ValueError):
                    number = where
                    raise line
            try:
                (meta,) = findings.loads(action_line).values()
                index = meta["_index"]
            except (ValueError, AttributeError, TypeError, KeyError):
                raise ValueError(NOT_A_PAIR) from None
            if not isinstance(index, str) or source_line is None:
                raise ValueError(NOT_A_PAIR)
            number = source_number
            try:
                doc = findings.loads(source_line)
            except ValueError as exc:
                raise ValueError(f"not JSON ({exc})") from None
        except ValueError as exc:
            yield number, None, exc
        else:
            yield number, index, doc


def _event(doc) -> dict:
    """A change event from an untrusted file, as the grader reads it; a ValueError naming what is not."""
    if not isinstance(doc, dict):
        raise ValueError(f"the event is not a JSON object, got {type(doc).__name__}")
    for name in ("event_id", "timestamp", "type"):
        if not isinstance(doc.get(name), str) or not doc[name]:
            raise ValueError(f"{name} must be a non-empty string")
    return doc


def _ndjson_observations(path: str, index: str, start: datetime, end: datetime, err=None,
                         check=baseline.checked) -> list:
    """Documents of index in the generator's bulk NDJSON (other indices' pairs skipped), each checked
    by check as untrusted input: a malformed line is listed on err with its number; none usable is a
    ConfigError."""
    first, stop = generator.stamp(generator.hour_index(start)), generator.stamp(generator.hour_index(end))
    out, problems, usable = [], 0, 0
    try:
        with open(path, "rb") as stream:
            for number, target, doc in _ndjson_pairs(stream):
                if target is not None and target != index:
                    continue
                try:
                    if target is None:
                        raise doc
                    doc = check(doc)
                except ValueError as exc:
                    problems += 1
                    print(f"--input line {number}: {exc}", file=sys.stderr if err is None else err)
                    continue
                usable += 1
                if first <= doc["timestamp"] < stop:
                    out.append(doc)
    except OSError as exc:  # its str() would quote the path
        raise ConfigError(f"cannot read --input {config.shown(path)}: {exc.strerror or type(exc).__name__}") from None
    if problems and not usable:
        raise ConfigError(f"--input {config.shown(path)}: {problems} malformed lines, no usable document of {index}")
    return out


def _observations(args, cfg: config.Config, start: datetime, end: datetime, err=None) -> list:
    if args.input:
        return _ndjson_observations(args.input, cfg.index, start, end, err)
    return es.read_observations(_client(cfg), cfg.index, start, end, baseline.OBSERVED_FIELDS, _retrier(args))


def _events(args, cfg: config.Config, start: datetime, end: datetime, err=None) -> list:
    """The change events of [start, end), by time then id: what an AI reads beside the documents."""
    if args.input:
        found = _ndjson_observations(args.input, cfg.events_index, start, end, err, check=_event)
        return sorted(found, key=lambda event: (event["timestamp"], event["event_id"]))
    return es.read_events(_client(cfg), cfg.events_index, start, end, _retrier(args))


def _documents_and_events(args, cfg: config.Config, start: datetime, end: datetime, err) -> tuple:
    """What the reference reads: its fields of the documents (checked as untrusted input), and the
    change events, of [start, end)."""
    if args.input:
        documents = _ndjson_observations(args.input, cfg.index, start, end, err, check=reference.checked)
    else:
        documents = es.read_observations(_client(cfg), cfg.index, start, end, reference.OBSERVED_FIELDS,
                                         _retrier(args))
    return documents, _events(args, cfg, start, end, err)


def _findings(args, cfg: config.Config) -> findings.Findings:
    if args.findings_index:
        name = config.index_name(args.findings_index, "--findings-index")
        client = _client(cfg)
        recorded = None
        if name == cfg.findings_index:
            # The index the hourly runs watch: what they recorded and when, never the documents' own.
            recorded = es.read_records(client, cfg.answer_key_index, {"term": {"kind": ledger.FINDING_SEEN}},
                                       _retrier(args))
        hits = es.read_documents(client, name, {"match_all": {}}, ["_doc"], source=list(ledger.FINDING_FIELDS),
                                 retrier=_retrier(args))
        try:
            return findings.parse_documents(hits, recorded)
        except RecursionError:  # a document nested deeper than the JSON parser goes
            if recorded is None:
                raise ConfigError(f"cannot read --findings-index {config.shown(name)}: "
                                  "a document is nested too deeply to parse") from None
            # The recorded copies are scored all the same; only the unrecorded cannot be listed.
            result = findings.parse_documents([], recorded)
            result.problems.append(("index", "not read whole (a document nested too deeply): unrecorded not listed"))
            return result
    try:
        with open(args.findings, "rb") as stream:
            parsed = findings.parse_lines(findings.text_lines(stream))
    except OSError as exc:  # its str() would quote the path
        raise ConfigError(f"cannot read --findings {config.shown(args.findings)}: "
                          f"{exc.strerror or type(exc).__name__}") from None
    return parsed


def _source(args) -> str | None:
    """The findings' source as messages name it, the value shown as config shows every value."""
    if args.findings_index:
        return f"--findings-index {config.shown(args.findings_index)}"
    return args.findings and f"--findings {config.shown(args.findings)}"


def _usable(parsed: findings.Findings, source: str, err) -> findings.Findings:
    if parsed.unusable:
        for where, reason in parsed.problems:
            print(f"{where}: {reason}", file=err)
        raise ConfigError(f"{source}: {parsed.lines} lines, none usable (an empty file is the null detector)")
    return parsed


def _answer_key(args, cfg: config.Config, hour_range: HourRange) -> tuple[list, list | None]:
    """(the answer key of hour_range, the malformed remediations or None with REMEDIATION=off):
    recomputed here; when the loop is closed, with the remediations the hourly runs recorded in
    the answer-key index, at the hours they recorded (the same as the stored key)."""
    if not cfg.remediation:
        return incidents.answer_key(cfg, hour_range)[0], None
    client = _client(cfg)

    def recorded(window: ledger.Window) -> ledger.Seen:
        acting = {"bool": {"filter": [{"term": {"kind": ledger.REMEDIATION_SEEN}},
                                      {"range": {"timestamp": {"gte": window.lo, "lt": window.stop}}}]}}
        return ledger.Seen(records=es.read_records(client, cfg.answer_key_index, acting, _retrier(args)))

    return incidents.answer_key(cfg, hour_range, recorded)


def _holds_none(args, cfg: config.Config) -> str:
    """The start of a warning that the observations' source holds no documents (of some hours)."""
    if args.input:
        return f"--input {config.shown(args.input)} holds no documents of the index {config.shown(cfg.index)}"
    return f"the index {config.shown(cfg.index)} holds no documents"


def _write(path: str, shown: str, text: str) -> None:
    with data_generator.open_output(path, shown) as stream:
        stream.write(text)


def _stamp(moment: datetime) -> str:
    return generator.stamp(generator.hour_index(moment))


class _Kept:
    """A sink for data_generator.run that keeps the data index's documents, observed fields only."""

    def __init__(self, index: str):
        self.index = index
        self.documents: list = []

    def send(self, pairs: list, records: int = 0, events: int = 0) -> int:
        for action, source in pairs[records + events:]:
            (meta,) = json.loads(action).values()
            if meta["_index"] == self.index:
                self.documents.append(baseline.observed(json.loads(source)))
        return len(pairs) - records - events


def baseline_nab(cfg: config.Config, hour_range: HourRange) -> dict:
    """The shipped baseline's NAB scores on cfg's range, seed and scenario, computed here: its data
    generated in-process (with its 7 days of history) in the world it leaves, where nobody remediates."""
    nobody = (lambda window: ledger.Seen()) if cfg.remediation else None
    kept = _Kept(cfg.index)
    data_generator.run(cfg, HourRange(hour_range.start - HISTORY, hour_range.end), kept, read=nobody)
    found = baseline.detect(kept.documents, hour_range.start, hour_range.end)
    records = incidents.answer_key(cfg, hour_range, nobody)[0]
    parsed = findings.parse_lines(json.dumps(f) for f in found)
    return scoring.assess(records, parsed, hour_range.start, hour_range.end).summary()["nab"]


def _write_findings(args, found: list, out) -> None:
    text = "".join(json.dumps(f) + "\n" for f in found)
    if args.output:
        _write(args.output, f"--output {config.shown(args.output)}", text)
    else:
        out.write(text)


def _baseline(args, cfg, hour_range, out, err) -> None:
    # The traffic rule compares with the 7 days before each hour: read them too.
    observations = _observations(args, cfg, hour_range.start - HISTORY, hour_range.end, err)
    found = baseline.detect(observations, hour_range.start, hour_range.end)
    _write_findings(args, found, out)
    start = _stamp(hour_range.start)
    history = [doc for doc in observations if doc["timestamp"] < start]
    in_range = len(observations) - len(history)
    history_hours = len({doc["timestamp"] for doc in history})
    # What was read, never more: the history is what the source held, not what was asked for.
    print(f"baseline: {len(found)} findings from {len(observations)} documents: {in_range} in the "
          f"{hour_range.hours} hours, {len(history)} of history in {history_hours} of the "
          f"{baseline.HISTORY_DAYS * 24} hours before", file=err)
    if not in_range:
        _warn_empty(args, cfg, hour_range, err)
    elif not history:
        print(f"warning: {_holds_none(args, cfg)} in the {baseline.HISTORY_DAYS} days before "
              f"{start}: the traffic_drop rule had no history (generate from {_stamp(hour_range.start - HISTORY)})",
              file=err)


def _warn_empty(args, cfg, hour_range, err) -> None:
    print(f"warning: {_holds_none(args, cfg)} from {_stamp(hour_range.start)} to {_stamp(hour_range.end)}: "
          "nothing to see (another range, index or file?)", file=err)


def _reference(args, cfg, hour_range, out, err) -> None:
    documents, events = _documents_and_events(args, cfg, hour_range.start - REFERENCE_HISTORY, hour_range.end, err)
    found = reference.solve(documents, events, hour_range.start, hour_range.end)
    _write_findings(args, found, out)
    print(f"reference: {len(found)} findings from {len(documents)} documents and {len(events)} events",
          file=err)
    if not documents:
        _warn_empty(args, cfg, hour_range, err)
    if args.remediate:
        for field, target, action, timestamp in reference.act(documents, events, hour_range.start, hour_range.end):
            _write_remediation(args, cfg, {field: target}, action, timestamp, err)


def _warn_guessable_seed(cfg: config.Config, err) -> None:
    """One line when the answer key is only as secret as a seed that can be found by trying seeds."""
    if cfg.scenario != config.DEFAULT_SCENARIO and config.guessable(cfg.seed):
        print(f"warning: the seed is below 2**64: it can be recovered from the data in seconds, and with it "
              f"the answer key of {cfg.scenario}; grade an AI on a secret 128-bit seed (docs/deployment.md)",
              file=err)


def _score(args, cfg, hour_range, out, err) -> None:
    _warn_guessable_seed(cfg, err)
    parsed = _usable(_findings(args, cfg), _source(args), err)
    records, skipped = _answer_key(args, cfg, hour_range)
    result = scoring.assess(records, parsed, hour_range.start, hour_range.end, skipped,
                            baseline_nab(cfg, hour_range)).summary()
    # What it graded against, first: a forgotten --scenario or --seed shows at once (the seed
    # only as its digest: it would let anyone recompute the answer key).
    against = {"scenario": cfg.scenario, "seed_digest": config.seed_digest(cfg.seed), "merchants": cfg.merchants}
    if args.json:
        out.write(json.dumps({**against, **result}, indent=2) + "\n")
    else:
        out.write(f"graded against: scenario {cfg.scenario}, seed digest {against['seed_digest']}, "
                  f"{cfg.merchants} merchants\n" + scoring.table(result))
    usable = result["findings"]["usable"]
    if usable and not result["overall"]["tp"]:
        print(f"warning: none of the {usable} usable findings matches an incident of scenario {cfg.scenario} "
              f"(seed digest {against['seed_digest']}) in the range: is the scenario or the seed wrong?", file=err)


def _report(args, cfg, hour_range, out, err) -> None:
    from grader import report

    _warn_guessable_seed(cfg, err)
    records, skipped = _answer_key(args, cfg, hour_range)
    assessment = None
    source = _source(args)
    if source:
        parsed = _usable(_findings(args, cfg), source, err)
        assessment = scoring.assess(records, parsed, hour_range.start, hour_range.end, skipped,
                                    baseline_nab(cfg, hour_range))
    meta = {"scenario": cfg.scenario, "seed digest": config.seed_digest(cfg.seed), "merchants": cfg.merchants,
            "range": f"{generator.stamp(generator.hour_index(hour_range.start))} to "
                     f"{generator.stamp(generator.hour_index(hour_range.end))} ({hour_range.hours} hours)",
            "data index": cfg.index + (f" (from {args.input})" if args.input else ""),
            "answer-key index": cfg.answer_key_index, "findings": args.findings or args.findings_index or "none"}
    observations = _observations(args, cfg, hour_range.start, hour_range.end, err)
    if not observations:
        _warn_empty(args, cfg, hour_range, err)
    text = report.render(meta, hour_range.start, hour_range.end, observations, records, assessment,
                         _events(args, cfg, hour_range.start, hour_range.end, err))
    path = args.output or os.path.join("out", f"{cfg.index}-report.html")
    # The default path is ours; a given one is shown as config shows every value.
    _write(path, f"--output {config.shown(path)}" if args.output else path, text)
    print(f"Wrote {path} ({len(text.encode()) // 1024} KB)", file=err)


def _grade_range(args: argparse.Namespace, now: datetime) -> HourRange:
    days = config.integer(args.days, "--days", 1, 366)
    if args.end is None:
        end = now.replace(hour=0, minute=0, second=0, microsecond=0)
    else:
        end = config.floor_hour(config.parse_time(args.end, "--end"))
    return config.parse_event({"start": (end - days * 24 * HOUR).isoformat(), "end": end.isoformat()}, now)


def _grade(args, cfg, hour_range, out, err) -> None:
    """The four commands of docs/grading.md in one: generate with history, baseline, score, report."""
    folder = args.output_dir
    data = os.path.join(folder, "data.ndjson")
    history = config.HourRange(hour_range.start - HISTORY, hour_range.end)
    config.check_remediation_source(cfg)
    read = data_generator.reader(cfg, _retrier(args))
    # The answer key beside the data, never in them (GROUND_TRUTH=separate): data.ndjson may go to the AI.
    key = None if cfg.ground_truth == "inline" else os.path.join(folder, "data-incidents.ndjson")
    with contextlib.ExitStack() as files:
        stream = files.enter_context(data_generator.open_output(data, f"--output-dir {config.shown(folder)}"))
        key_stream = key and files.enter_context(data_generator.open_output(key, f"--output-dir {config.shown(folder)}"))
        summary = data_generator.run(cfg, history, data_generator.NdjsonWriter(stream, key_stream, key or data),
                                     read=read)
    print(f"grade: wrote {summary['documents']} documents, {summary['start']} to {summary['end']} "
          f"({baseline.HISTORY_DAYS} days of history, then the {hour_range.hours // 24} days graded), to {data}",
          file=err)
    steps = argparse.Namespace(**{**vars(args), "input": data, "json": False})
    if not args.findings:
        steps.findings = os.path.join(folder, "baseline.jsonl")
        _baseline(argparse.Namespace(**{**vars(steps), "output": steps.findings}), cfg, hour_range, out, err)
    _score(steps, cfg, hour_range, out, err)
    report_path = os.path.join(folder, "report.html")
    _report(argparse.Namespace(**{**vars(steps), "output": report_path}), cfg, hour_range, out, err)
    out.write(f"report: {report_path}\n")


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
    _write_remediation(args, cfg, target, args.action, hour.strftime("%Y-%m-%dT%H:00:00Z"), out, extra)


def _write_remediation(args, cfg: config.Config, target: dict, action: str, timestamp: str, out,
                       extra: dict | None = None) -> None:
    """One remediation document, under an id that makes the same action at the same hour overwrite it:
    the one path by which `remediate` and `reference --remediate` act."""
    document = {**target, "action": action, "timestamp": timestamp, **(extra or {})}
    doc_id = f"{next(iter(target.values()))}-{action}-{timestamp[:4]}{timestamp[5:7]}{timestamp[8:10]}{timestamp[11:13]}"
    es.write_remediation(_client(cfg), cfg.remediation_index, doc_id, document, _retrier(args))
    out.write(f"remediation {doc_id} written to {cfg.remediation_index}: {json.dumps(document)}\n")


COMMANDS = {"baseline": _baseline, "reference": _reference, "score": _score, "report": _report, "grade": _grade}


def main(argv=None, environ=None, out=None, err=None) -> int:
    args = _parser().parse_args(argv)
    environ = os.environ if environ is None else environ
    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    try:
        cfg = data_generator.config_from_args(args, environ)
        args.patience = config.DEFAULT_PATIENCE_S if args.patience is None else config.patience(args.patience)
        if args.command == "remediate":
            _remediate(args, cfg, out)
        else:
            hour_range = _grade_range(args, datetime.now(timezone.utc)) if args.command == "grade" else _range(args)
            COMMANDS[args.command](args, cfg, hour_range, out, err)
    except (ConfigError, EventError) as exc:
        print(f"error: {exc}", file=err)
        return 2
    except (es.IndexingError, config.SecretError) as exc:
        print(f"error: {exc}", file=err)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
