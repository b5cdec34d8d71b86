"""pp-merchantai data generator: the Lambda handler and the command line.

Both take the same path: load config, work out the hours, generate every
merchant's document for each hour and send them in chunks to Elasticsearch
(or to an NDJSON file), with the answer-key records of the incidents in those
hours in the same bulk requests. Everything that can go wrong with the inputs raises a
named error from config; it is translated here, at the edges.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import logging
import os
import sys
import time
from datetime import datetime, timezone

import config
import es
import events
import generator
import incidents
import ledger
import scenario
from config import HOUR, Config, ConfigError, EventError, HourRange

logger = logging.getLogger("pp_merchantai")

# Kept free at the end of an invocation: no attempt starts unless it can end
# before it, so Lambda never kills the function mid-request.
SAFETY_MARGIN_S = 5
TABLE_ROWS = 20


def _observe(cfg: Config, schedule, hour_range: HourRange, read) -> list:
    """Reads what the AI wrote and what the bench recorded of it (one search), applies the
    remediations to schedule, and returns the bench's new records: what this run sees first."""
    seen = read(incidents.window(schedule, hour_range))
    new: list = []
    if cfg.remediation:
        _, new = incidents.remediate(schedule, hour_range, seen)
        for made in new:  # once, by the run that first sees it: its record keeps the reason
            if made["malformed"]:
                logger.warning("remediation %s skipped: %s", made["remediation_id"], made["malformed"])
    if cfg.findings_index:
        new += ledger.new_findings(seen, ledger.first_seen(seen, generator.hour_index(hour_range.start)))
    return new


# json.dumps(..., separators=(",", ":")), without building an encoder each call.
_compact = json.JSONEncoder(separators=(",", ":")).encode


def _pair(action: str, key: str, source: dict) -> tuple:
    return action + json.dumps(key) + "}}", _compact(source)


def _chunks(cfg: Config, hour_range: HourRange, size: int, read=None):
    """Every hour's bulk line pairs in order, in chunks of size documents (the last one fewer),
    each preceded by the answer-key records and change events that came with them:
    (pairs, records, events).

    The first `records` pairs of a chunk are answer-key records: first the bench's records of
    what it sees first (written with create: an earlier record wins), then at the run's first
    hour every chronic profile and incident under way (and the unmatched remediations), later
    each incident at its onset. The next `events` pairs are change events (events.ChangeLog),
    each hour's. Chunks are cut by documents alone, so nothing a run reports along the way
    (progress, the documents sent) moves with the incident schedule.
    """
    merchants = generator.roster(cfg.seed, cfg.merchants)
    schedule = incidents.schedule(cfg, merchants)
    target = '{"_index":' + json.dumps(cfg.answer_key_index) + ',"_id":'
    event_action = '{"index":{"_index":' + json.dumps(cfg.events_index) + ',"_id":'
    records: list = []
    changes: list = []
    if read is not None:
        records += [_pair('{"create":' + target, record["incident_id"], record)
                    for record in _observe(cfg, schedule, hour_range, read)]
    lines = generator.HourlyLines(merchants, cfg.index, schedule, cfg.ground_truth == "inline")
    log = events.ChangeLog(schedule, merchants)
    documents: list = []
    hour = hour_range.start
    while hour < hour_range.end:
        h = generator.hour_index(hour)
        found = schedule.records(schedule.starting(h, hour == hour_range.start))
        if hour == hour_range.start and read is not None and cfg.remediation:
            found += schedule.unmatched_records(h - 1, generator.hour_index(hour_range.end))
        records += [_pair('{"index":' + target, record["incident_id"], record) for record in found]
        changes += [_pair(event_action, event.event_id, event.source()) for event in log.at(h)]
        documents += lines.lines(hour)
        hour += HOUR
        while len(documents) >= size:
            chunk = records + changes + documents[:size]
            del documents[:size]
            yield chunk, len(records), len(changes)
            records, changes = [], []
    if records or changes or documents:
        yield records + changes + documents, len(records), len(changes)


