"""Benchmarks for the backfill and the hourly run: `make bench` (not tests; numbers vary by machine).

Prints, from one run on one machine, a markdown table (pasted into bench/README.md):
generation docs per CPU-second, end to end into a no-op bulk sink and into the
test engine (osmem-server behind tests/shim.py), elasticsearch-faker side by
side (from .venv-bench), peak RSS of a 1,000,000-document backfill, the warm
hourly handler, cold import time, the Lambda zip size and the Lambda cost.

Run with the dev venv's python from the repository root; .venv-bench must have
elasticsearch-faker (the Makefile's bench target makes both).
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import datetime as dt
import glob
import importlib.util
import io
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAMBDA = os.path.join(ROOT, "lambda")
sys.path.insert(0, LAMBDA)

import config  # noqa: E402
import data_generator  # noqa: E402
import es  # noqa: E402
import generator  # noqa: E402
import incidents  # noqa: E402
from config import HOUR, Config, HourRange  # noqa: E402

FAKER_PYTHON = os.path.join(ROOT, ".venv-bench", "bin", "python")
T0 = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
PRICE_PER_GB_S = 0.0000133334
PRICE_PER_REQUEST = 0.20 / 1_000_000
RUNS_PER_MONTH = 720
MEMORY_GB = 0.5
LAMBDA_VCPU_AT_512 = 512 / 1769  # Lambda gives one vCPU at 1,769 MB, proportionally less below

rows: list = []


def row(what: str, value: str, note: str = "") -> None:
    rows.append((what, value, note))
    print(f"  {what}: {value}  {note}", file=sys.stderr, flush=True)


def _shim():
    spec = importlib.util.spec_from_file_location("shim", os.path.join(ROOT, "tests", "shim.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["shim"] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module


class NoopSink:
    """bench/noop_sink.py in a child process (its own CPU, not ours)."""

    def __enter__(self):
        self.process = subprocess.Popen([sys.executable, os.path.join(ROOT, "bench", "noop_sink.py")],
                                        stdout=subprocess.PIPE, text=True)
        self.url = self.process.stdout.readline().strip()
        return self

    def __exit__(self, *exc):
        self.process.kill()
        self.process.wait()


def _range(hours: int) -> HourRange:
    return HourRange(T0, T0 + hours * HOUR)


def machine() -> str:
    model = "unknown CPU"
    with open("/proc/cpuinfo") as stream:
        for line in stream:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} CPUs ({model}), {memory:.0f} GiB, Python {platform.python_version()}, "
            f"{platform.system()} {platform.machine()}, {dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M} UTC")


# --- generation -------------------------------------------------------------------------


def _ours(roster, hours: int) -> tuple:
    """(HourlyLines alone, run() writing NDJSON to /dev/null), docs per CPU-second."""
    lines = generator.HourlyLines(roster, "pp-merchantai", incidents.schedule(Config(merchants=len(roster)), roster))
    cpu = time.process_time()
    for i in range(hours):
        lines.lines(T0 + i * HOUR)
    only_lines = len(roster) * hours / (time.process_time() - cpu)
    with open(os.devnull, "w") as devnull:
        cpu = time.process_time()
        summary = data_generator.run(Config(merchants=len(roster)), _range(hours), data_generator.NdjsonWriter(devnull))
        written = summary["documents"] / (time.process_time() - cpu)
    return only_lines, written


def _faker() -> float:
    result = json.loads(subprocess.run([FAKER_PYTHON, os.path.join(ROOT, "bench", "faker_bench.py"),
                                        "generate", "20000"], check=True, capture_output=True, text=True).stdout)
    return result["documents"] / result["cpu_s"]


def generation() -> None:
    """Ours and elasticsearch-faker's, alternately, 3 times: CPU time, so other load counts less,
    and each ratio from two runs a few seconds apart (this machine's speed drifts over minutes)."""
    roster = generator.roster(config.DEFAULT_SEED, 1000)
    runs = []
    for _ in range(3):
        only_lines, written = _ours(roster, 300)
        runs.append((only_lines, written, _faker()))
    row("generation only (HourlyLines), 300,000 docs", f"{max(r[0] for r in runs):,.0f} docs/CPU-s", "best of 3")
    row("generation + bulk NDJSON written (run() to /dev/null), 300,000 docs",
        f"{max(r[1] for r in runs):,.0f} docs/CPU-s", "best of 3; the CLI's --output path")
    row("elasticsearch-faker generation + NDJSON, 20,000 docs", f"{max(r[2] for r in runs):,.0f} docs/CPU-s",
        "best of 3; same schema (bench/faker_template.jinja2)")
    ratios = sorted(written / faker for _, written, faker in runs)
    row("ratio, generation + NDJSON", f"{ratios[1]:,.0f}x",
        f"ours / elasticsearch-faker, per CPU-second: median of 3 paired runs ({ratios[0]:,.0f}x-{ratios[2]:,.0f}x)")


# --- end to end -------------------------------------------------------------------------


def into_noop() -> float:
    merchants, hours = 1000, 300
    with NoopSink() as sink:
        client = es.connect(sink.url)
        saved = es.CHUNK_SIZE, es.BULK_FILTER_PATH
        results = {}
        for label, size, filter_path in (("chunk 2,000, filter_path (default)", 2000, saved[1]),
                                         ("chunk 2,000, no filter_path", 2000, None),
                                         ("chunk 500", 500, saved[1]),
                                         ("chunk 5,000", 5000, saved[1])):
            es.CHUNK_SIZE, es.BULK_FILTER_PATH = size, filter_path
            hours_here = hours if size == 2000 and filter_path else 100
            wall, cpu = time.perf_counter(), time.process_time()
            summary = data_generator.run(Config(host=sink.url, merchants=merchants), _range(hours_here),
                                         es.Indexer(client, {}, patience=0))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            assert summary["indexed"] == merchants * hours_here
            results[label] = summary["documents"] / wall
            row(f"end to end into the no-op sink, {label}, {summary['documents']:,} docs",
                f"{summary['documents'] / wall:,.0f} docs/s", f"{summary['documents'] / cpu:,.0f} docs/CPU-s in the client")
        es.CHUNK_SIZE, es.BULK_FILTER_PATH = saved
        return results["chunk 2,000, filter_path (default)"]


def into_engine(engine_url_holder: dict) -> None:
    from osmem_server import OsmemServer

    shim = _shim()
    server = OsmemServer.start(japanese=False)
    try:
        clone = server.clone()
        proxy = shim.Proxy(clone.url)
        engine_url_holder.update(server=server, clone=clone, proxy=proxy)
        merchants, hours = 1000, 20
        client = es.connect(proxy.url)
        indexer = es.Indexer(client, {"pp-merchantai": es.MAPPINGS}, patience=0)
        indexer.send([])  # puts the index template
        wall = time.perf_counter()
        summary = data_generator.run(Config(host=proxy.url, merchants=merchants), _range(hours), indexer)
        ours = summary["indexed"] / (time.perf_counter() - wall)
        row(f"end to end into the test engine (osmem-server + shim), {summary['indexed']:,} docs",
            f"{ours:,.0f} docs/s", "bound by the engine and the Python shim")
        result = json.loads(subprocess.run(
            [FAKER_PYTHON, os.path.join(ROOT, "bench", "faker_bench.py"), "index", proxy.url, "20000", "2000"],
            check=True, capture_output=True, text=True).stdout)
        theirs = result["documents"] / result["wall_s"]
        row(f"elasticsearch-faker into the same engine, {result['documents']:,} docs", f"{theirs:,.0f} docs/s",
            "its own bulk worker, bulk size 2,000 like ours")
        row("ratio, into the engine", f"{ours / theirs:,.1f}x", "ours / elasticsearch-faker")
    except BaseException:
        server.close()
        raise


# --- memory -------------------------------------------------------------------------------


# Started from a small launcher: a child's ru_maxrss counts the pages it shares
# with its parent between fork and exec, so forking from this (large) process
# would report this process's size.
LAUNCHER = """
import os, subprocess, sys
process = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(process.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
"""


def peak_rss(args: list, env: dict | None = None, cpu: bool = False) -> tuple:
    """(peak RSS in MB, wall seconds[, CPU seconds]) of one CLI run in a child process, from its own rusage."""
    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-c", LAUNCHER, sys.executable, os.path.join(LAMBDA, "data_generator.py"),
                             *args], env={**os.environ, **(env or {})}, check=True, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    code, max_rss_kb, cpu_seconds = result.stdout.split()
    assert int(code) == 0, args
    return (int(max_rss_kb) / 1024, seconds) + ((float(cpu_seconds),) if cpu else ())


