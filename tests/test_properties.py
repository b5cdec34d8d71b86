"""Property-based tests of bad input: every one a named error (EventError/ConfigError), nothing written.

Deterministic (derandomize=True) and modest example counts, so CI is stable and fast.
"""

from __future__ import annotations

import os
import re
from datetime import datetime, timedelta, timezone
from unittest import mock
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
from dateutil.parser import isoparse
from hypothesis import strategies as st

import config
import data_generator
import es
from config import ConfigError, EventError

NOW = datetime(2026, 11, 27, 9, 30, 12, tzinfo=timezone.utc)
CURRENT = datetime(2026, 11, 27, 9, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)

EXAMPLES = 150


def fast(examples: int = EXAMPLES, **kwargs):
    return settings(max_examples=examples, derandomize=True, deadline=None, database=None, **kwargs)


# --- strategies ---------------------------------------------------------------------------

json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=8,
)
offsets = st.integers(min_value=-14 * 60, max_value=14 * 60)  # minutes


def iso(moment: datetime, offset_minutes: int | None, separator: str = "T") -> str:
    """moment (aware UTC) written in local time at offset_minutes, or naive UTC when None."""
    if offset_minutes is None:
        return moment.strftime(f"%Y-%m-%d{separator}%H:%M:%S")
    local = moment + timedelta(minutes=offset_minutes)
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return local.strftime(f"%Y-%m-%d{separator}%H:%M:%S") + f"{sign}{hours:02d}:{minutes:02d}"


past_moments = st.datetimes(
    min_value=datetime(1970, 1, 2), max_value=datetime(2026, 11, 26), timezones=st.just(timezone.utc)
)
time_like = st.one_of(
    st.builds(iso, past_moments, st.none() | offsets),
    st.text(max_size=25),
    st.text(alphabet="0123456789-:+TZ. ", max_size=30),
    st.sampled_from(["", "now", "2026-02-30T00:00:00Z", "2026-11-27T25:00:00Z", "9999-12-31T23:59:59Z",
                     "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+01:00", "1969-12-31T23:59:59Z",
                     "2026-11-27T08:00:00+24:00", "2026-11-27T08:00:00+99:99", "2026-W48-5", "20261127T08"]),
)
event_keys = st.sampled_from(
    ["time", "start", "end", "dry_run", "source", "detail-type", "id", "detail", "resources", "region", "bogus"]
)
events = st.one_of(
    json_values,
    st.dictionaries(event_keys, json_values | time_like, max_size=5),
    st.dictionaries(st.sampled_from(["time", "start", "end", "dry_run"]), time_like | st.booleans(), max_size=3),
    st.builds(
        lambda time, extra: {"source": "aws.events", "detail-type": "Scheduled Event", "time": time, **extra},
        time_like | json_values, st.dictionaries(event_keys, json_values, max_size=2),
    ),
)

def parse(event):
    return config.parse_event(event, NOW)


# --- the specification of events, written from README's Events table, apart from config -----

