"""Fan a long backfill out over the deployed function: one async invocation per chunk.

The range is split into consecutive chunks of whole hours; each chunk becomes
one `InvocationType=Event` invoke with the payload {"start": ISO, "end": ISO},
which the handler treats as its unit of work. Documents have deterministic
ids, so a chunk that Lambda retries, or that overlaps another, only
overwrites the same documents.

boto3 is imported lazily: it is not a runtime requirement (the Lambda runtime
and the dev venv have it), and nothing else in the CLI needs it.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import config
from config import HOUR, ConfigError, HourRange

# Documents per second that one invocation is assumed to index, end to end,
# for sizing chunks and estimating cost. bench/ measures ~90,000 docs per
# CPU-second for the whole client path (generation, serialization, bulk
# requests) against a no-op endpoint; a 512 MB function has ~0.29 of a vCPU,
# so ~25,000 docs/s if the cluster kept up. It does not: a small cluster
# indexes a few thousand documents a second (the local test engine ~1,800).
# 2,000 is deliberately conservative, so chunks should end well inside the timeout.
DOCS_PER_SECOND = 2_000
# A chunk is sized to take at most this fraction of the function's timeout at
# DOCS_PER_SECOND, so it finishes well inside it even on a slow day. If it
# does not, the handler stops between bulk requests and logs status "partial"
# with resume_from: re-run from there.
TIME_BUDGET_FRACTION = 0.5
DEFAULT_TIMEOUT_S = 300  # the deployed function's timeout (template default)
DEFAULT_MEMORY_MB = 512
DEFAULT_CONCURRENCY = 10

# Lambda arm64 prices (us-east-1), for the estimate printed before sending.
PRICE_PER_GB_S = 0.0000133334
PRICE_PER_REQUEST = 0.20 / 1_000_000


@dataclass(frozen=True)
class Plan:
    function: str
    merchants: int
    chunk_hours: int
    chunks: list  # [HourRange]
    concurrency: int  # chunks per wave; 0: all at once
    seconds_per_chunk: float  # estimated duration of a full chunk
    memory_mb: int

    @property
    def documents(self) -> int:
        return sum(chunk.hours for chunk in self.chunks) * self.merchants

    def estimated_cost(self) -> float:
        """Lambda compute + requests for the whole backfill, in dollars."""
        seconds = self.documents / DOCS_PER_SECOND
        return seconds * self.memory_mb / 1024 * PRICE_PER_GB_S + len(self.chunks) * PRICE_PER_REQUEST


def default_chunk_hours(merchants: int, timeout_s: int = DEFAULT_TIMEOUT_S) -> int:
    """Hours per chunk so a chunk takes TIME_BUDGET_FRACTION of the timeout at DOCS_PER_SECOND.

    Also at most MAX_DOCUMENTS_PER_INVOCATION documents, and at least one hour.
    E.g. 300 s: 300,000 documents, so 15,000 hours at 20 merchants, 30 at 10,000.
    """
    budget = int(DOCS_PER_SECOND * timeout_s * TIME_BUDGET_FRACTION)
    return max(1, min(budget, config.MAX_DOCUMENTS_PER_INVOCATION) // merchants)


def split(hour_range: HourRange, chunk_hours: int) -> list:
    """Consecutive chunks of chunk_hours hours covering hour_range exactly; the last may be shorter."""
    if chunk_hours < 1:
        raise ConfigError(f"--chunk-hours must be at least 1, got {chunk_hours}")
    chunks = []
    start = hour_range.start
    while start < hour_range.end:
        end = min(start + chunk_hours * HOUR, hour_range.end)
        chunks.append(HourRange(start, end))
        start = end
    return chunks


def _iso(moment) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def payload(chunk: HourRange) -> dict:
    return {"start": _iso(chunk.start), "end": _iso(chunk.end)}


def _client(region: str | None = None):
    import boto3  # lazily: only --invoke needs it

    return boto3.client("lambda", region_name=region)


def function_settings(client, function: str) -> dict:
    """The function's MERCHANT_COUNT, Timeout and MemorySize, as far as they can be read."""
    from botocore.exceptions import ClientError

    try:
        configuration = client.get_function_configuration(FunctionName=function)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("AccessDeniedException", "AccessDenied"):
            return {}  # may invoke but not read the configuration: use the defaults
        raise ConfigError(f"cannot read function {function!r}: {code}: {exc}") from None
    variables = (configuration.get("Environment") or {}).get("Variables") or {}
    settings = {"timeout_s": configuration.get("Timeout"), "memory_mb": configuration.get("MemorySize")}
    if variables.get(config.MERCHANT_COUNT):
        settings["merchants"] = config.merchant_count(variables[config.MERCHANT_COUNT],
                                                      f"the function's {config.MERCHANT_COUNT}")
    return {name: value for name, value in settings.items() if value is not None}


