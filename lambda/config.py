"""Configuration and event parsing: every input is validated here, early.

Errors are named (ConfigError for the environment and flags, EventError for
invocation events) and carry a message naming the offending variable or
field. They are translated only at the edges: the Lambda handler and the CLI.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone

# Environment variables the function reads.
ELASTICSEARCH_HOST = "ELASTICSEARCH_HOST"
ELASTICSEARCH_API_KEY = "ELASTICSEARCH_API_KEY"
ELASTICSEARCH_API_KEY_SECRET_ARN = "ELASTICSEARCH_API_KEY_SECRET_ARN"
ELASTICSEARCH_USERNAME = "ELASTICSEARCH_USERNAME"  # older name for the API key, or basic-auth user
ELASTICSEARCH_PASSWORD = "ELASTICSEARCH_PASSWORD"
ELASTICSEARCH_INDEX = "ELASTICSEARCH_INDEX"
MERCHANT_COUNT = "MERCHANT_COUNT"
GENERATOR_SEED = "GENERATOR_SEED"
GENERATOR_SEED_SECRET_ARN = "GENERATOR_SEED_SECRET_ARN"
LOG_LEVEL = "LOG_LEVEL"
SCENARIO = "SCENARIO"
GROUND_TRUTH = "GROUND_TRUTH"
ANSWER_KEY_INDEX = "ANSWER_KEY_INDEX"
REMEDIATION = "REMEDIATION"
REMEDIATION_INDEX = "REMEDIATION_INDEX"
FINDINGS_INDEX = "FINDINGS_INDEX"
EVENTS_INDEX = "EVENTS_INDEX"

DEFAULT_INDEX = "pp-merchantai"
DEFAULT_MERCHANTS = 20
DEFAULT_SEED = 1729
# Seeds are integers of magnitude at most 2**128: a secret seed (deploy.sh draws 128 random bits)
# cannot be found by trying seeds, where one below 2**64 is recovered from the data in seconds.
MAX_SEED = 2**128
GUESSABLE_SEED = 2**64
DEFAULT_LOG_LEVEL = "INFO"
MAX_MERCHANTS = 100_000
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Built-in scenarios; anything else names a JSON scenario file.
SCENARIOS = ("steady", "incidents", "hard")
DEFAULT_SCENARIO = "steady"
SCENARIO_NAMES = ", ".join(SCENARIOS[:-1]) + " or " + SCENARIOS[-1]  # for messages
# separate: the truth goes only to the answer-key index; inline: documents carry it too.
GROUND_TRUTH_MODES = ("separate", "inline")
DEFAULT_GROUND_TRUTH = "separate"
REMEDIATION_MODES = ("off", "on")
DEFAULT_REMEDIATION = "off"
# Default names of the companion indices: <index>-incidents, <index>-remediations, <index>-events.
ANSWER_KEY_SUFFIX = "-incidents"
REMEDIATION_SUFFIX = "-remediations"
EVENTS_SUFFIX = "-events"

# One Lambda invocation covers at most this many documents (hours x merchants):
# about 2.8 years of hours at the default 20 merchants, 50 hours at 10,000.
# Larger backfills go through the CLI or its --invoke fan-out.
MAX_DOCUMENTS_PER_INVOCATION = 500_000

# CLI --patience: how long a chunk may go on retrying after its first failure.
DEFAULT_PATIENCE_S = 600
MAX_PATIENCE_S = 86_400

HOUR = timedelta(hours=1)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)

# Keys of the EventBridge scheduled-event envelope; only `time` is used.
SCHEDULED_EVENT_KEYS = frozenset(
    ("version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail")
)
MANUAL_EVENT_KEYS = ("time", "start", "end", "dry_run")


class ConfigError(ValueError):
    """An environment variable or command-line flag has an invalid value."""


class EventError(ValueError):
    """An invocation event is malformed; nothing was written."""


class SecretError(RuntimeError):
    """A secret named by ELASTICSEARCH_API_KEY_SECRET_ARN or GENERATOR_SEED_SECRET_ARN could not be read."""


# A value is quoted in an error message only if it is short and has no run this
# long of base64 / URL-safe base64 characters: API keys, tokens and encoded
# credentials always have one, ordinary settings (numbers, levels, index names,
# times) do not. Anything else is described by its length and kind only.
SHOWN_MAX_CHARS = 40
_KEY_LIKE = re.compile(r"[A-Za-z0-9+/=_-]{16}")


def shown(value) -> str:
    """How every error message shows a value from a variable, flag, event or file.

    So that a credential pasted into the wrong place is never echoed, even into
    CloudWatch: repr(value) if short and not key-like, else only its length and kind.
    """
    text = repr(value)
    if len(text) <= SHOWN_MAX_CHARS + 2 and not _KEY_LIKE.search(text):
        return text
    if not isinstance(value, str):
        return f"a {type(value).__name__} (not shown)"
    kind = "that looks like a key" if _KEY_LIKE.search(text) else "(too long to show)"
    return f"a {len(value)}-character value {kind}"


@dataclass(frozen=True)
class Config:
    host: str | None = None
    index: str = DEFAULT_INDEX
    merchants: int = DEFAULT_MERCHANTS
    # Out of repr, like the credentials: for any scenario but steady the seed is one.
    seed: int = field(default=DEFAULT_SEED, repr=False)
    log_level: str = DEFAULT_LOG_LEVEL
    scenario: str = DEFAULT_SCENARIO
    ground_truth: str = DEFAULT_GROUND_TRUTH
    remediation: bool = False
    # None: derived from index, so --index moves the companion indices along.
    answer_key_index_override: str | None = None
    remediation_index_override: str | None = None
    # Where the AI writes its findings: the hourly run records when it first saw each one. None: not read.
    findings_index: str | None = None
    events_index_override: str | None = None
    # repr=False keeps secrets out of logs and tracebacks that show the config.
    api_key: str | None = field(default=None, repr=False)
    api_key_secret_arn: str | None = None
    seed_secret_arn: str | None = None  # where seed was read from (load_config reads it)
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self):
        # The answer key must never land in an index the AI reads (data, events), nor anything else in another's.
        if len({self.index, self.answer_key_index, self.remediation_index, self.events_index}) < 4:
            raise ConfigError(
                f"{ELASTICSEARCH_INDEX}, {ANSWER_KEY_INDEX}, {REMEDIATION_INDEX} and {EVENTS_INDEX} must name "
                "four different indices"
            )
        if self.findings_index in (self.index, self.answer_key_index, self.remediation_index, self.events_index):
            raise ConfigError(f"{FINDINGS_INDEX} must name an index of its own, not the data, answer-key, "
                              "remediations or events index")

    @property
    def answer_key_index(self) -> str:
        return self.answer_key_index_override or self.index + ANSWER_KEY_SUFFIX

    @property
    def remediation_index(self) -> str:
        return self.remediation_index_override or self.index + REMEDIATION_SUFFIX

    @property
    def events_index(self) -> str:
        return self.events_index_override or self.index + EVENTS_SUFFIX


@dataclass(frozen=True)
class HourRange:
    """Hours start, start+1h, ... before end (aware UTC datetimes, on the hour)."""

    start: datetime
    end: datetime
    dry_run: bool = False

    @property
    def hours(self) -> int:
        return (self.end - self.start) // HOUR


_DECIMAL = re.compile(r"[+-]?[0-9]+")


def integer(value: str, name: str, minimum: int = -(2**63), maximum: int = 2**63 - 1) -> int:
    # ASCII decimal digits only: int() would also take "1_000" and other scripts' digits.
    text = value.strip()
    if not _DECIMAL.fullmatch(text):
        raise ConfigError(f"{name} must be an integer, got {shown(value)}")
    # More digits than any bound has: out of range (and int() refuses over 4,300 digits).
    magnitude = text.lstrip("+-").lstrip("0") or "0"
    digits = len(str(max(abs(minimum), abs(maximum))))
    number = int(text[0] + magnitude if text[0] in "+-" else magnitude) if len(magnitude) <= digits else None
    if number is None or not minimum <= number <= maximum:
        raise ConfigError(f"{name} must be between {minimum} and {maximum}, got {shown(text)}")
    return number


def merchant_count(value: str, name: str = MERCHANT_COUNT) -> int:
    return integer(value, name, 1, MAX_MERCHANTS)


def seed(value: str, name: str = GENERATOR_SEED) -> int:
    """An integer from -2**128 to 2**128; a refused value is never shown (it may be a secret seed)."""
    try:
        return integer(value, name, -MAX_SEED, MAX_SEED)
    except ConfigError:
        pass
    raise ConfigError(f"{name} must be an integer from -2**128 to 2**128 (the value is not shown)")


def guessable(seed: int) -> bool:
    """Whether a seed is small enough to be recovered from the data by trying seeds (below 2**64)."""
    return abs(seed) < GUESSABLE_SEED


def seed_digest(seed: int) -> str:
    """What records and reports show of a seed: the first 12 hex digits of the SHA-256 of its decimal text.

    The seed itself is a credential for any scenario but steady: with it, the answer key can be recomputed.
    """
    return hashlib.sha256(str(seed).encode()).hexdigest()[:12]


def patience(value: str, name: str = "--patience") -> int:
    return integer(value, name, 0, MAX_PATIENCE_S)


_INDEX_FORBIDDEN = re.compile(r'[\\/*?"<>| ,#:A-Z]')


def index_name(value: str, name: str = ELASTICSEARCH_INDEX) -> str:
    # Elasticsearch's own rules for index names.
    if (
        not value
        or value in (".", "..")
        or value[0] in "-_+"
        or _INDEX_FORBIDDEN.search(value)
        or len(value.encode()) > 255
    ):
        raise ConfigError(
            f"{name} must be a valid Elasticsearch index name (lowercase, no spaces or "
            f'\\/*?"<>|,#:, not starting with -, _ or +), got {shown(value)}'
        )
    return value


def _choice(value: str, name: str, choices: tuple) -> str:
    """One of choices, case-insensitively (ASCII only: "ınfo".upper() is "INFO")."""
    for choice in choices:
        if value.isascii() and value.strip().upper() == choice.upper():
            return choice
    raise ConfigError(f"{name} must be one of {', '.join(choices)}, got {shown(value)}")


def ground_truth(value: str, name: str = GROUND_TRUTH) -> str:
    return _choice(value, name, GROUND_TRUTH_MODES)


def remediation(value: str, name: str = REMEDIATION) -> bool:
    return _choice(value, name, REMEDIATION_MODES) == "on"


def scenario(value: str, name: str = SCENARIO) -> str:
    """A built-in scenario's name or a JSON scenario file's path (its content is checked on load)."""
    value = value.strip()
    if value not in SCENARIOS and not value.endswith(".json"):
        raise ConfigError(
            f"{name} must be {SCENARIO_NAMES}, or the path of a .json scenario file, got {shown(value)}"
        )
    return value


_MERCHANT_ID = re.compile(r"merchant_(\d{3,})")


def merchant_number(value, merchants: int) -> int | None:
    """k of merchant id value (merchant_003: 3) if it is in a roster of merchants, else None."""
    match = _MERCHANT_ID.fullmatch(value) if isinstance(value, str) else None
    k = int(match.group(1)) if match else 0
    return k if match and f"merchant_{k:03d}" == value and 1 <= k <= merchants else None


def not_a_merchant(value, merchants: int) -> str:
    return (f"must be a merchant of the roster (merchant_001 to merchant_{merchants:03d}, "
            f"{MERCHANT_COUNT}={merchants}), got {shown(value)}")


def merchant_id(value: str, name: str, merchants: int) -> str:
    if merchant_number(value, merchants) is None:
        raise ConfigError(f"{name} {not_a_merchant(value, merchants)}")
    return value


def _is_loopback(hostname: str) -> bool:
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


_HOST_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")
# The whole URL, as the only parser of it: scheme, host (a name, IPv4, or IPv6 in
# brackets), optional port, optional path of RFC 3986 path characters. The '@' of
# userinfo is refused before this, anywhere in the URL, whatever '/' comes first.
_URL = re.compile(
    r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://"
    r"(?P<host>\[[0-9A-Fa-f:.]+\]|[^\[\]/:?#]+)"
    r"(?::(?P<port>[0-9]{1,5}))?"
    r"(?P<path>/[A-Za-z0-9._~!$&'()*+,;=:%/-]*)?"
)


def _valid_hostname(hostname: str) -> bool:
    """A DNS name (ASCII, punycode for IDNs) or an IP address, as the client can parse it."""
    try:
        ipaddress.ip_address(hostname)
        return True
    except ValueError:
        pass
    labels = hostname[:-1].split(".") if hostname.endswith(".") else hostname.split(".")
    return len(hostname) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)


def host_url(value: str, name: str = ELASTICSEARCH_HOST) -> str:
    """An http(s) URL; plain http only to loopback, so keys never cross a network in clear.

    Parsed here, once, by one grammar; what is accepted is unambiguous, so the client
    reads the same host. Userinfo is refused without showing anything after the scheme.
    """
    value = value.strip()
    scheme = value.partition("://")[0] if "://" in value else ""
    if "@" in value:
        where = f"after {scheme}://" if scheme.lower() in ("http", "https") else "in it"
        raise ConfigError(
            f"{name} must not carry credentials: there is an '@' {where} (the value is not shown); "
            f"use {ELASTICSEARCH_API_KEY} for the key"
        )
    if scheme.lower() not in ("http", "https"):
        raise ConfigError(f"{name} must be an http(s) URL such as https://my-cluster.es.io:443, got {shown(value)}")
    if "?" in value or "#" in value:
        raise ConfigError(f"{name} must not carry a query or a fragment, got {shown(value)}")
    match = _URL.fullmatch(value)
    host = match and match["host"].lower()
    if host and host.startswith("["):
        host = host[1:-1] if ":" in host else ""  # brackets only around IPv6
    if not host or not _valid_hostname(host) or not 0 < int(match["port"] or 443) < 65536:
        raise ConfigError(f"{name} is not a valid URL: {shown(value)}")
    if scheme.lower() == "http" and not _is_loopback(host):
        raise ConfigError(f"{name} must use https:// (plain http:// is allowed only for localhost)")
    return value.rstrip("/")


def log_level(value: str, name: str = LOG_LEVEL) -> str:
    return _choice(value, name, LOG_LEVELS)


def _secret_arn(value: str, name: str) -> str:
    value = value.strip()
    if not re.fullmatch(r"arn:aws[\w-]*:secretsmanager:[\w-]+:\d{12}:secret:[\w/+=.@-]+", value):
        raise ConfigError(f"{name} must be a Secrets Manager secret ARN")
    return value


# An encoded API key is base64; the older id:key form is ASCII too. Anything
# else (a line break, a space, a typographic quote) cannot go into an HTTP
# header, and the HTTP libraries' errors would quote the whole header: the key.
_API_KEY = re.compile(r"[\x21-\x7e]+")


def api_key(value: str, name: str = ELASTICSEARCH_API_KEY) -> str:
    """The key, stripped; refused (without showing it) unless it can be sent as a header."""
    value = value.strip()
    if not _API_KEY.fullmatch(value):
        raise ConfigError(
            f"{name} must be the encoded API key as Kibana shows it: printable ASCII without spaces "
            "or line breaks (the value is not shown)"
        )
    return value


def load_config(environ) -> Config:
    """Config from an environment mapping; raises ConfigError naming the variable.

    No error message shows a credential, even one pasted into the wrong variable:
    values are shown only as shown() allows, and a refused value holding one of the
    environment's credentials (a short password is not key-like) is not shown at all.
    """
    def get(name: str) -> str | None:
        value = environ.get(name)
        return value if value and value.strip() else None

    password = get(ELASTICSEARCH_PASSWORD)
    username = get(ELASTICSEARCH_USERNAME)
    key = get(ELASTICSEARCH_API_KEY)
    secret_arn = get(ELASTICSEARCH_API_KEY_SECRET_ARN)
    seed_arn = get(GENERATOR_SEED_SECRET_ARN)
    if seed_arn and get(GENERATOR_SEED):
        raise ConfigError(f"set either {GENERATOR_SEED} or {GENERATOR_SEED_SECRET_ARN}, not both")
    credentials = {ELASTICSEARCH_API_KEY: key, ELASTICSEARCH_PASSWORD: password,
                   # Without a password, the username is the older name for the key.
                   ELASTICSEARCH_USERNAME: None if password else username}

    def setting(name: str, parse, default: str | None = None):
        value = get(name) or default
        if value is None:
            return None
        try:
            return parse(value, name)
        except ConfigError:
            holder = next((other for other, secret in credentials.items() if secret and secret.strip() in value), None)
            if holder is None:
                raise
        # Raised outside the except block: no chained exception keeps the value either.
        raise ConfigError(f"{name} is not valid and holds the value of {holder}, so it is not shown "
                          "(a credential in the wrong variable?)")

    if password:
        if not username:
            raise ConfigError(f"{ELASTICSEARCH_PASSWORD} is set but {ELASTICSEARCH_USERNAME} is not")
        if key or secret_arn:
            raise ConfigError(
                f"set either an API key ({ELASTICSEARCH_API_KEY} or {ELASTICSEARCH_API_KEY_SECRET_ARN}) "
                f"or {ELASTICSEARCH_USERNAME}/{ELASTICSEARCH_PASSWORD}, not both"
            )
    elif username:
        if key or secret_arn:
            raise ConfigError(
                f"{ELASTICSEARCH_USERNAME} without {ELASTICSEARCH_PASSWORD} is the older name for "
                f"{ELASTICSEARCH_API_KEY}; set only one of them"
            )
        key, username = api_key(username, ELASTICSEARCH_USERNAME), None
    elif key:
        key = api_key(key)
    if key and secret_arn:
        raise ConfigError(f"set either {ELASTICSEARCH_API_KEY} or {ELASTICSEARCH_API_KEY_SECRET_ARN}, not both")
    cfg = Config(
        host=setting(ELASTICSEARCH_HOST, host_url),
        index=setting(ELASTICSEARCH_INDEX, index_name, DEFAULT_INDEX),
        merchants=setting(MERCHANT_COUNT, merchant_count, str(DEFAULT_MERCHANTS)),
        seed=setting(GENERATOR_SEED, seed, str(DEFAULT_SEED)),
        log_level=setting(LOG_LEVEL, log_level, DEFAULT_LOG_LEVEL),
        scenario=setting(SCENARIO, scenario, DEFAULT_SCENARIO),
        ground_truth=setting(GROUND_TRUTH, ground_truth, DEFAULT_GROUND_TRUTH),
        remediation=setting(REMEDIATION, remediation, DEFAULT_REMEDIATION),
        answer_key_index_override=setting(ANSWER_KEY_INDEX, index_name),
        remediation_index_override=setting(REMEDIATION_INDEX, index_name),
        findings_index=setting(FINDINGS_INDEX, index_name),
        events_index_override=setting(EVENTS_INDEX, index_name),
        api_key=key,
        api_key_secret_arn=setting(ELASTICSEARCH_API_KEY_SECRET_ARN, _secret_arn),
        seed_secret_arn=setting(GENERATOR_SEED_SECRET_ARN, _secret_arn),
        username=username,
        password=password,
    )
    if cfg.seed_secret_arn:
        # Last, once everything else is valid: the only AWS call configuration makes.
        cfg = replace(cfg, seed=read_seed_secret(cfg.seed_secret_arn))
    return cfg


def _secret_string(arn: str, variable: str) -> str:
    """The string value of the secret named by variable (boto3 comes with the Lambda runtime)."""
    import boto3  # only this path needs it; keeps it out of cold start otherwise

    # botocore logs whole responses at DEBUG, this one included: with LOG_LEVEL (and
    # Lambda's ApplicationLogLevel) at DEBUG the secret would land in CloudWatch.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        # The ARN names the secret's region; a client of another region would not find it.
        client = boto3.client("secretsmanager", region_name=arn.split(":")[3])
        value = client.get_secret_value(SecretId=arn).get("SecretString")
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise SecretError(f"cannot read the secret named by {variable}: "
                          f"{error.get('Code')}: {' '.join(str(error.get('Message')).split())}") from None
    except BotoCoreError as exc:
        raise SecretError(f"cannot read the secret named by {variable}: {' '.join(str(exc).split())}") from None
    if not value or not value.strip():
        raise ConfigError(f"the secret named by {variable} has no string value")
    return value


@functools.lru_cache(maxsize=None)
def read_secret(arn: str) -> str:
    """The API key in the secret named by ELASTICSEARCH_API_KEY_SECRET_ARN, read once per container."""
    value = _secret_string(arn, ELASTICSEARCH_API_KEY_SECRET_ARN)
    return api_key(value, f"the secret named by {ELASTICSEARCH_API_KEY_SECRET_ARN}")


@functools.lru_cache(maxsize=None)
def read_seed_secret(arn: str) -> int:
    """The seed in the secret named by GENERATOR_SEED_SECRET_ARN (its decimal text), read once per container."""
    return seed(_secret_string(arn, GENERATOR_SEED_SECRET_ARN), f"the secret named by {GENERATOR_SEED_SECRET_ARN}")


def auth(cfg: Config) -> dict:
    """The client's credentials for cfg: basic auth, the key, or the key read from its secret."""
    if cfg.password:
        return {"basic_auth": (cfg.username, cfg.password)}
    if cfg.api_key_secret_arn:
        return {"api_key": read_secret(cfg.api_key_secret_arn)}
    return {"api_key": cfg.api_key}


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def parse_time(value, name: str) -> datetime:
    """An ISO 8601 time as aware UTC; naive times are UTC."""
    from dateutil.parser import isoparse

    if not isinstance(value, str):
        raise EventError(f"{name} must be an ISO 8601 string, got {type(value).__name__}")
    try:
        moment = isoparse(value.strip())
        moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        raise EventError(f"{name} is not an ISO 8601 time: {shown(value)}") from None
    if moment < EPOCH:
        raise EventError(f"{name} must not be before 1970: {shown(value)}")
    return moment


