"""Property-based tests of bad input: every one a named error (EventError/ConfigError), nothing written.

Deterministic (derandomize=True) and modest example counts, so CI is stable and fast.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from unittest import mock
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, example, given, settings
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

FIELD_NAMES = ("event", "time", "start", "end", "dry_run")


def parse(event):
    return config.parse_event(event, NOW)


# --- events -------------------------------------------------------------------------------


@fast(400)
@given(events)
def test_any_json_event_gives_a_valid_range_or_an_event_error_naming_a_field(event):
    try:
        hour_range = parse(event)
    except EventError as error:
        message = str(error)
        named = [name for name in FIELD_NAMES if name in message]
        if isinstance(event, dict):
            named += [key for key in event if key in message]
        assert named, message
        return
    assert hour_range.start < hour_range.end <= CURRENT + HOUR
    assert hour_range.start.tzinfo is not None and hour_range.start.minute == hour_range.start.second == 0
    assert (hour_range.end - hour_range.start) % HOUR == timedelta(0)


@fast()
@given(st.sampled_from(["time", "start", "end"]), json_values.filter(lambda value: not isinstance(value, str)))
def test_a_time_that_is_not_a_string_is_refused_naming_it(name, value):
    event = {"start": "2026-11-01T00:00:00Z", name: value} if name == "end" else {name: value}
    with pytest.raises(EventError, match=f"^{name} must be an ISO 8601 string"):
        parse(event)


@fast()
@given(st.sampled_from(["time", "start", "end"]), time_like)
def test_a_time_string_parses_or_is_refused_naming_its_field(name, value):
    event = {"start": "2026-11-01T00:00:00Z", name: value} if name == "end" else {name: value}
    try:
        parse(event)
    except EventError as error:
        assert name in str(error)


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
    try:
        cfg = config.load_config({config.MERCHANT_COUNT: value})
    except ConfigError as error:
        assert config.MERCHANT_COUNT in str(error)
        return
    assert 1 <= cfg.merchants <= config.MAX_MERCHANTS


@fast()
@given(env_text | st.integers(min_value=-2**70, max_value=2**70).map(str))
@example("1.5")
@example("0x10")
@example(str(2**63))
def test_seed_is_a_64_bit_integer_or_refused_naming_it(value):
    try:
        cfg = config.load_config({config.GENERATOR_SEED: value})
    except ConfigError as error:
        assert config.GENERATOR_SEED in str(error)
        return
    assert -(2**63) <= cfg.seed < 2**63


@fast()
@given(env_text)
@example("verbose")
@example("TRACE")
@example("debug")
def test_log_level_is_known_or_refused_naming_it(value):
    try:
        cfg = config.load_config({config.LOG_LEVEL: value})
    except ConfigError as error:
        assert config.LOG_LEVEL in str(error)
        return
    assert cfg.log_level in config.LOG_LEVELS


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
    assert parts.scheme == "https" or parts.hostname in ("localhost", "127.0.0.1", "::1")
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
    st.fixed_dictionaries({config.GENERATOR_SEED: st.sampled_from(["seed", "1.0", str(2**64), "0x1F"])}),
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
    message = str(error.value)
    assert any(name in message for name in FIELD_NAMES + ("unknown event keys", "unexpected keys")), message
    assert cluster.proxy.requests == []


class FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz=None):
        return NOW if tz is None else NOW.astimezone(tz)