class NdjsonWriter:
    """A sink that writes the bulk NDJSON (action line, source line) to a stream.

    key_stream: where the answer-key records go (GROUND_TRUTH=separate: a file of their own,
    so the observations' file never carries the answer); None: into stream with the documents.
    answer_key_output: the name of the file the records go to, for the summary.
    """

    def __init__(self, stream, key_stream=None, answer_key_output: str | None = None):
        self.stream = stream
        self.key_stream = stream if key_stream is None else key_stream
        self.answer_key_output = answer_key_output

    # Pairs joined per write: ~80 KB strings (pairs of ~650 bytes) stay below malloc's mmap
    # threshold (128 KB), where a whole chunk's (~1.3 MB) would page-fault fresh memory every
    # time (2x slower).
    PAIRS_PER_WRITE = 120

    def send(self, pairs: list, records: int = 0, events: int = 0) -> int:
        """The first records pairs are answer-key records; the events after them are observations."""
        self._write(self.key_stream, pairs[:records])
        self._write(self.stream, pairs[records:])
        return 0

    def _write(self, stream, pairs: list) -> None:
        step = self.PAIRS_PER_WRITE
        for i in range(0, len(pairs), step):
            # The empty last line ends the text with a newline, without copying it again.
            stream.write("\n".join(itertools.chain(itertools.chain.from_iterable(pairs[i:i + step]), ("",))))


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:00:00Z")