SCHEDULED_KEYS = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
MANUAL_KEYS = {"time", "start", "end", "dry_run"}
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def floor(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def instant(value):
    """The UTC instant an event's time field means (dateutil's ISO 8601; naive is UTC), or None."""
    if not isinstance(value, str):
        return None
    try:
        moment = isoparse(value.strip())
        moment = moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None
    return moment if moment >= EPOCH else None


def expected(event):
    """(start, end, dry_run) the event must give; or, if it must be refused, the fields
    the refusal may name (an unknown key as config shows it, quoted)."""
    if not isinstance(event, dict):
        return {"event"}
    limit = CURRENT + HOUR  # nothing after the current hour; an exclusive end up to its end
    if event.get("source") == "aws.events":
        unknown = set(event) - SCHEDULED_KEYS
        if unknown:
            return {repr(key) for key in unknown}
        moment = instant(event.get("time"))
        if moment is None or moment >= limit:
            return {"time"}
        return floor(moment), floor(moment) + HOUR, False
    bad = {repr(key) for key in set(event) - MANUAL_KEYS}
    if not isinstance(event.get("dry_run", False), bool):
        bad.add("dry_run")
    if "time" in event and ("start" in event or "end" in event):
        bad |= {"time"} | ({"start", "end"} & set(event))
    if "end" in event and "start" not in event:
        bad.add("end")
    moments = {}
    for name in MANUAL_KEYS - {"dry_run"} & set(event):
        moment = instant(event[name])
        if moment is None or (moment > limit if name == "end" else moment >= limit):
            bad.add(name)
        moments[name] = moment
    if bad:
        return bad
    if "start" in event:
        start, end = moments["start"], moments.get("end", NOW)
        if end <= start:
            return {"start", "end"} if "end" in event else {"start"}  # without end: a start after now
        ceiling = floor(end) if floor(end) == end else floor(end) + HOUR
        return floor(start), ceiling, event.get("dry_run", False)
    start = floor(moments.get("time", NOW))
    return start, start + HOUR, event.get("dry_run", False)


def names(message: str, field: str) -> bool:
    """The message names field: an unknown key as shown; a known field as a word outside what
    it quotes (the event's own text) and outside parentheses ("allowed: time, start, ...")."""
    if field.startswith(("'", '"')):
        return field in message
    bare = re.sub(r"'[^']*'|\"[^\"]*\"|\([^)]*\)", "", message).replace("ISO 8601 time", "")
    return re.search(rf"(?<![\w-]){re.escape(field)}(?![\w-])", bare) is not None


def check(event, refuse=parse):
    """refuse(event) gives exactly the specified range, or an EventError naming a field at fault."""
    outcome = expected(event)
    try:
        hour_range = refuse(event)
    except EventError as error:
        assert isinstance(outcome, set), f"refused a valid event {event!r}: {error}"
        assert any(names(str(error), field) for field in outcome), (str(error), outcome)
        return
    assert isinstance(outcome, tuple), f"accepted {event!r}, which must be refused naming one of {outcome}"
    assert (hour_range.start, hour_range.end, hour_range.dry_run) == outcome


# --- events -------------------------------------------------------------------------------


@fast(400)
@given(events)
@example({"start": "2026-11-27T09:45:00Z"})  # later than now, in the current hour
@example({"start": "2026-11-27T09:30:12Z"})  # exactly now
@example({1: "x", "source": "aws.events"})
def test_any_json_event_gives_its_range_or_an_event_error_naming_the_field_at_fault(event):
    check(event)


def test_the_specification_refuses_and_accepts_what_readme_says():
    """The oracle above, on hand-built cases: it must not agree with the code by accident."""
    assert expected({"time": "2026-11-27T08:10:00+01:00"}) == (CURRENT - 2 * HOUR, CURRENT - HOUR, False)
    assert expected({"start": "2026-11-27T07:59:59Z", "dry_run": True}) == (CURRENT - 2 * HOUR, CURRENT + HOUR, True)
    assert expected({"start": "2026-11-27T09:45:00Z"}) == {"start"}
    assert expected({"start": "2026-11-27T09:45:00Z", "end": "2026-11-27T10:00:00Z"}) == (CURRENT, CURRENT + HOUR, False)
    assert expected({"end": "2026-11-27T10:00:01Z", "time": 3}) == {"time", "end"}
    assert expected({"source": "aws.events", "time": "2026-11-27T10:00:00Z"}) == {"time"}
    assert expected({"x": 1, "time": "1969-12-31T23:59:59Z"}) == {"'x'", "time"}
    assert expected([]) == {"event"}
    assert names("unknown event keys: 'strat' (allowed: time, start, end, dry_run)", "'strat'")
    assert not names("unknown event keys: 'strat' (allowed: time, start, end, dry_run)", "start")
    assert not names("start is not an ISO 8601 time: 'end'", "end")
    assert not names("start is not an ISO 8601 time: 'x'", "time")


@fast()
@given(st.sampled_from(["time", "start", "end"]), json_values.filter(lambda value: not isinstance(value, str)))
def test_a_time_that_is_not_a_string_is_refused_naming_it(name, value):
    event = {"start": "2026-11-01T00:00:00Z", name: value} if name == "end" else {name: value}
    with pytest.raises(EventError, match=f"^{name} must be an ISO 8601 string"):
        parse(event)


@fast()
@given(st.sampled_from(["time", "start", "end"]), time_like)
def test_a_time_string_gives_its_hour_or_is_refused_naming_its_field(name, value):
    check({"start": "2026-11-01T00:00:00Z", name: value} if name == "end" else {name: value})


@fast()
@given(past_moments, offsets)
@example(datetime(2026, 11, 1, 4, 35, tzinfo=timezone.utc), 5 * 60 + 45)  # +05:45 (Kathmandu)
@example(datetime(2026, 11, 1, 0, 10, tzinfo=timezone.utc), -30)  # -00:30
@example(datetime(2026, 11, 1, 23, 59, 59, tzinfo=timezone.utc), 14 * 60)  # +14:00, next local day
@example(datetime(2026, 11, 1, 0, 0, tzinfo=timezone.utc), -12 * 60)  # -12:00, previous local day
def test_odd_offsets_are_converted_to_the_utc_hour(moment, offset):
    text = iso(moment, offset)
    hour = moment.replace(minute=0, second=0, microsecond=0)
    assert parse({"time": text}).start == hour
    assert parse(dict(source="aws.events", time=text)).start == hour
    hour_range = parse({"start": text, "end": iso(moment + 3 * HOUR, -offset)})
    assert hour_range.start == hour
    end = (moment + 3 * HOUR).replace(microsecond=0)  # iso() writes whole seconds
    floored = end.replace(minute=0, second=0, microsecond=0)
    assert hour_range.end == (floored if floored == end else floored + HOUR)  # end is exclusive


@fast()
@given(past_moments)
def test_naive_times_are_utc(moment):
    assert parse({"time": iso(moment, None)}).start == moment.replace(minute=0, second=0, microsecond=0)
    assert parse({"time": iso(moment, None, " ")}).start == moment.replace(minute=0, second=0, microsecond=0)


@fast()
@given(past_moments, st.integers(min_value=0, max_value=10**6))
def test_end_not_after_start_is_refused_naming_both(moment, seconds_back):
    end = moment - timedelta(seconds=seconds_back)
    with pytest.raises(EventError) as error:
        parse({"start": iso(moment, 330), "end": iso(end, -30)})
    assert "end" in str(error.value) and "start" in str(error.value)


@fast()
@given(st.sampled_from(["time", "start", "end"]), st.integers(min_value=1, max_value=10**6), offsets)
@example("time", 10**6, 0)
def test_hours_after_the_current_one_are_refused_naming_the_field(name, hours_ahead, offset):
    future = min(CURRENT + hours_ahead * HOUR, datetime(9999, 12, 30, tzinfo=timezone.utc))
    if name == "time":
        event, events_ = {"time": iso(future, offset)}, [dict(source="aws.events", time=iso(future, offset))]
    elif name == "start":
        event, events_ = {"start": iso(future, offset)}, [{"start": iso(future, offset), "end": iso(future + HOUR, 0)}]
    else:
        event, events_ = {"start": "2026-11-27T00:00:00Z", "end": iso(future + HOUR, offset)}, []
    for bad in [event, *events_]:
        with pytest.raises(EventError) as error:
            parse(bad)
        assert name in str(error.value), (bad, str(error.value))


@pytest.mark.parametrize("moment", ["9999-12-31T23:00:00Z", "9999-12-31T23:59:59.999999", "9999-12-31T23:30:00-00:30"])
@pytest.mark.parametrize("event", [
    lambda moment: {"time": moment},
    lambda moment: {"source": "aws.events", "time": moment},
    lambda moment: {"start": "2026-11-01T00:00:00Z", "end": moment},
], ids=["time", "scheduled", "end"])
def test_the_last_representable_hours_are_refused_not_overflowing(moment, event):
    """One hour later does not exist: refused as a future time, not a bare OverflowError."""
    event = event(moment)
    name = "end" if "end" in event else "time"
    with pytest.raises(EventError, match=f"^(refusing hours after the current one .*: )?{name} is "):
        parse(event)


@fast()
@given(st.integers(min_value=1, max_value=config.MAX_MERCHANTS), st.integers(min_value=1, max_value=10**6))
def test_ranges_larger_than_one_invocation_may_take_are_refused_naming_the_inputs(merchants, hours):
    start = datetime(1971, 1, 1, tzinfo=timezone.utc)
    hour_range = config.HourRange(start, start + hours * HOUR)
    if hours * merchants <= config.MAX_DOCUMENTS_PER_INVOCATION:
        config.check_invocation_size(hour_range, merchants)
        return
    with pytest.raises(EventError) as error:
        config.check_invocation_size(hour_range, merchants)
    message = str(error.value)
    assert "start" in message and "end" in message and config.MERCHANT_COUNT in message
    assert str(config.MAX_DOCUMENTS_PER_INVOCATION) in message


def test_the_per_invocation_maximum_is_a_month_at_the_default_roster_and_exact_at_the_boundary():
    assert config.MAX_DOCUMENTS_PER_INVOCATION == 500_000
    assert config.MAX_DOCUMENTS_PER_INVOCATION >= 31 * 24 * config.DEFAULT_MERCHANTS
    start = datetime(2000, 1, 1, tzinfo=timezone.utc)
    config.check_invocation_size(config.HourRange(start, start + 25_000 * HOUR), 20)  # exactly 500,000
    with pytest.raises(EventError):
        config.check_invocation_size(config.HourRange(start, start + 25_001 * HOUR), 20)
    with pytest.raises(EventError):
        config.check_invocation_size(config.HourRange(start, start + 6 * HOUR), config.MAX_MERCHANTS)


# --- configuration ------------------------------------------------------------------------

env_text = st.text(max_size=30).filter(lambda value: "\x00" not in value)


@fast()
@given(env_text | st.integers(min_value=-10**30, max_value=10**30).map(str))
@example("0")
@example("-1")
@example("100001")
@example("1e3")
@example("12.0")
@example("99999999999999999999999999999999")
@example("9" * 5000)
def test_merchant_count_is_a_positive_bounded_integer_or_refused_naming_it(value):
    check_setting(config.MERCHANT_COUNT, value, "merchants", decimal(value, 1, 100_000))


def decimal(value: str, minimum: int, maximum: int):
    """The integer an ASCII decimal value means if within bounds, else None (refused)."""
    text = value.strip()
    if not re.fullmatch(r"[+-]?[0-9]+", text) or len(text.lstrip("+-").lstrip("0")) > 45:
        return None
    return int(text) if minimum <= int(text) <= maximum else None


def check_setting(name: str, value: str, attribute: str, wanted):
    """The variable gives exactly wanted, or (wanted None) a ConfigError naming it; blank is unset."""
    if not value.strip():
        wanted = getattr(config.Config(), attribute)
    try:
        cfg = config.load_config({name: value})
    except ConfigError as error:
        assert wanted is None, f"{name}={value!r} refused, should give {wanted!r}: {error}"
        assert str(error).startswith(f"{name} must ")
        return
    assert wanted is not None, f"{name}={value!r} accepted as {getattr(cfg, attribute)!r}, should be refused"
    assert getattr(cfg, attribute) == wanted


@fast()
@given(env_text | st.integers(min_value=-2**130, max_value=2**130).map(str))
@example("1.5")
@example("0x10")
@example("1_000")
@example(str(2**128))
@example(str(2**128 + 1))
@example(str(-2**128))
@example(str(-2**128 - 1))
@example("9" * 5000)
@example(" 0042 ")
def test_seed_is_an_integer_up_to_2_128_or_refused_without_showing_it(value):
    check_setting(config.GENERATOR_SEED, value, "seed", decimal(value, -2**128, 2**128))
    try:
        config.load_config({config.GENERATOR_SEED: value})
    except ConfigError as error:
        assert "(the value is not shown)" in str(error)
        assert repr(value.strip()) not in str(error)


@fast()
@given(env_text | st.sampled_from(["debug", " Info ", "WARNING", "error", "critical", "warn", "ınfo"]))
@example("verbose")
@example("TRACE")
@example("debug")
def test_log_level_is_known_or_refused_naming_it(value):
    levels = {"debug": "DEBUG", "info": "INFO", "warning": "WARNING", "error": "ERROR", "critical": "CRITICAL"}
    check_setting(config.LOG_LEVEL, value, "log_level", levels.get(value.strip().lower()) if value.isascii() else None)


LABEL = r"[a-z]([a-z0-9-]{0,8}[a-z0-9])?"
hostnames = st.from_regex(rf"{LABEL}(\.{LABEL}){{0,3}}", fullmatch=True)
host_like = st.one_of(
    env_text,
    st.builds(
        lambda scheme, userinfo, host, port, path: f"{scheme}{userinfo}{host}{port}{path}",
        st.sampled_from(["https://", "http://", "ftp://", "", "https:/", "HTTPS://", "https:// "]),
        st.sampled_from(["", "elastic:pw@", "@", "user@"]),
        hostnames | st.sampled_from(["localhost", "127.0.0.1", "[::1]", "[::1", "0.0.0.0", "10.0.0.5", "",
                                     "exa mple.com", "host\n.com", "host_name.io", "ÄBC.example"]),
        st.sampled_from(["", ":443", ":9200", ":0", ":65536", ":-1", ":abc", ":"]),
        st.sampled_from(["", "/", "/prefix", "/?q=1", "#frag", "/a b"]),
    ),
)


@fast(300)
@given(host_like)
def test_host_is_a_usable_url_or_refused_naming_it(value):
    try:
        cfg = config.load_config({config.ELASTICSEARCH_HOST: value})
    except ConfigError as error:
        assert config.ELASTICSEARCH_HOST in str(error)
        return
    if cfg.host is None:  # blank: not set
        assert not value.strip()
        return
    parts = urlsplit(cfg.host)
    assert "@" not in cfg.host and not parts.query and not parts.fragment
    assert parts.scheme.lower() == "https" or parts.hostname in ("localhost", "127.0.0.1", "::1")
    # Whatever config accepts, the client accepts, for the host config saw.
    client = es.connect(cfg.host)
    (node,) = client.transport.node_pool.all()
    assert node.config.host.strip("[]") == parts.hostname
    assert node.config.scheme == parts.scheme


@fast()
@given(hostnames.filter(lambda host: host != "localhost"), st.sampled_from(["", ":80", ":9200"]))
@example("my-deployment.es.us-east-1.aws.elastic.cloud", ":9243")
def test_plain_http_to_a_non_loopback_host_is_refused(host, port):
    with pytest.raises(ConfigError, match=f"{config.ELASTICSEARCH_HOST} must use https://"):
        config.load_config({config.ELASTICSEARCH_HOST: f"http://{host}{port}"})
    assert config.load_config({config.ELASTICSEARCH_HOST: f"https://{host}{port}"}).host == f"https://{host}{port}"


@pytest.mark.parametrize("host", ["http://10.0.0.5:9200", "http://0.0.0.0:9200", "http://127.0.0.1.nip.io",
                                  "http://localhost.example.com", "http://[::ffff:10.0.0.1]:9200"])
def test_plain_http_to_lookalike_loopback_hosts_is_refused(host):
    with pytest.raises(ConfigError, match="https"):
        config.load_config({config.ELASTICSEARCH_HOST: host})


@pytest.mark.parametrize("host", ["http://localhost:9200", "http://127.0.0.1:9200", "http://127.8.9.1",
                                  "http://[::1]:9200", "http://LOCALHOST:9200"])
def test_plain_http_to_loopback_is_allowed(host):
    assert config.load_config({config.ELASTICSEARCH_HOST: host}).host == host


# --- handler level: a clear message and nothing written --------------------------------------

BAD_ENVIRONMENTS = st.one_of(
    st.fixed_dictionaries({config.MERCHANT_COUNT: st.sampled_from(["0", "-5", "100001", "1000000000000", "ten", "1.5", "10**9"])}),
    st.fixed_dictionaries({config.GENERATOR_SEED: st.sampled_from(["seed", "1.0", str(2**128 + 1), "0x1F"])}),
    st.fixed_dictionaries({config.LOG_LEVEL: st.sampled_from(["verbose", "TRACE", "warn", "5"])}),
    st.fixed_dictionaries({config.ELASTICSEARCH_HOST: st.sampled_from(
        ["http://search.example.com", "ftp://127.0.0.1", "127.0.0.1:9200", "https://", "https://host:99999",
         "https://user:pw@host", "http://10.1.2.3:9200"])}),
    st.fixed_dictionaries({config.ELASTICSEARCH_INDEX: st.sampled_from(["Upper", "_hidden", "a b", "x,y", ""])})
    .filter(lambda env: env[config.ELASTICSEARCH_INDEX]),
)


@fast(60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(BAD_ENVIRONMENTS)
def test_handler_refuses_bad_configuration_before_any_request(cluster, environment):
    (name,) = environment
    env = {config.ELASTICSEARCH_HOST: cluster.url, **environment}
    with mock.patch.dict(os.environ, env):
        with pytest.raises(ConfigError) as error:
            data_generator.lambda_handler({"source": "aws.events", "time": "2026-11-01T05:00:00Z"}, None)
    assert name in str(error.value)
    assert cluster.proxy.requests == []


BAD_EVENTS = st.one_of(
    json_values.filter(lambda value: not isinstance(value, dict)),
    st.builds(lambda value: {"time": value}, json_values.filter(lambda value: not isinstance(value, str))),
    st.builds(lambda value: {"time": value}, st.sampled_from(["yesterday", "2026-13-01", "2026-11-01T05:00:00+25:00"])),
    st.builds(lambda hours: {"start": "2026-11-27T00:00:00Z", "end": iso(CURRENT + hours * HOUR, 0)},
              st.integers(min_value=2, max_value=10**5)),
    st.builds(lambda back: {"start": "2026-11-01T05:00:00Z", "end": iso(datetime(2026, 11, 1, 5, tzinfo=timezone.utc)
                                                                         - back * HOUR, 345)},
              st.integers(min_value=0, max_value=1000)),
    st.just({"start": "1970-01-01T00:00:00Z", "end": "2026-11-01T00:00:00Z"}),  # over the per-invocation maximum
    st.just({"end": "2026-11-01T00:00:00Z"}),
    st.just({"time": "2026-11-01T00:00:00Z", "start": "2026-11-01T00:00:00Z"}),
    st.builds(lambda value: {"dry_run": value, "time": "2026-11-01T00:00:00Z"}, json_values.filter(
        lambda value: not isinstance(value, bool))),
    st.builds(lambda key: {key: 1}, st.text(min_size=1, max_size=10).filter(
        lambda key: key not in config.MANUAL_EVENT_KEYS and key != "source")),
    st.just({"source": "aws.events", "detail-type": "Scheduled Event"}),
    st.just({"source": "aws.events", "time": "2026-11-01T05:00:00Z", "extra": 1}),
)


@fast(120, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(BAD_EVENTS)
def test_handler_refuses_bad_events_before_any_request(cluster, event):
    with mock.patch.dict(os.environ, {config.ELASTICSEARCH_HOST: cluster.url}), \
            mock.patch.object(data_generator, "datetime", FrozenDatetime):
        with pytest.raises(EventError) as error:
            data_generator.lambda_handler(event, None)
    outcome = expected(event)
    if isinstance(outcome, tuple):  # a valid range, but over the per-invocation maximum
        assert (outcome[1] - outcome[0]) // HOUR * config.DEFAULT_MERCHANTS > config.MAX_DOCUMENTS_PER_INVOCATION
        outcome = {"start", "end"}
    assert any(names(str(error.value), field) for field in outcome), (str(error.value), outcome)
    assert cluster.proxy.requests == []


class FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz=None):
        return NOW if tz is None else NOW.astimezone(tz)