def memory(noop_url: str) -> None:
    backfill = ["--merchants", "1000", "--start", "2024-01-01T00:00", "--end", "2024-02-11T16:00"]  # 1,000 hours
    mb, seconds = peak_rss(backfill + ["--output", os.devnull])
    row("peak RSS, 1,000,000-doc backfill, --output /dev/null", f"{mb:.0f} MB",
        f"{1_000_000 / seconds:,.0f} docs/s wall for the whole process")
    # Issue 8's bar: with incidents, >= 100,000 docs per CPU-second and under 120 MB.
    for scenario, truth in (("incidents", "separate"), ("incidents", "inline"), ("steady", "separate"),
                            ("hard", "separate")):
        mb, seconds, cpu = peak_rss(backfill + ["--output", os.devnull], {"SCENARIO": scenario, "GROUND_TRUTH": truth},
                                    cpu=True)
        row(f"1,000,000-doc backfill, SCENARIO={scenario} GROUND_TRUTH={truth}, CLI --output /dev/null",
            f"{1_000_000 / cpu:,.0f} docs/CPU-s", f"peak RSS {mb:.0f} MB; whole process, start-up included")
    mb, seconds = peak_rss(backfill, {"ELASTICSEARCH_HOST": noop_url, "LOG_LEVEL": "WARNING"})
    row("peak RSS, 1,000,000-doc backfill, indexed into the no-op sink", f"{mb:.0f} MB",
        f"{1_000_000 / seconds:,.0f} docs/s wall for the whole process")
    mb, _ = peak_rss(["--merchants", "20", "--start", "2024-01-01T00:00", "--end", "2024-01-01T01:00",
                      "--output", os.devnull])
    row("peak RSS, one hourly run (20 merchants), --output /dev/null", f"{mb:.0f} MB")