def run(cfg: Config, hour_range: HourRange, sink=None, progress=None, read=None) -> dict:
    """Generate hour_range's documents, pass them chunk by chunk to sink; return the summary.

    sink: an es.Indexer, an NdjsonWriter, or None to send nothing (dry run).
    When the indexer runs out of time (es.OutOfTime) the run stops with status
    "partial" and resume_from, the first hour not wholly sent.
    progress: called with the number of documents after every chunk.
    read: ledger.Window -> ledger.Seen, with REMEDIATION=on or FINDINGS_INDEX (_reader).
    Raises es.BulkError after the last chunk if any document was rejected.
    """
    started = time.monotonic()
    documents = indexed = 0
    resume_from = None
    for chunk, records, written in _chunks(cfg, hour_range, es.CHUNK_SIZE, read):
        if sink is not None:
            try:
                indexed += sink.send(chunk, records, written)
            except es.OutOfTime as stopped:
                # The chunk's records and events come first: what was done of it beyond them are documents.
                documents += max(0, stopped.done - records - written)
                indexed += stopped.indexed
                # Whole hours done so far; a partly sent hour is sent again (same ids).
                resume_from = hour_range.start + (documents // cfg.merchants) * HOUR
                if resume_from == hour_range.start:
                    if not documents:
                        raise
                    # Resuming would start over from the same hour, forever.
                    raise es.IndexingError(
                        f"ran out of time before finishing the first hour ({documents} of {cfg.merchants} "
                        f"documents sent; lower {config.MERCHANT_COUNT} or allow more time): {stopped}"
                    ) from None
                logger.warning("stopping early, resume from %s: %s", _stamp(resume_from), stopped)
                break
        documents += len(chunk) - records - written
        if progress is not None:
            progress(len(chunk) - records - written)

    failed = getattr(sink, "failed", 0)
    summary = {
        "status": "error" if failed else "partial" if resume_from else "ok",
        "index": cfg.index,
        "scenario": cfg.scenario,
        "start": _stamp(hour_range.start),
        "end": _stamp(hour_range.end),
        "hours": hour_range.hours,
        "documents": documents,
        "indexed": indexed,
        "failed": failed,
        "answer_key_index": cfg.answer_key_index,
        "events_index": cfg.events_index,
        "dry_run": sink is None,
        "duration_ms": round((time.monotonic() - started) * 1000),
    }
    if getattr(sink, "answer_key_output", None):
        summary["answer_key_output"] = sink.answer_key_output
    if resume_from:
        summary["resume_from"] = _stamp(resume_from)
    # Nothing in it depends on the incident schedule (no count of answer-key records): the
    # log and the return value may be read by anyone, the AI under test included.
    # Lambda's JSON log format also lifts `extra` keys into the record, so
    # the summary is queryable as fields in CloudWatch Logs Insights.
    logger.log(logging.ERROR if failed else logging.INFO, json.dumps(summary), extra={"summary": summary})
    if failed:
        sink.raise_failures(documents)
    return summary


@functools.lru_cache(maxsize=1)
def _client(cfg: Config):
    """One client per container. The indexer puts the two templates once per client, on
    first use, so a warm invocation makes exactly one request, the _bulk; a failure there
    is not remembered, so the next invocation tries the templates again. It reads no answer
    longer than es.MAX_ANSWER_BYTES: nothing the AI wrote can exhaust the function's memory."""
    return es.connect(cfg.host, **config.auth(cfg), max_answer_bytes=es.MAX_ANSWER_BYTES)


def _templates(cfg: Config) -> dict:
    return {cfg.index: es.data_mappings(cfg.ground_truth == "inline"), cfg.answer_key_index: es.ANSWER_KEY_MAPPINGS,
            cfg.events_index: es.EVENTS_MAPPINGS}


def reader(cfg: Config, retrier):
    """How run() reads what the AI wrote and what the bench recorded of it: None with
    REMEDIATION=off and no FINDINGS_INDEX. retrier (an es.Retrier, the run's indexer when it
    has one) bounds the search's retries like the run's."""
    if not (cfg.remediation or cfg.findings_index):
        return None
    return functools.partial(es.read_seen, _client(cfg), answer_key_index=cfg.answer_key_index,
                             remediation_index=cfg.remediation_index if cfg.remediation else None,
                             findings_index=cfg.findings_index, retrier=retrier, data_index=cfg.index)


def _set_log_level(cfg: Config) -> None:
    logger.setLevel(cfg.log_level)
    # The transport logs whole request bodies at DEBUG: too much for
    # CloudWatch. Its one-line-per-request INFO records show at DEBUG only.
    logging.getLogger("elastic_transport").setLevel(logging.INFO if cfg.log_level == "DEBUG" else logging.WARNING)


def lambda_handler(event, context):
    """Entry point for EventBridge schedules and manual `aws lambda invoke`."""
    try:
        cfg = config.load_config(os.environ)
        scenario.load(cfg)
        _set_log_level(cfg)
        hour_range = config.parse_event(event, datetime.now(timezone.utc))
        config.check_invocation_size(hour_range, cfg.merchants)
        if not hour_range.dry_run and not cfg.host:
            raise ConfigError(f"{config.ELASTICSEARCH_HOST} is not set")
        config.check_remediation_source(cfg)
    except (ConfigError, EventError, config.SecretError) as exc:
        # Expected, named errors: one clear line, no traceback. Re-raised so
        # the invocation fails visibly (Errors metric, on-failure destination).
        logger.error("%s: %s", type(exc).__name__, exc)
        raise
    if context is None:  # invoked locally: the CLI's default patience
        limits = {"patience": config.DEFAULT_PATIENCE_S}
    else:
        # Retries go on while they can end before the safety margin.
        limits = {"time_left": lambda: context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_S}
    try:
        if hour_range.dry_run:
            return run(cfg, hour_range, read=reader(cfg, es.Retrier(**limits)))
        indexer = es.Indexer(_client(cfg), _templates(cfg), **limits)
    except (ConfigError, config.SecretError) as exc:
        logger.error("%s: %s", type(exc).__name__, exc)
        raise
    return run(cfg, hour_range, indexer, read=reader(cfg, indexer))


# --- command line -------------------------------------------------------------------


def _flag_int(flag: str):
    """An argparse type: an integer (range checked later), refused showing the value as config does."""
    def parse(value: str) -> int:
        import argparse

        try:
            return config.integer(value, flag)
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


def argument_parser(**kwargs) -> argparse.ArgumentParser:
    """An ArgumentParser for both command lines: no abbreviated flags (--merchant 5 must not be
    taken for --merchants; give subparsers allow_abbrev=False too), usage errors in one line."""
    import argparse  # the command line only: ~15 ms of every Lambda cold start otherwise

    class Parser(argparse.ArgumentParser):  # its subparsers are Parsers too
        def error(self, message):
            self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    return Parser(allow_abbrev=False, **kwargs)


def _parser() -> argparse.ArgumentParser:
    parser = argument_parser(
        prog="data_generator.py",
        description="Generate hourly merchant data points and index them into Elasticsearch "
        "(ELASTICSEARCH_HOST set) or write them as bulk NDJSON (default: out/<index>-<hour>.ndjson).",
    )
    parser.add_argument("--start", help="first hour, ISO 8601 (naive = UTC); default: the current hour")
    parser.add_argument("--end", help="end of the range, exclusive (default: now); needs --start")
    parser.add_argument("--output", metavar="PATH|-", help="write bulk NDJSON to PATH (- for stdout); send nothing")
    parser.add_argument("--answer-key-output", metavar="PATH",
                        help="with GROUND_TRUTH=separate, write the answer-key records here "
                        "(default: beside the output, -incidents before its extension)")
    parser.add_argument("--dry-run", action="store_true", help="generate, send and write nothing; print the summary")
    parser.add_argument("--merchants", metavar="N", help=f"merchant count (env {config.MERCHANT_COUNT}, default 20)")
    parser.add_argument("--seed", metavar="S", help=f"generator seed (env {config.GENERATOR_SEED})")
    parser.add_argument("--index", metavar="NAME", help=f"index name (env {config.ELASTICSEARCH_INDEX})")
    parser.add_argument("--patience", metavar="SECONDS",
                        help=f"how long a chunk may go on retrying after its first failure "
                        f"(default {config.DEFAULT_PATIENCE_S})")
    parser.add_argument("--scenario", metavar="NAME|FILE",
                        help=f"steady, incidents, hard or a scenario file (env {config.SCENARIO}, default steady)")
    parser.add_argument("--remediation", metavar="on|off",
                        help=f"incidents wait for the AI's fix (env {config.REMEDIATION}, default off)")
    parser.add_argument("--incidents", action="store_true",
                        help="print the answer key of the range as a table; generate and send nothing")
    fan = parser.add_argument_group("fan-out", "send the range to the deployed function instead (see fanout.py)")
    fan.add_argument("--invoke", metavar="FUNCTION", help="invoke FUNCTION asynchronously once per chunk of the range")
    fan.add_argument("--chunk-hours", metavar="H", type=_flag_int("--chunk-hours"),
                     help="hours per invocation (default: sized to the timeout)")
    fan.add_argument("--concurrency", metavar="C", type=_flag_int("--concurrency"),
                     help="invocations per wave, one wave per chunk duration (default 10; 0: all at once)")
    return parser


def config_from_args(args: argparse.Namespace, environ) -> Config:
    if args.seed is not None:  # --seed wins over the environment's seed, secret or not: no secret is read
        environ = {name: value for name, value in environ.items()
                   if name not in (config.GENERATOR_SEED, config.GENERATOR_SEED_SECRET_ARN)}
    cfg = config.load_config(environ)
    overrides = {}
    if args.merchants is not None:
        overrides["merchants"] = config.merchant_count(args.merchants, "--merchants")
    if args.seed is not None:
        overrides["seed"] = config.seed(args.seed, "--seed")
    if args.index is not None:
        overrides["index"] = config.index_name(args.index, "--index")
    if args.scenario is not None:
        overrides["scenario"] = config.scenario(args.scenario, "--scenario")
    if args.remediation is not None:
        overrides["remediation"] = config.remediation(args.remediation, "--remediation")
    cfg = dataclasses.replace(cfg, **overrides)
    scenario.load(cfg)
    return cfg


def _range_from_args(args: argparse.Namespace, now: datetime) -> HourRange:
    if args.end is not None and args.start is None:
        raise EventError("--end needs --start")
    event = {} if args.start is None else {"start": args.start}
    if args.end is not None:
        event["end"] = args.end
    return config.parse_event(event, now)


def _default_output(cfg: Config, hour_range: HourRange) -> str:
    first = hour_range.start.strftime("%Y%m%d%H")
    last = (hour_range.end - HOUR).strftime("%Y%m%d%H")
    name = first if first == last else f"{first}-{last}"
    return os.path.join("out", f"{cfg.index}-{name}.ndjson")


def _key_output(path: str) -> str:
    """Where the answer key goes beside the output path: out/x.ndjson -> out/x-incidents.ndjson
    (and /dev/null's to /dev/null)."""
    if path == os.devnull:
        return path
    stem, extension = os.path.splitext(path)
    return stem + config.ANSWER_KEY_SUFFIX + extension


def _answer_key_path(args, cfg: Config, hour_range: HourRange, path: str | None) -> str | None:
    """The answer-key file of a file run (GROUND_TRUTH=separate), path being the output's (None: stdout)."""
    if cfg.ground_truth == "inline":
        if args.answer_key_output is not None:
            raise ConfigError(f"--answer-key-output needs {config.GROUND_TRUTH}=separate "
                              "(inline writes the answer key into the output with the documents)")
        return None
    key = args.answer_key_output or _key_output(path or _default_output(cfg, hour_range))
    if path not in (None, os.devnull) and os.path.realpath(key) == os.path.realpath(path):
        raise ConfigError(f"--answer-key-output must not be the output file, got {config.shown(key)}")
    return key


def documents(cfg: Config, hour: datetime, read=None) -> list:
    """Every merchant's document at hour, parsed from the bulk lines a run writes."""
    merchants = generator.roster(cfg.seed, cfg.merchants)
    schedule = incidents.schedule(cfg, merchants)
    if read is not None:
        _observe(cfg, schedule, HourRange(hour, hour + HOUR), read)
    lines = generator.HourlyLines(merchants, cfg.index, schedule, cfg.ground_truth == "inline")
    return [json.loads(source) for _, source in lines.lines(hour)]


def _print_table(cfg: Config, hour: datetime, out, read=None) -> None:
    # The issues are the truth: shown with steady (chronic profiles only, no schedule) or when the
    # data carry them anyway (inline); otherwise a run's output never tells when an incident starts.
    truth = cfg.scenario == config.DEFAULT_SCENARIO or cfg.ground_truth == "inline"
    shown = dataclasses.replace(cfg, merchants=min(cfg.merchants, TABLE_ROWS), ground_truth="inline")
    print(f"\nMerchants at {_stamp(hour)}:", file=out)
    row = "{:<13} {:<14} {:>10} {:>7} {:>12}  {}"
    print(row.format("merchant", "city", "conversion", "errors", "transactions",
                     "issues" if truth else "(issues: see --incidents)"), file=out)
    for doc in documents(shown, hour, read):
        print(
            row.format(
                doc["merchant_id"],
                doc.get("city", "-"),
                f"{doc['conversion_rate']:.2f}%",
                f"{doc['error_rate']:.2f}%",
                doc["transaction_count"],
                (", ".join(doc["issues"]) or "-") if truth else "",
            ).rstrip(),
            file=out,
        )
    if cfg.merchants > TABLE_ROWS:
        print(f"... and {cfg.merchants - TABLE_ROWS} more merchants", file=out)


def _print_answer_key(cfg: Config, hour_range: HourRange, out, retrier) -> None:
    records, _ = incidents.answer_key(cfg, hour_range, reader(cfg, retrier) if cfg.remediation else None)
    print(f"Answer key ({cfg.answer_key_index}), {_stamp(hour_range.start)} to {_stamp(hour_range.end)}: "
          f"scenario {cfg.scenario}, seed digest {config.seed_digest(cfg.seed)}, {cfg.merchants} merchants, {len(records)} incidents", file=out)
    row = "{:<20} {:<36} {:<17} {:<17} {:<33} {}"
    print(row.format("kind", "merchants", "onset", "end", "labels", "root cause"), file=out)
    for record in records:
        ids = record["merchant_ids"]
        merchants = ", ".join(ids) if len(ids) <= 2 else f"{ids[0]} +{len(ids) - 1} more"
        if "payment_provider" in record:
            merchants = f"{record['payment_provider']}: {merchants}"
        when = [record[field][:16].replace("T", " ") if record[field] else "chronic" for field in ("onset", "end")]
        print(row.format(record["kind"], merchants, *when, ", ".join(record["issues"]) or "none (benign)",
                         f"{record['root_cause']['category']} / {record['root_cause']['component']}"), file=out)


def open_output(path: str, shown: str):
    """The output file, opened for writing (its directory made); a ConfigError (exit 2) naming
    it as shown (how an error shows a given path: config.shown()) if it cannot be."""
    try:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        return open(path, "w", encoding="utf-8")
    except OSError as exc:
        error = f"cannot write {shown}: {exc.strerror or type(exc).__name__}"
    raise ConfigError(error)


def _write_files(args, cfg: Config, hour_range: HourRange, generate, err) -> dict:
    """A file run: the bulk NDJSON to --output (or stdout, or the default path), and with
    GROUND_TRUTH=separate the answer key to a file of its own; the summary."""
    path = None if args.output == "-" else args.output or _default_output(cfg, hour_range)
    key_path = _answer_key_path(args, cfg, hour_range, path)
    with contextlib.ExitStack() as files:
        # A given path is shown as config shows every value; the default ones are ours.
        stream = sys.stdout if path is None else files.enter_context(
            open_output(path, f"--output {config.shown(path)}" if args.output else path))
        key_stream = None if key_path is None else files.enter_context(open_output(
            key_path, f"--answer-key-output {config.shown(key_path)}" if args.answer_key_output else key_path))
        summary = generate(cfg, hour_range, NdjsonWriter(stream, key_stream, key_path or path))
    if path is not None:
        print(f"Wrote {summary['documents']} documents to {path}"
              + (f", the answer key to {key_path}" if key_path else ""), file=err)
    if not args.output:
        _print_table(cfg, hour_range.end - HOUR, err)
        print(
            "\nLoad it into Elasticsearch with:\n"
            '  curl -H "Authorization: ApiKey $ELASTICSEARCH_API_KEY" '
            '-H "Content-Type: application/x-ndjson" \\\n'
            f'    -X POST "$ELASTICSEARCH_HOST/_bulk" --data-binary @{path}',
            file=err,
        )
    return summary


def _progress(cfg: Config, hour_range: HourRange, stream):
    if hour_range.hours < 2:
        return None
    import progress

    return progress.Progress(hour_range.hours * cfg.merchants, stream)


def _run_with_progress(bar, retrier, cfg, hour_range, sink=None):
    read = reader(cfg, retrier)
    if bar is None:
        return run(cfg, hour_range, sink, read=read)
    try:
        with bar.around_logging(logger):
            summary = run(cfg, hour_range, sink, progress=bar, read=read)
    except BrokenPipeError:  # stdout's reader went away (| head): nothing to report
        bar.clear()
        raise
    except BaseException:
        bar.close(failed=True)
        raise
    bar.close(summary)
    return summary


def main(argv=None, environ=None) -> int:
    args = _parser().parse_args(argv)
    environ = os.environ if environ is None else environ
    err = sys.stderr
    # Log lines (the summary among them) go to stderr as bare messages;
    # stdout is kept for --output -.
    handler = logging.StreamHandler(err)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    try:
        cfg = config_from_args(args, environ)
        patience = config.DEFAULT_PATIENCE_S if args.patience is None else config.patience(args.patience)
        _set_log_level(cfg)
        hour_range = _range_from_args(args, datetime.now(timezone.utc))
        if args.invoke:
            import fanout

            return fanout.cli(args, hour_range, err)
        if args.chunk_hours is not None or args.concurrency is not None:
            raise ConfigError("--chunk-hours and --concurrency need --invoke")
        if args.answer_key_output is not None and (args.dry_run or args.incidents or (cfg.host and not args.output)):
            raise ConfigError("--answer-key-output needs a file run: --output, or no ELASTICSEARCH_HOST")
        config.check_remediation_source(cfg)
        patient = es.Retrier(patience=patience)
        if args.incidents:
            _print_answer_key(cfg, hour_range, sys.stdout, patient)
            return 0
        # A backfill (more than one hour) shows progress on stderr.
        bar = _progress(cfg, hour_range, err)
        generate = functools.partial(_run_with_progress, bar, patient)
        if args.dry_run:
            summary = generate(cfg, hour_range)
            _print_table(cfg, hour_range.end - HOUR, err, reader(cfg, patient))
        elif args.output or not cfg.host:
            summary = _write_files(args, cfg, hour_range, generate, err)
        else:
            indexer = es.Indexer(_client(cfg), _templates(cfg), patience=patience)
            summary = _run_with_progress(bar, indexer, cfg, hour_range, indexer)
            if summary["status"] == "partial":
                print(f"error: stopped early; to finish, run again with --start {summary['resume_from']} "
                      f"--end {summary['end']}", file=err)
                return 1
    except (ConfigError, EventError) as exc:
        print(f"error: {exc}", file=err)
        return 2
    except (es.IndexingError, config.SecretError) as exc:
        print(f"error: {exc}", file=err)
        return 1
    finally:
        logger.removeHandler(handler)
        logger.propagate = True
    if logger.getEffectiveLevel() > logging.INFO:
        print(json.dumps(summary), file=err)
    return 0


# The exit status when stdout's reader goes away (| head), as for a command killed by SIGPIPE.
EXIT_BROKEN_PIPE = 128 + 13


def exit_with(main) -> None:
    """sys.exit(main()), ending quietly when stdout's reader goes away: Python's recipe
    (the signal module's "Note on SIGPIPE"). Both command lines end this way."""
    try:
        code = main()
        sys.stdout.flush()  # here, inside the try: a failing flush at exit would print a traceback
    except BrokenPipeError:
        # Python flushes stdout once more at exit: into devnull, not the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = EXIT_BROKEN_PIPE
    sys.exit(code)


if __name__ == "__main__":
    exit_with(main)
