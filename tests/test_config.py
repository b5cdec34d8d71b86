"""Unit tests of configuration and event parsing."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timezone

import pytest

import config
from config import Config, ConfigError, EventError, HourRange, load_config, parse_event
from conftest import SETTING_NAMES

NOW = datetime(2026, 11, 27, 9, 15, 30, tzinfo=timezone.utc)


def utc(*args):
    return datetime(*args, tzinfo=timezone.utc)


SCHEDULED = {
    "version": "0",
    "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-11-27T07:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/pp-merchantai-hourly"],
    "detail": {},
}


# --- events ---------------------------------------------------------------------------


def test_scheduled_event_uses_its_time_not_the_clock():
    assert parse_event(SCHEDULED, NOW) == HourRange(utc(2026, 11, 27, 7), utc(2026, 11, 27, 8))


def test_scheduled_event_time_is_floored():
    event = {**SCHEDULED, "time": "2026-11-27T07:42:10Z"}
    assert parse_event(event, NOW).start == utc(2026, 11, 27, 7)


def test_empty_event_is_the_current_hour():
    hours = parse_event({}, NOW)
    assert (hours.start, hours.end, hours.hours, hours.dry_run) == (utc(2026, 11, 27, 9), utc(2026, 11, 27, 10), 1, False)


def test_time_event_is_that_hour():
    assert parse_event({"time": "2026-11-01T13:59:59Z"}, NOW).start == utc(2026, 11, 1, 13)


def test_range_covers_every_hour_starting_before_end():
    hours = parse_event({"start": "2026-11-26T22:30:00Z", "end": "2026-11-27T01:00:00Z"}, NOW)
    assert (hours.start, hours.end, hours.hours) == (utc(2026, 11, 26, 22), utc(2026, 11, 27, 1), 3)


def test_range_end_defaults_to_now_including_the_current_hour():
    hours = parse_event({"start": "2026-11-27T00:00:00Z"}, NOW)
    assert (hours.end, hours.hours) == (utc(2026, 11, 27, 10), 10)


def test_naive_times_are_utc_and_offsets_are_converted():
    assert parse_event({"time": "2026-11-27T05:00:00"}, NOW).start == utc(2026, 11, 27, 5)
    assert parse_event({"time": "2026-11-27T05:50:00+05:45"}, NOW).start == utc(2026, 11, 27, 0)
    assert parse_event({"start": "2026-11-26"}, NOW).start == utc(2026, 11, 26, 0)


def test_dry_run_combines_with_every_manual_form():
    assert parse_event({"dry_run": True}, NOW).dry_run
    assert parse_event({"time": "2026-11-27T05:00:00Z", "dry_run": True}, NOW).dry_run
    assert parse_event({"start": "2026-11-27T05:00:00Z", "dry_run": True}, NOW).dry_run


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ([], "must be a JSON object, got list"),
        ("{}", "must be a JSON object, got str"),
        (None, "must be a JSON object, got NoneType"),
        ({"time": 12}, "time must be an ISO 8601 string, got int"),
        ({"time": "yesterday"}, "time is not an ISO 8601 time: 'yesterday'"),
        ({"start": "2026-13-01"}, "start is not an ISO 8601 time"),
        ({"start": "2026-11-27T05:00:00Z", "end": "2026-11-27T05:00:00Z"}, "must be after start"),
        ({"start": "2026-11-27T05:00:00Z", "end": "2026-11-26T05:00:00Z"}, "must be after start"),
        ({"end": "2026-11-27T05:00:00Z"}, "end needs start"),
        ({"time": "2026-11-27T05:00:00Z", "start": "2026-11-27T05:00:00Z"}, "either time or start/end"),
        ({"dry_run": "yes"}, "dry_run must be true or false, got 'yes'"),
        ({"strat": "2026-11-27"}, "unknown event keys: 'strat'"),
        ({1: "x", "b": 2}, "unknown event keys: 'b', 1"),
        ({**SCHEDULED, 7: 1, "extra": 1}, "unexpected keys in scheduled event: 'extra', 7"),
        ({"start": "2026-11-27T09:45:00Z"}, "refusing a start in the future (now is 2026-11-27T09:15:30Z): "
                                            "start is 2026-11-27T09:45:00Z"),
        ({"time": "2026-11-27T10:00:00Z"}, "refusing hours after the current one (2026-11-27T09:00:00Z): time is 2026-11-27T10:00:00Z"),
        ({"start": "2026-11-27T08:00:00Z", "end": "2026-11-27T12:00:00Z"}, "refusing hours after the current one (2026-11-27T09:00:00Z): end is 2026-11-27T12:00:00Z"),
        ({"time": "1969-12-31T23:00:00Z"}, "time must not be before 1970: '1969-12-31T23:00:00Z'"),
        ({**SCHEDULED, "time": "soon"}, "time is not an ISO 8601 time"),
        ({**SCHEDULED, "extra": 1}, "unexpected keys in scheduled event: 'extra'"),
        ({key: value for key, value in SCHEDULED.items() if key != "time"}, "scheduled event has no time"),
    ],
)
def test_bad_events_raise_one_clear_error(event, message):
    with pytest.raises(EventError) as excinfo:
        parse_event(event, NOW)
    assert message in str(excinfo.value)


def test_the_current_hour_itself_is_allowed():
    assert parse_event({"time": "2026-11-27T09:59:00Z"}, NOW).start == utc(2026, 11, 27, 9)
    assert parse_event({"start": "2026-11-27T08:00:00Z", "end": "2026-11-27T09:30:00Z"}, NOW).hours == 2


def test_invocation_size_limit():
    month = HourRange(utc(2026, 10, 1), utc(2026, 11, 1))
    config.check_invocation_size(month, 20)  # 31 days at 20 merchants is fine
    with pytest.raises(EventError, match=r"744 hours x 1000 merchants \(MERCHANT_COUNT\) = 744000 documents; one invocation takes at most 500000"):
        config.check_invocation_size(month, 1000)


# --- environment ----------------------------------------------------------------------


def test_defaults():
    assert load_config({}) == Config(host=None, index="pp-merchantai", merchants=20, seed=1729, log_level="INFO")


def test_full_environment():
    cfg = load_config({
        "ELASTICSEARCH_HOST": "https://example.es.io:443/",
        "ELASTICSEARCH_API_KEY": "a2V5OnNlY3JldA==",
        "ELASTICSEARCH_INDEX": "merchants-test",
        "MERCHANT_COUNT": "250",
        "GENERATOR_SEED": "-42",
        "LOG_LEVEL": "debug",
    })
    assert cfg == Config(host="https://example.es.io:443", index="merchants-test", merchants=250, seed=-42,
                         log_level="DEBUG", api_key="a2V5OnNlY3JldA==")


def test_username_alone_is_the_older_name_for_the_api_key():
    cfg = load_config({"ELASTICSEARCH_USERNAME": "a2V5OnNlY3JldA=="})
    assert (cfg.api_key, cfg.username, cfg.password) == ("a2V5OnNlY3JldA==", None, None)


def test_username_and_password_are_basic_auth():
    cfg = load_config({"ELASTICSEARCH_USERNAME": "elastic", "ELASTICSEARCH_PASSWORD": "pw"})
    assert (cfg.api_key, cfg.username, cfg.password) == (None, "elastic", "pw")


def test_secret_arn():
    arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pp-merchantai/es-key-AbCdEf"
    assert load_config({"ELASTICSEARCH_API_KEY_SECRET_ARN": arn}).api_key_secret_arn == arn


def test_repr_never_shows_secrets():
    cfg = load_config({"ELASTICSEARCH_API_KEY": "TOPSECRETKEY"})
    assert "TOPSECRETKEY" not in repr(cfg)
    cfg = load_config({"ELASTICSEARCH_USERNAME": "elastic", "ELASTICSEARCH_PASSWORD": "TOPSECRETPW"})
    assert "TOPSECRETPW" not in repr(cfg)


@pytest.mark.parametrize("host", ["http://localhost:9200", "http://127.0.0.1:9200", "http://[::1]:9200",
                                  "https://my-deployment.es.us-east-1.aws.elastic.cloud"])
def test_accepted_hosts(host):
    assert load_config({"ELASTICSEARCH_HOST": host}).host == host


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"MERCHANT_COUNT": "twenty"}, "MERCHANT_COUNT must be an integer, got 'twenty'"),
        ({"MERCHANT_COUNT": "0"}, "MERCHANT_COUNT must be between 1 and 100000, got '0'"),
        ({"MERCHANT_COUNT": "1_000"}, "MERCHANT_COUNT must be an integer, got '1_000'"),
        ({"MERCHANT_COUNT": "\u0663"}, "MERCHANT_COUNT must be an integer"),  # ARABIC-INDIC DIGIT THREE
        ({"LOG_LEVEL": "\u0131nfo"}, "LOG_LEVEL must be one of"),  # dotless i: its upper() is INFO
        ({"MERCHANT_COUNT": "100001"}, "MERCHANT_COUNT must be between 1 and 100000"),
        ({"MERCHANT_COUNT": "2.5"}, "MERCHANT_COUNT must be an integer"),
        ({"GENERATOR_SEED": "abc"}, "GENERATOR_SEED must be an integer from -2**128 to 2**128 (the value is not shown)"),
        ({"GENERATOR_SEED": str(2**128 + 1)}, "GENERATOR_SEED must be an integer from -2**128 to 2**128"),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL"),
        ({"ELASTICSEARCH_INDEX": "Merchants"}, "ELASTICSEARCH_INDEX must be a valid Elasticsearch index name"),
        ({"ELASTICSEARCH_INDEX": "_hidden"}, "ELASTICSEARCH_INDEX must be a valid"),
        ({"ELASTICSEARCH_HOST": "my-cluster:9200"}, "ELASTICSEARCH_HOST must be an http(s) URL"),
        ({"ELASTICSEARCH_HOST": "ftp://example.com"}, "ELASTICSEARCH_HOST must be an http(s) URL"),
        ({"ELASTICSEARCH_HOST": "https://example.com:99999"}, "ELASTICSEARCH_HOST is not a valid URL"),
        ({"ELASTICSEARCH_HOST": "http://example.com:9200"}, "must use https:// (plain http:// is allowed only for localhost)"),
        ({"ELASTICSEARCH_HOST": "https://user:pw@example.com"}, "ELASTICSEARCH_HOST must not carry credentials"),
        ({"ELASTICSEARCH_HOST": "https://example.com:"}, "ELASTICSEARCH_HOST is not a valid URL"),
        ({"ELASTICSEARCH_HOST": "https://[10.0.0.1]"}, "ELASTICSEARCH_HOST is not a valid URL"),
        ({"ELASTICSEARCH_HOST": "https://example.com/a b"}, "ELASTICSEARCH_HOST is not a valid URL"),
        ({"ELASTICSEARCH_HOST": "https://example.com/?q=1"}, "must not carry a query or a fragment"),
        ({"ELASTICSEARCH_PASSWORD": "pw"}, "ELASTICSEARCH_PASSWORD is set but ELASTICSEARCH_USERNAME is not"),
        ({"ELASTICSEARCH_API_KEY": "k", "ELASTICSEARCH_USERNAME": "u", "ELASTICSEARCH_PASSWORD": "p"}, "not both"),
        ({"ELASTICSEARCH_API_KEY": "k", "ELASTICSEARCH_USERNAME": "k2"}, "older name for ELASTICSEARCH_API_KEY"),
        ({"ELASTICSEARCH_API_KEY": "k", "ELASTICSEARCH_API_KEY_SECRET_ARN":
          "arn:aws:secretsmanager:us-east-1:123456789012:secret:x"}, "not both"),
        ({"ELASTICSEARCH_API_KEY_SECRET_ARN": "my-secret"}, "ELASTICSEARCH_API_KEY_SECRET_ARN must be a Secrets Manager secret ARN"),
        ({"SCENARIO": "chaos"}, "SCENARIO must be steady, incidents or hard, or the path of a .json scenario file, got 'chaos'"),
        ({"SCENARIO": "Incidents"}, "SCENARIO must be steady, incidents or hard"),
        ({"SCENARIO": "black-friday.yaml"}, "SCENARIO must be steady, incidents or hard"),
        ({"GROUND_TRUTH": "both"}, "GROUND_TRUTH must be one of separate, inline, got 'both'"),
        ({"GROUND_TRUTH": "true"}, "GROUND_TRUTH must be one of separate, inline"),
        ({"REMEDIATION": "yes"}, "REMEDIATION must be one of off, on, got 'yes'"),
        ({"REMEDIATION": "1"}, "REMEDIATION must be one of off, on"),
        ({"ANSWER_KEY_INDEX": "Truth"}, "ANSWER_KEY_INDEX must be a valid Elasticsearch index name"),
        ({"ANSWER_KEY_INDEX": "_truth"}, "ANSWER_KEY_INDEX must be a valid"),
        ({"REMEDIATION_INDEX": "fixes*"}, "REMEDIATION_INDEX must be a valid Elasticsearch index name"),
        ({"REMEDIATION_INDEX": "-fixes"}, "REMEDIATION_INDEX must be a valid"),
    ],
)
def test_invalid_environment_names_the_variable(env, message):
    with pytest.raises(ConfigError) as excinfo:
        load_config(env)
    assert message in str(excinfo.value)


# Short and not key-like, so only the environment can tell it is a credential; both
# quote characters, so repr() escapes it and a search for the raw text would miss it.
SHORT_PASSWORD = "pa'ss\"w0rd"


# SCENARIO takes any .json path; the secret ARN's message never quotes its value.
CREDENTIALS = {  # the variable holding SHORT_PASSWORD: its environment
    "ELASTICSEARCH_PASSWORD": {"ELASTICSEARCH_USERNAME": "elastic", "ELASTICSEARCH_PASSWORD": SHORT_PASSWORD},
    "ELASTICSEARCH_API_KEY": {"ELASTICSEARCH_API_KEY": SHORT_PASSWORD},
    "ELASTICSEARCH_USERNAME": {"ELASTICSEARCH_USERNAME": SHORT_PASSWORD},  # the older name for the key
}


@pytest.mark.parametrize("holder", sorted(CREDENTIALS))
@pytest.mark.parametrize("name", sorted(set(SETTING_NAMES) - {"SCENARIO", "ELASTICSEARCH_API_KEY_SECRET_ARN"}))
def test_a_short_password_pasted_into_another_variable_is_never_echoed(name, holder):
    with pytest.raises(ConfigError) as excinfo:
        load_config({**CREDENTIALS[holder], name: SHORT_PASSWORD})
    message = str(excinfo.value)
    assert message == (f"{name} is not valid and holds the value of {holder}, so it is not shown "
                       "(a credential in the wrong variable?)")
    assert excinfo.value.__context__ is None and excinfo.value.__cause__ is None


def test_a_basic_auth_user_name_is_no_credential():
    with pytest.raises(ConfigError) as excinfo:
        load_config({"ELASTICSEARCH_USERNAME": "elastic", "ELASTICSEARCH_PASSWORD": SHORT_PASSWORD,
                     "LOG_LEVEL": "elastic"})
    assert str(excinfo.value) == "LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'elastic'"


def test_the_same_short_value_is_shown_when_it_is_no_credential():
    """Control for the test above: the value is hidden because it is the password, not because of its form."""
    with pytest.raises(ConfigError) as excinfo:
        load_config({"LOG_LEVEL": SHORT_PASSWORD})
    assert str(excinfo.value) == f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got {SHORT_PASSWORD!r}"


@pytest.mark.parametrize(("value", "expected"), [
    ("twenty", "'twenty'"),
    ("ab " * 13 + "a", repr("ab " * 13 + "a")),                # 40 characters: short enough
    ("ab " * 13 + "ab", "a 41-character value (too long to show)"),
    ("abcdefghijklmno", "'abcdefghijklmno'"),                    # 15 key-like characters
    ("abcdefghijklmnop", "a 16-character value that looks like a key"),
    ("ab/de+gh=jk_mn-p", "a 16-character value that looks like a key"),
    ("x y:VnVhQ2ZHY0JDZGJrUW0t", "a 24-character value that looks like a key"),
    ("pp-merchantai", "'pp-merchantai'"),
    ("2026-11-27T09:45:00+05:45", "'2026-11-27T09:45:00+05:45'"),
    (12, "12"),
    (["VnVhQ2ZHY0JDZGJrUW0t"], "a list (not shown)"),
])
def test_how_values_are_shown_in_errors(value, expected):
    assert config.shown(value) == expected


def test_an_unwritable_output_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    import data_generator

    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("")
    code = data_generator.main(["--start", "2026-11-01T00:00Z", "--end", "2026-11-01T01:00Z",
                                "--output", "file/x.ndjson"], environ={})
    assert (code, capsys.readouterr().err) == (2, "error: cannot write --output 'file/x.ndjson': File exists\n")


def test_blank_values_mean_unset():
    assert load_config({"MERCHANT_COUNT": "", "ELASTICSEARCH_HOST": "  "}) == Config()


# --- scenario, answer key, remediation ---------------------------------------------------


def test_scenario_defaults():
    cfg = load_config({})
    assert (cfg.scenario, cfg.ground_truth, cfg.remediation) == ("steady", "separate", False)
    assert (cfg.answer_key_index, cfg.remediation_index) == ("pp-merchantai-incidents", "pp-merchantai-remediations")


@pytest.mark.parametrize(("value", "expected"), [
    ("steady", "steady"), ("incidents", "incidents"), (" incidents ", "incidents"),
    ("black-friday.json", "black-friday.json"), ("/tmp/my scenario.json", "/tmp/my scenario.json"),
])
def test_valid_scenarios(value, expected):
    # Only the name is checked here; a file's content is checked when it is loaded.
    assert load_config({"SCENARIO": value}).scenario == expected


@pytest.mark.parametrize(("ground_truth", "remediation", "expected"), [
    ("separate", "off", ("separate", False)), ("inline", "on", ("inline", True)),
    (" INLINE ", "On", ("inline", True)),
])
def test_valid_ground_truth_and_remediation(ground_truth, remediation, expected):
    cfg = load_config({"GROUND_TRUTH": ground_truth, "REMEDIATION": remediation})
    assert (cfg.ground_truth, cfg.remediation) == expected


def test_companion_indices_follow_the_index():
    cfg = load_config({"ELASTICSEARCH_INDEX": "shop-test"})
    assert (cfg.answer_key_index, cfg.remediation_index) == ("shop-test-incidents", "shop-test-remediations")


def test_companion_index_overrides_win_over_the_index():
    cfg = load_config({"ELASTICSEARCH_INDEX": "shop-test", "ANSWER_KEY_INDEX": "truth", "REMEDIATION_INDEX": "fixes"})
    assert (cfg.index, cfg.answer_key_index, cfg.remediation_index) == ("shop-test", "truth", "fixes")
    # Each override alone leaves the other derived.
    cfg = load_config({"ELASTICSEARCH_INDEX": "shop-test", "REMEDIATION_INDEX": "fixes"})
    assert (cfg.answer_key_index, cfg.remediation_index) == ("shop-test-incidents", "fixes")


def test_blank_companion_indices_are_derived():
    # What the stack sets when AnswerKeyIndex/RemediationIndex are left empty.
    cfg = load_config({"ELASTICSEARCH_INDEX": "shop", "ANSWER_KEY_INDEX": "", "REMEDIATION_INDEX": "  "})
    assert (cfg.answer_key_index, cfg.remediation_index) == ("shop-incidents", "shop-remediations")


@pytest.mark.parametrize("environ", [
    {"ELASTICSEARCH_INDEX": "shop", "ANSWER_KEY_INDEX": "shop"},
    {"ELASTICSEARCH_INDEX": "shop", "REMEDIATION_INDEX": "shop"},
    {"ANSWER_KEY_INDEX": "same", "REMEDIATION_INDEX": "same"},
    {"ELASTICSEARCH_INDEX": "a", "REMEDIATION_INDEX": "a-incidents"},
    {"ELASTICSEARCH_INDEX": "shop", "EVENTS_INDEX": "shop"},
    {"EVENTS_INDEX": "pp-merchantai-incidents"},
    {"ELASTICSEARCH_INDEX": "a", "REMEDIATION_INDEX": "a-events"},
])
def test_the_four_indices_must_differ(environ):
    with pytest.raises(ConfigError, match="ELASTICSEARCH_INDEX, ANSWER_KEY_INDEX, REMEDIATION_INDEX and EVENTS_INDEX"):
        load_config(environ)


def test_the_events_index_is_derived_or_named():
    assert load_config({"ELASTICSEARCH_INDEX": "shop"}).events_index == "shop-events"
    assert load_config({"ELASTICSEARCH_INDEX": "shop", "EVENTS_INDEX": " "}).events_index == "shop-events"
    assert load_config({"EVENTS_INDEX": "changes"}).events_index == "changes"
    with pytest.raises(ConfigError, match="EVENTS_INDEX must be a valid Elasticsearch index name"):
        load_config({"EVENTS_INDEX": "Changes"})


def test_an_index_flag_that_collides_with_an_override_is_refused():
    # --index is applied with dataclasses.replace, which checks again.
    cfg = load_config({"ANSWER_KEY_INDEX": "truth"})
    with pytest.raises(ConfigError, match="four different indices"):
        dataclasses.replace(cfg, index="truth")


# --- the host URL's edges (survivors of make mutate) ---------------------------------------


@pytest.mark.parametrize("host", ["https://my-cluster.es.io.", "https://x.io:1", "https://x.io:65535",
                                  "https://" + ".".join(["a" * 63] * 3 + ["b" * 61])])  # 253 characters
def test_accepted_host_edges(host):
    assert load_config({"ELASTICSEARCH_HOST": host}).host == host


@pytest.mark.parametrize(("host", "message"), [
    ("https://" + ".".join(["a" * 63] * 3 + ["b" * 62]), "is not a valid URL: a 262-character value that looks like a key"),
    ("https://x.io:0", "is not a valid URL: 'https://x.io:0'"),
    ("https://x.io:65536", "is not a valid URL: 'https://x.io:65536'"),
    ("https://x.io#frag", "must not carry a query or a fragment, got 'https://x.io#frag'"),
    ("https://x.io/?q=1", "must not carry a query or a fragment, got 'https://x.io/?q=1'"),
    ("x.io:9200", "must be an http(s) URL such as https://my-cluster.es.io:443, got 'x.io:9200'"),
    ("https://u:p@x.io", "must not carry credentials: there is an '@' after https:// (the value is not shown); "
                         "use ELASTICSEARCH_API_KEY for the key"),
    ("u:p@x.io", "must not carry credentials: there is an '@' in it (the value is not shown); "
                 "use ELASTICSEARCH_API_KEY for the key"),
])
def test_refused_host_messages(host, message):
    with pytest.raises(ConfigError) as excinfo:
        load_config({"ELASTICSEARCH_HOST": host})
    assert str(excinfo.value) == f"ELASTICSEARCH_HOST {message}"


@pytest.mark.parametrize(("env", "attribute", "expected"), [
    ({"MERCHANT_COUNT": "100000"}, "merchants", 100_000),
    ({"GENERATOR_SEED": str(2**128)}, "seed", 2**128),
    ({"GENERATOR_SEED": str(-2**128)}, "seed", -2**128),
    ({"GENERATOR_SEED": "0" * 30 + "42"}, "seed", 42),
    ({"GENERATOR_SEED": "-" + "0" * 30 + "42"}, "seed", -42),
    ({"ELASTICSEARCH_INDEX": "a" * 255}, "index", "a" * 255),
    ({"ELASTICSEARCH_HOST": "https://x.io/X"}, "host", "https://x.io/X"),
])
def test_accepted_edges(env, attribute, expected):
    assert getattr(load_config(env), attribute) == expected


@pytest.mark.parametrize(("env", "message"), [
    ({"ELASTICSEARCH_INDEX": "."}, "ELASTICSEARCH_INDEX must be a valid Elasticsearch index name"),
    ({"ELASTICSEARCH_INDEX": ".."}, "ELASTICSEARCH_INDEX must be a valid Elasticsearch index name"),
    ({"ELASTICSEARCH_INDEX": "a" * 256}, "ELASTICSEARCH_INDEX must be a valid Elasticsearch index name"),
    ({"ELASTICSEARCH_INDEX": "Merchants"}, 'ELASTICSEARCH_INDEX must be a valid Elasticsearch index name (lowercase, '
                                           'no spaces or \\/*?"<>|,#:, not starting with -, _ or +), got \'Merchants\''),
    ({"ELASTICSEARCH_USERNAME": "bad key"}, "ELASTICSEARCH_USERNAME must be the encoded API key"),
])
def test_refused_edges(env, message):
    with pytest.raises(ConfigError) as excinfo:
        load_config(env)
    assert str(excinfo.value).startswith(message)


def test_times_are_floored_to_the_whole_hour():
    assert parse_event({"time": "2026-11-27T05:30:00.123456Z"}, NOW).start == utc(2026, 11, 27, 5)
    assert parse_event({"source": "aws.events", "time": "2026-11-27T05:00:00.5Z"}, NOW).start == utc(2026, 11, 27, 5)


def test_the_edges_of_the_allowed_times():
    assert parse_event({"time": "1970-01-01T00:00:00Z"}, NOW).start == utc(1970, 1, 1)
    # end is exclusive: the end of the current hour is the latest.
    assert parse_event({"start": "2026-11-27T08:00:00Z", "end": "2026-11-27T10:00:00Z"}, NOW).end == utc(2026, 11, 27, 10)


@pytest.mark.parametrize("zone", ["Asia/Kathmandu", "America/St_Johns"])
def test_events_do_not_depend_on_the_machine_time_zone(monkeypatch, zone):
    import time

    events = [{}, {"time": "2026-11-27T05:50:00+05:45"}, {"start": "2026-11-26T22:30:00", "end": "2026-11-27T01:10:00Z"},
              {"start": "2026-11-27T00:00:00Z"}, SCHEDULED]
    expected = [parse_event(event, NOW) for event in events]
    monkeypatch.setenv("TZ", zone)
    time.tzset()
    try:
        assert [parse_event(event, NOW) for event in events] == expected
    finally:
        monkeypatch.undo()
        time.tzset()


def test_the_current_hour_is_the_utc_hour_whatever_the_machine_time_zone(monkeypatch):
    # At +05:30 a floor of local time would end "the current hour" at 08:30 UTC.
    import time

    now = datetime(2026, 11, 27, 8, 10, tzinfo=timezone.utc)
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    try:
        assert parse_event({"time": "2026-11-27T08:59:00Z"}, now).start == datetime(2026, 11, 27, 8, tzinfo=timezone.utc)
        assert config.past_hour("2026-11-27T08:45:00Z", "--at", now) == datetime(2026, 11, 27, 8, tzinfo=timezone.utc)
        with pytest.raises(EventError, match="--at"):
            config.past_hour("2026-11-27T09:00:00Z", "--at", now)
    finally:
        monkeypatch.undo()
        time.tzset()