# --- the hourly handler --------------------------------------------------------------------


def handler(proxy, noop_url: str) -> float:
    """Warm hourly invocations in process: median milliseconds and HTTP requests each."""
    saved = dict(os.environ)
    try:
        os.environ.update(ELASTICSEARCH_HOST=proxy.url, MERCHANT_COUNT="20", LOG_LEVEL="WARNING")
        data_generator._client.cache_clear()
        before = len(proxy.requests)
        cold = time.perf_counter()
        data_generator.lambda_handler({"time": "2025-06-01T00:00:00Z"}, None)
        cold = (time.perf_counter() - cold) * 1000
        cold_requests = len(proxy.requests) - before
        times, requests = [], []
        for i in range(1, 41):
            before = len(proxy.requests)
            started = time.perf_counter()
            summary = data_generator.lambda_handler({"time": f"2025-06-0{1 + i // 24}T{i % 24:02d}:00:00Z"}, None)
            times.append((time.perf_counter() - started) * 1000)
            requests.append(len(proxy.requests) - before)
            assert summary["indexed"] == 20
        warm = statistics.median(times)
        row("hourly handler, 20 merchants, into the engine: cold (template + bulk)",
            f"{cold:.1f} ms", f"{cold_requests} HTTP requests")
        row("hourly handler, 20 merchants, into the engine: warm (median of 40)",
            f"{warm:.1f} ms", f"{statistics.mean(requests):g} HTTP request(s) each")

        for merchants, runs, note in (("20", 40, "our side alone: generation, client, one request"),
                                      ("10000", 5, "5 bulk requests of 2,000")):
            os.environ.update(ELASTICSEARCH_HOST=noop_url, MERCHANT_COUNT=merchants)
            data_generator._client.cache_clear()
            data_generator.lambda_handler({"time": "2025-06-01T00:00:00Z"}, None)
            times = []
            for i in range(1, runs + 1):
                started = time.perf_counter()
                data_generator.lambda_handler({"time": f"2025-06-0{1 + i // 24}T{i % 24:02d}:00:00Z"}, None)
                times.append((time.perf_counter() - started) * 1000)
            row(f"hourly handler, {int(merchants):,} merchants, into the no-op sink: warm (median of {runs})",
                f"{statistics.median(times):.1f} ms", note)
        return warm
    finally:
        os.environ.clear()
        os.environ.update(saved)
        data_generator._client.cache_clear()