def past_hour(value, name: str, now: datetime) -> datetime:
    """The hour of an ISO 8601 time that is not after the current hour (now, aware); else an EventError naming name."""
    current = floor_hour(now.astimezone(timezone.utc))
    return floor_hour(_not_future(parse_time(value, name), name, current))


def _ceil_hour(moment: datetime) -> datetime:
    floored = floor_hour(moment)
    return floored if floored == moment else floored + HOUR


def parse_event(event, now: datetime) -> HourRange:
    """The hours an invocation covers; raises EventError naming the problem.

    now is the current time (aware); hours after the current one are refused.
    """
    if not isinstance(event, dict):
        raise EventError(f"the event must be a JSON object, got {type(event).__name__}")
    current = floor_hour(now.astimezone(timezone.utc))

    if event.get("source") == "aws.events":
        # EventBridge: the scheduled time, not the clock, so a late retry
        # still writes the hour it was scheduled for.
        unknown = sorted(map(shown, set(event) - SCHEDULED_EVENT_KEYS))
        if unknown:
            raise EventError(f"unexpected keys in scheduled event: {', '.join(unknown)}")
        if "time" not in event:
            raise EventError("scheduled event has no time")
        start = past_hour(event["time"], "time", now)
        hour_range = HourRange(start, start + HOUR)
    else:
        unknown = sorted(map(shown, set(event) - set(MANUAL_EVENT_KEYS)))
        if unknown:
            raise EventError(
                f"unknown event keys: {', '.join(unknown)} (allowed: {', '.join(MANUAL_EVENT_KEYS)})"
            )
        dry_run = event.get("dry_run", False)
        if not isinstance(dry_run, bool):
            raise EventError(f"dry_run must be true or false, got {shown(dry_run)}")
        if "time" in event and ("start" in event or "end" in event):
            raise EventError("give either time or start/end, not both")
        if "end" in event and "start" not in event:
            raise EventError("end needs start")
        if "start" in event:
            start = _not_future(parse_time(event["start"], "start"), "start", current)
            if "end" in event:
                # end is exclusive: it may be the end of the current hour, no later.
                end = _not_future(parse_time(event["end"], "end"), "end", current, exclusive=True)
            else:
                end = now.astimezone(timezone.utc)
                if start > end:  # in the current hour, but later than now
                    raise EventError(
                        f"refusing a start in the future (now is {end:%Y-%m-%dT%H:%M:%SZ}): "
                        f"start is {start:%Y-%m-%dT%H:%M:%SZ}; give an end, or an earlier start"
                    )
            if end <= start:
                raise EventError(f"end ({end:%Y-%m-%dT%H:%M:%SZ}) must be after start ({start:%Y-%m-%dT%H:%M:%SZ})")
            hour_range = HourRange(floor_hour(start), _ceil_hour(end), dry_run)
        else:
            if "time" in event:
                start = past_hour(event["time"], "time", now)
            else:
                start = current
            hour_range = HourRange(start, start + HOUR, dry_run)
    return hour_range