def plan(function: str, hour_range: HourRange, *, merchants: int | None, chunk_hours: int | None,
         concurrency: int | None, settings: dict) -> Plan:
    """Check the flags against the function's settings and split the range."""
    deployed = settings.get("merchants")
    if merchants is not None and deployed is not None and merchants != deployed:
        raise ConfigError(
            f"--merchants {merchants} does not match the function's {config.MERCHANT_COUNT} ({deployed}): "
            "the function generates its own merchant count; drop --merchants or redeploy"
        )
    merchants = deployed or merchants or config.DEFAULT_MERCHANTS
    timeout_s = settings.get("timeout_s", DEFAULT_TIMEOUT_S)
    if chunk_hours is None:
        chunk_hours = default_chunk_hours(merchants, timeout_s)
    if chunk_hours * merchants > config.MAX_DOCUMENTS_PER_INVOCATION:
        raise ConfigError(
            f"--chunk-hours {chunk_hours} x {merchants} merchants = {chunk_hours * merchants} documents: "
            f"one invocation takes at most {config.MAX_DOCUMENTS_PER_INVOCATION} "
            f"(at most {config.MAX_DOCUMENTS_PER_INVOCATION // merchants} hours)"
        )
    concurrency = DEFAULT_CONCURRENCY if concurrency is None else concurrency
    if concurrency < 0:
        raise ConfigError(f"--concurrency must be 0 (all at once) or more, got {concurrency}")
    return Plan(function, merchants, chunk_hours, split(hour_range, chunk_hours), concurrency,
                min(chunk_hours * merchants / DOCS_PER_SECOND, timeout_s), settings.get("memory_mb", DEFAULT_MEMORY_MB))


def describe(p: Plan) -> str:
    waves = 1 if not p.concurrency else -(-len(p.chunks) // p.concurrency)
    return (
        f"{p.function}: {len(p.chunks)} chunk(s) of up to {p.chunk_hours} hour(s) x {p.merchants} merchants "
        f"= {p.documents:,} documents, {p.concurrency or 'all'} at a time ({waves} wave(s)); "
        f"estimated Lambda cost ${p.estimated_cost():.4f} at {DOCS_PER_SECOND:,} docs/s and {p.memory_mb} MB"
    )


def send(p: Plan, client, out, sleep=time.sleep, dry_run: bool = False) -> int:
    """Invoke once per chunk, in waves of p.concurrency; returns how many were accepted.

    Between waves it waits the estimated time of one chunk, so about
    p.concurrency chunks run at once and the cluster sees a bounded number of
    writers. A refused invoke stops the fan-out: what was sent is printed, and
    re-running from the first unsent chunk is safe.
    """
    print(describe(p), file=out)
    wave = p.concurrency or len(p.chunks)
    sent = 0
    for first in range(0, len(p.chunks), wave):
        if first:
            print(f"{'would wait' if dry_run else 'waiting'} {p.seconds_per_chunk:.0f} s for the previous wave",
                  file=out, flush=True)
            if not dry_run:
                sleep(p.seconds_per_chunk)
        for chunk in p.chunks[first:first + wave]:
            body = payload(chunk)
            if dry_run:
                print(f"would invoke {json.dumps(body)}", file=out)
                continue
            try:
                response = client.invoke(FunctionName=p.function, InvocationType="Event",
                                         Payload=json.dumps(body).encode())
                status = response.get("StatusCode")
                if status != 202:
                    raise ConfigError(f"invoking {p.function} with {json.dumps(body)} returned status {status}")
            except Exception:
                print(f"stopped after {sent} of {len(p.chunks)} invocation(s); to send the rest, "
                      f"re-run with --start {body['start']} and the same --end", file=out, flush=True)
                raise
            sent += 1
            print(f"invoked {json.dumps(body)} ({sent}/{len(p.chunks)})", file=out, flush=True)
    if not dry_run:
        print(f"sent {sent} invocation(s); each logs its summary in CloudWatch "
              "(status \"partial\" with resume_from means re-run from there)", file=out)
    return sent


def cli(args, hour_range: HourRange, out, client=None, sleep=time.sleep) -> int:
    """`data_generator.py --invoke FUNCTION ...`: plan, print and send; the exit code."""
    for flag, value in (("--output", args.output), ("--seed", args.seed), ("--index", args.index),
                        ("--remediation", args.remediation)):
        if value is not None:
            raise ConfigError(f"{flag} cannot be used with --invoke: the function uses its own configuration")
    merchants = None if args.merchants is None else config.merchant_count(args.merchants, "--merchants")
    if args.dry_run:
        # The plan only, from the flags and defaults: no AWS call, no boto3 needed.
        p = plan(args.invoke, hour_range, merchants=merchants, chunk_hours=args.chunk_hours,
                 concurrency=args.concurrency, settings={})
        send(p, None, out, dry_run=True)
        return 0
    try:
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise ConfigError("--invoke needs boto3, which is not a runtime requirement: "
                          "pip install boto3 (the dev venv, make .venv/.dev, has it)") from None
    try:
        client = client or _client()
        p = plan(args.invoke, hour_range, merchants=merchants, chunk_hours=args.chunk_hours,
                 concurrency=args.concurrency, settings=function_settings(client, args.invoke))
        send(p, client, out, sleep=sleep)
    except (BotoCoreError, ClientError) as exc:
        print(f"error: {exc}", file=out)
        return 1
    return 0