# --- cold start ----------------------------------------------------------------------------


def import_ms(code: str) -> float:
    """Best of 7 wall times of `python -c code` in lambda/, minus an empty interpreter's."""
    def best(source):
        times = []
        for _ in range(7):
            started = time.perf_counter()
            subprocess.run([sys.executable, "-c", source], cwd=LAMBDA, check=True)
            times.append(time.perf_counter() - started)
        return min(times)

    return (best(code) - best("pass")) * 1000


def cold_start() -> None:
    row("cold import: data_generator (dry run / --output path)", f"{import_ms('import data_generator'):.0f} ms",
        "the client is not imported")
    row("cold import: data_generator + the Elasticsearch client (handler path)",
        f"{import_ms('import data_generator, elasticsearch'):.0f} ms")
    row("cold import: elasticsearch alone, for comparison", f"{import_ms('import elasticsearch'):.0f} ms")


# --- zip ---------------------------------------------------------------------------------------

# The handler's whole import path on a cold start: the module (config, es, generator), the
# event's time parser, and the client with its transport and HTTP node.
HANDLER_IMPORTS = ("import sys, time; t = time.perf_counter(); sys.path.insert(0, sys.argv[1]); "
                   "import data_generator, dateutil.parser, es; es.connect('http://127.0.0.1:9'); "
                   "print(time.perf_counter() - t)")