def _not_future(moment: datetime, name: str, current: datetime, exclusive: bool = False) -> datetime:
    """moment, if it falls in the current hour or earlier (an exclusive end: at its end at
    the latest); else an EventError naming the field.

    Checked before any hour arithmetic, so even the last representable times
    (year 9999) are refused cleanly instead of overflowing.
    """
    limit = current + HOUR
    if moment > limit if exclusive else moment >= limit:
        raise EventError(
            f"refusing hours after the current one ({current:%Y-%m-%dT%H:00:00Z}): "
            f"{name} is {moment:%Y-%m-%dT%H:%M:%SZ}"
        )
    return moment


def check_remediation_source(cfg: Config) -> None:
    """Remediations shape the data, so with REMEDIATION=on every run reads them, even one
    that only writes a file: refused early without a cluster to read them from."""
    if cfg.remediation and not cfg.host:
        raise ConfigError(f"{REMEDIATION}=on reads the remediations from Elasticsearch: set {ELASTICSEARCH_HOST}")
    if cfg.findings_index and not cfg.host:
        raise ConfigError(f"{FINDINGS_INDEX} is read from Elasticsearch: set {ELASTICSEARCH_HOST}")


def check_invocation_size(hour_range: HourRange, merchants: int) -> None:
    documents = hour_range.hours * merchants
    if documents > MAX_DOCUMENTS_PER_INVOCATION:
        raise EventError(
            f"the range from start to end has {hour_range.hours} hours x {merchants} merchants "
            f"({MERCHANT_COUNT}) = {documents} documents; one invocation takes at most {MAX_DOCUMENTS_PER_INVOCATION} "
            "(split it, or use the CLI's --invoke fan-out)"
        )