def python313() -> str | None:
    """The Lambda runtime's Python: LAMBDA_PYTHON, else pyenv's 3.13 (the PATH shim may not run)."""
    found = os.environ.get("LAMBDA_PYTHON") or next(iter(sorted(glob.glob(os.path.join(
        os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv"), "versions", "3.13*", "bin", "python3.13")),
        reverse=True)), None)
    return found


def _import_ms(python: str, directory: str, runs: int) -> float:
    """Best of runs: the handler's imports from directory in an isolated interpreter writing no bytecode."""
    return 1000 * min(float(subprocess.run([python, "-S", "-I", "-B", "-c", HANDLER_IMPORTS, directory],
                                           check=True, capture_output=True, text=True).stdout)
                      for _ in range(runs))


def lambda_package() -> float:
    """Builds the zip with deploy.sh (bytecode by python3.13), rows its size and the handler's cold
    import from it with and without the bytecode; returns both import times in ms (shipped, source)."""
    python = python313()
    env = dict(os.environ, **({"LAMBDA_PYTHON": python} if python else {}))
    subprocess.run([os.path.join(ROOT, "deploy.sh"), "--package-only"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    path = os.path.join(ROOT, "lambda-deployment.zip")
    row("Lambda zip size", f"{os.path.getsize(path) / 2**20:.1f} MB",
        "./deploy.sh --package-only" + (", with bytecode" if python else ", source only (no python3.13)"))
    python = python or sys.executable
    version = subprocess.run([python, "-c", "import platform; print(platform.python_version())"],
                             check=True, capture_output=True, text=True).stdout.strip()
    with tempfile.TemporaryDirectory() as unpacked:
        zipfile.ZipFile(path).extractall(unpacked)
        shipped = _import_ms(python, unpacked, 7)
        for cache in glob.glob(os.path.join(unpacked, "**", "__pycache__"), recursive=True):
            shutil.rmtree(cache)
        source = _import_ms(python, unpacked, 3)
    row(f"cold import from the zip without bytecode (Python {version})", f"{source:.0f} ms",
        "best of 3; compiles every module, as before this zip carried bytecode")
    row(f"cold import from the zip as shipped, with bytecode (Python {version})", f"{shipped:.0f} ms",
        "best of 7; the handler's whole import path, client included")
    return shipped, source


# --- cost ---------------------------------------------------------------------------------------


def cost(warm_ms: float, imports: tuple) -> None:
    import_ms, source_ms = imports
    # Here the run has a whole core and a cluster on loopback. On Lambda at 512 MB (about
    # 0.29 vCPU) CPU time stretches ~3.5x; an hourly run is nearly always a cold start,
    # whose init (the import) is billed too; plus network round trips to the cluster.
    lambda_ms = (import_ms + warm_ms) / LAMBDA_VCPU_AT_512 + 250
    monthly = RUNS_PER_MONTH * (lambda_ms / 1000 * MEMORY_GB * PRICE_PER_GB_S + PRICE_PER_REQUEST)
    before_ms = (source_ms + warm_ms) / LAMBDA_VCPU_AT_512 + 250
    row("estimated billed Lambda duration of an hourly run (20 merchants, cold)", f"~{lambda_ms:.0f} ms",
        f"(import {import_ms:.0f} ms + run {warm_ms:.1f} ms) / {LAMBDA_VCPU_AT_512:.2f} vCPU + 250 ms network; "
        f"without bytecode ~{before_ms:.0f} ms")
    row("estimated Lambda cost per month (720 runs, 512 MB arm64)", f"${monthly:.4f}",
        f"even at 5 s a run: ${RUNS_PER_MONTH * (5 * MEMORY_GB * PRICE_PER_GB_S + PRICE_PER_REQUEST):.4f}")


# --- SCENARIO=hard: the targets of issue 18 over 5 seeds --------------------------------------------

HARD_SEEDS = (1729, 7, 42, 1, 2)
HARD_START, HARD_DAYS, LOOP_WARM_DAYS = dt.datetime(2026, 10, 28, tzinfo=dt.timezone.utc), 30, 7


class _Kept:
    """A sink for data_generator.run keeping the documents and events it writes, parsed."""

    def __init__(self, index: str):
        self.index, self.documents, self.events = index, [], []

    def send(self, pairs: list, records: int = 0, events: int = 0) -> int:
        for action, source in pairs[records:]:
            (meta,) = json.loads(action).values()
            target = meta["_index"]
            if target == self.index:
                self.documents.append(json.loads(source))
            elif target == self.index + "-events":
                self.events.append(json.loads(source))
        return len(pairs) - records


def _hard_world(seed: int, start: dt.datetime, days: int, remediation: bool = False):
    from grader import reference
    cfg = Config(scenario="hard", seed=seed, remediation=remediation)
    end = start + days * 24 * HOUR
    history = (reference.HISTORY_HOURS + reference.LEAD_HOURS) * HOUR
    kept = _Kept(cfg.index)
    data_generator.run(dataclasses.replace(cfg, remediation=False), HourRange(start - history, end), kept)
    return cfg, end, kept


def _hard_scores(seed: int) -> dict:
    """One seed's F1, root-cause accuracy and NAB standard of each detector over 30 days, and the
    reference's CPU seconds."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    import detectors
    from grader import baseline, findings, reference, scoring

    cfg, end, kept = _hard_world(seed, HARD_START, HARD_DAYS)
    records = incidents.answer_key(cfg, HourRange(HARD_START, end))[0]

    def score(found: list) -> dict:
        result = scoring.assess(records, findings.parse_lines(json.dumps(f) for f in found), HARD_START, end).summary()
        return {"f1": result["overall"]["f1"], "rc": result["root_cause_accuracy"]["category"],
                "nab": result["nab"]["standard"]}

    out = {}
    found = baseline.detect([baseline.observed(d) for d in kept.documents], HARD_START, end)
    out["baseline"] = score(found)
    out["lookup"] = {"rc": detectors.best_table(found, lambda f: score(f)["rc"])[1]}
    for rule in (detectors.static, detectors.relative, detectors.zscore):
        out[rule.__name__] = score(detectors.episodes(kept.documents, rule, scoring.stamp(
            generator.hour_index(HARD_START)), scoring.stamp(generator.hour_index(end))))
    docs = [reference.checked(d) for d in kept.documents]
    cpu = time.process_time()
    out["reference"] = score(reference.solve(docs, kept.events, HARD_START, end))
    out["reference"]["cpu_s"] = time.process_time() - cpu
    out["perfect"] = score(scoring.perfect_findings(records, HARD_START, end))
    return out


class _Bench:
    """The closed loop's indices in memory, read as es.read_seen reads them: the AI's remediations
    and the bench's records (the answer-key records each run writes, by id)."""

    def __init__(self, index: str):
        self.index, self.hits, self.records = index, [], {}
        self.documents, self.events = [], []

    def send(self, pairs: list, records: int = 0, events: int = 0) -> int:
        for action, source in pairs[:records]:
            (meta,) = json.loads(action).values()
            self.records[meta["_id"]] = json.loads(source)
        kept = _Kept(self.index)
        indexed = kept.send(pairs, records, events)
        self.documents += kept.documents
        self.events += kept.events
        return indexed

    def read(self, window):
        import ledger
        return ledger.Seen(
            remediations=[hit for hit in self.hits if window.recent <= hit["_source"]["timestamp"] < window.stop],
            records=[r for r in self.records.values() if r.get("kind") in ledger.KINDS and (
                window.lo <= r.get("timestamp", "") < window.stop
                or window.recent <= r.get("claimed_at", "") < window.stop)])


def _hard_loop(seed: int) -> dict:
    """reference.act as the agent, hour by hour, with REMEDIATION=on from LOOP_WARM_DAYS before
    HARD_START: the closed loop's score over the HARD_DAYS after that warm-up (switching the loop on
    brings back the incidents of the week before, held until fixed; their overlaps mislead the agent
    in its first hours, as tests/test_hard_loop_e2e.py shows)."""
    from grader import reference, scoring

    start = HARD_START - LOOP_WARM_DAYS * 24 * HOUR
    end = HARD_START + HARD_DAYS * 24 * HOUR
    cfg, _, kept = _hard_world(seed, start, 0)
    cfg = dataclasses.replace(cfg, remediation=True)
    bench = _Bench(cfg.index)
    docs = [reference.checked(d) for d in kept.documents]
    events = list(kept.events)
    window = cfg.merchants * (reference.HISTORY_HOURS + reference.LEAD_HOURS + 1)
    hour = start
    while hour < end:
        bench.documents, bench.events = [], []
        data_generator.run(cfg, HourRange(hour, hour + HOUR), bench, read=bench.read)
        docs += [reference.checked(d) for d in bench.documents]
        events += bench.events
        for field, target, action, at in reference.act(docs[-window:], events, hour, hour + HOUR):
            bench.hits.append({"_id": f"{target}-{action}-{at}", "_source": {field: target, "action": action,
                                                                            "timestamp": at}})
        hour += HOUR
    records, skipped = incidents.answer_key(cfg, HourRange(HARD_START, end), bench.read)
    return scoring.remediation_summary(records, skipped, generator.hour_index(HARD_START), generator.hour_index(end))


def hard_tier() -> None:
    runs = {seed: _hard_scores(seed) for seed in HARD_SEEDS}

    def spread(who: str, what: str, digits: int = 2) -> str:
        values = [runs[seed][who][what] for seed in HARD_SEEDS]
        return f"{min(values):.{digits}f}-{max(values):.{digits}f}"

    note = f"SCENARIO=hard, {HARD_DAYS} days from {HARD_START:%Y-%m-%d}, 20 merchants, seeds {HARD_SEEDS}: min-max"
    row("hard: shipped baseline, F1 / NAB standard", f"{spread('baseline', 'f1')} / {spread('baseline', 'nab')}",
        note + "; target F1 at most 0.6")
    row("hard: label-set -> cause lookup on the baseline's findings, root-cause accuracy", spread("lookup", "rc"),
        "the best table for each seed's findings; target at most 0.35")
    for rule in ("static", "relative", "zscore"):
        row(f"hard: few-line detector {rule} (tests/detectors.py), F1", spread(rule, "f1"), "target below 0.7")
    row("hard: reference, F1 / root-cause accuracy / NAB standard",
        f"{spread('reference', 'f1')} / {spread('reference', 'rc')} / {spread('reference', 'nab')}",
        "targets: F1 at least 0.9, root causes at least 0.8")
    row("hard: reference, CPU seconds for 30 days x 20 merchants", spread("reference", "cpu_s", 1),
        "reading already parsed documents; target under 10 s")
    row("hard: perfect (the answer key), F1 / root-cause accuracy", f"{spread('perfect', 'f1')} / {spread('perfect', 'rc')}")
    with concurrent.futures.ProcessPoolExecutor(os.cpu_count()) as pool:  # about 10 CPU-minutes a seed
        loops = list(pool.map(_hard_loop, HARD_SEEDS))
    row("hard: reference --remediate, share resolved / wrong actions",
        f"{min(r['resolved_by_agent'] for r in loops):.2f}-{max(r['resolved_by_agent'] for r in loops):.2f} / "
        f"{min(r['wrong_actions'] for r in loops)}-{max(r['wrong_actions'] for r in loops)}",
        f"hour by hour, REMEDIATION=on from {LOOP_WARM_DAYS} days before, scored over the {HARD_DAYS} days; "
        "target at least 0.80 with 0 wrong actions")


def _table(started: float) -> None:
    out = io.StringIO()
    print(f"\nMachine: {machine()}\n", file=out)
    print("| measurement | result | note |\n|---|---|---|", file=out)
    for what, value, note in rows:
        print(f"| {what} | {value} | {note} |", file=out)
    print(f"\n(bench took {time.perf_counter() - started:.0f} s)", file=out)
    print(out.getvalue())


def main() -> int:
    started = time.perf_counter()
    print(f"Benchmarking on {machine()}", file=sys.stderr)
    if sys.argv[1:] == ["--hard"]:  # the hard tier's section alone (about 30 minutes on 2 cores)
        hard_tier()
        _table(started)
        return 0
    generation()
    engine: dict = {}
    try:
        into_engine(engine)
        with NoopSink() as sink:
            into_noop()
            memory(sink.url)
            warm = handler(engine["proxy"], sink.url)
    finally:
        if "proxy" in engine:
            engine["proxy"].close()
            engine["clone"].close()
        if "server" in engine:
            engine["server"].close()
    cold_start()
    cost(warm, lambda_package())
    hard_tier()

    _table(started)
    return 0


if __name__ == "__main__":
    sys.exit(main())
