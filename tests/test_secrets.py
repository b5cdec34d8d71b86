"""The API key leaks nowhere; TLS verification cannot be turned off.

A recognisable key is used for real runs against the engine and for failing
ones, with every logger at DEBUG, and looked for in every log record
(formatted, with tracebacks), every exception (str, repr, traceback, whole
chain), every return value and the CLI's output.
"""

from __future__ import annotations

import base64
import datetime as dt
import inspect
import ipaddress
import json
import logging
import os
import ssl
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from urllib.parse import quote

import config
import data_generator
import es
from config import ConfigError
from reliability import BACKFILL, ITEM_REJECTED, TOO_MANY_REQUESTS, UNAVAILABLE, es_error, fast, scheduled
from conftest import SETTING_NAMES
from shim import Fault, Hang, ItemErrors, Reply, Reset, bulk_ids, is_bulk

# Encoded keys as Kibana shows them are base64: '/', '+' and '=' are what URL parsers and
# redaction patterns trip over. Then the older id:key form, and a plain recognisable one.
KEY = "VnVhQ2ZH/Y0JDZGJr+UW0tZTVhT3g6dWkybHAyYXhUTm1zeWFrdzl0dk5udw=="
KEYS = (KEY, "VuaCfGcBCdbkQm-e5aOx:ui2lp2a/TNmsyak+9tvNnw", "SECRET-KEY-1234567890")
OTHER_KEY = "b3RoZXIta2V5/Zm9yLXRoZS1jbHVzdGVy+dGVzdA=="
PASSWORD = "SECRET-PASSWORD-0987654321"
BASIC = base64.b64encode(f"elastic:{PASSWORD}".encode()).decode()
SECRETS = (*KEYS, OTHER_KEY, PASSWORD, BASIC)
# A leak of part of a secret (e.g. what follows its '/', read as a URL path) is a leak too.
FRAGMENT = 12


class Everything(logging.Handler):
    """Keeps every record that reaches the root logger, formatted with its traceback."""

    def __init__(self):
        super().__init__(level=logging.NOTSET)
        self.lines: list = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record):
        self.lines.append(self.format(record))


LIBRARY_LOGGERS = ("elastic_transport", "elasticsearch", "urllib3", "requests", "botocore", "pp_merchantai")


@pytest.fixture
def logs(monkeypatch):
    """Root and every library logger at DEBUG, even after the handler sets its own levels."""
    handler = Everything()
    root = logging.getLogger()
    saved = root.level, {name: logging.getLogger(name).level for name in LIBRARY_LOGGERS}
    root.setLevel(logging.DEBUG)
    root.addHandler(handler)
    original = data_generator._set_log_level

    def everything_at_debug(cfg):
        original(cfg)
        for name in LIBRARY_LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG)

    monkeypatch.setattr(data_generator, "_set_log_level", everything_at_debug)
    monkeypatch.setenv(config.LOG_LEVEL, "DEBUG")
    yield handler
    root.removeHandler(handler)
    root.setLevel(saved[0])
    for name, level in saved[1].items():
        logging.getLogger(name).setLevel(level)


def fragments(secret: str) -> set:
    """Every FRAGMENT-character piece of the secret, as written and as URL-encoded."""
    forms = (secret, quote(secret, safe=""))
    return {form[i:i + FRAGMENT] for form in forms for i in range(len(form) - FRAGMENT + 1)}


FRAGMENTS = {fragment: secret for secret in SECRETS for fragment in fragments(secret)}


def assert_no_secret(*texts):
    text = "\n".join(texts)
    leaked = {secret for fragment, secret in FRAGMENTS.items() if fragment in text}
    assert not leaked, f"pieces of {sorted(leaked)} leaked"


def exception_texts(error: BaseException) -> list:
    """str, repr and traceback of the error and of everything chained to it."""
    texts = ["".join(traceback.format_exception(error))]
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        texts += [str(error), repr(error), repr(error.args)]
        error = error.__cause__ or error.__context__
    return texts


@pytest.fixture
def keyed(cluster, monkeypatch):
    fast(monkeypatch)
    monkeypatch.setenv(config.ELASTICSEARCH_HOST, cluster.url)
    monkeypatch.setenv(config.ELASTICSEARCH_API_KEY, KEY)
    return cluster


def authorizations(cluster) -> set:
    return {value for request in cluster.proxy.requests
            for name, value in request.headers.items() if name.lower() == "authorization"}


def sent_the_key(cluster, key=KEY) -> bool:
    """The key was really used: the proxy saw it in the Authorization header."""
    return f"ApiKey {key}" in authorizations(cluster)


# --- real runs ----------------------------------------------------------------------------


@pytest.mark.parametrize(("event", "key"), [(scheduled(), key) for key in KEYS] + [(BACKFILL, KEY)],
                         ids=[f"scheduled-hour-key{i}" for i in range(len(KEYS))] + ["backfill-24h"])
def test_successful_indexing_leaks_the_key_nowhere(keyed, logs, monkeypatch, event, key):
    monkeypatch.setenv(config.ELASTICSEARCH_API_KEY, key)
    summary = data_generator.lambda_handler(event, None)
    assert summary["status"] == "ok" and keyed.count() == summary["documents"]
    assert sent_the_key(keyed, key)
    assert any(line.startswith("elastic_transport") for line in logs.lines)  # transport DEBUG was captured
    assert any(line.startswith("urllib3") for line in logs.lines)
    assert_no_secret(json.dumps(summary), repr(summary), *logs.lines)


def test_basic_auth_password_leaks_nowhere(cluster, monkeypatch, logs):
    fast(monkeypatch)
    monkeypatch.setenv(config.ELASTICSEARCH_HOST, cluster.url)
    monkeypatch.setenv(config.ELASTICSEARCH_USERNAME, "elastic")
    monkeypatch.setenv(config.ELASTICSEARCH_PASSWORD, PASSWORD)
    summary = data_generator.lambda_handler(scheduled(), None)
    assert f"Basic {BASIC}" in authorizations(cluster)
    assert_no_secret(json.dumps(summary), *logs.lines)
    assert_no_secret(repr(config.load_config(os.environ)))


def test_config_repr_hides_the_key_under_either_name():
    for env in ({config.ELASTICSEARCH_API_KEY: KEY}, {config.ELASTICSEARCH_USERNAME: KEY},
                {config.ELASTICSEARCH_USERNAME: "elastic", config.ELASTICSEARCH_PASSWORD: PASSWORD}):
        cfg = config.load_config(env)
        assert_no_secret(repr(cfg), str(cfg))


FAILURES = {
    "401": (lambda: Fault(Reply(401, es_error(401, "security_exception", "unable to authenticate with provided "
                                                                        "credentials and anonymous access is not "
                                                                        "allowed for this request")), times=10**6),
            es.CredentialsError),
    "403": (lambda: Fault(Reply(403, es_error(403, "security_exception", "action [indices:data/write/bulk] is "
                                                                        "unauthorized for API key id [x]")),
                          times=10**6, when=is_bulk), es.CredentialsError),
    "503-always": (lambda: Fault(Reply(503, UNAVAILABLE), times=10**6, when=is_bulk), es.IndexingError),
    "429-always": (lambda: Fault(Reply(429, TOO_MANY_REQUESTS), times=10**6), es.IndexingError),
    "reset-always": (lambda: Fault(Reset(), times=10**6, when=is_bulk), es.IndexingError),
    "hung": (lambda: Fault(Hang(), times=10**6, when=is_bulk), es.IndexingError),
    "items-rejected": (lambda: Fault(lambda request: ItemErrors(
        {_id: (400, ITEM_REJECTED) for _id in bulk_ids(request)[::2]}), times=10**6, when=is_bulk), es.BulkError),
}


@pytest.mark.parametrize("failure", FAILURES)
def test_failing_indexing_leaks_the_key_nowhere(keyed, logs, failure):
    make, kind = FAILURES[failure]
    keyed.proxy.faults.append(make())
    with pytest.raises(kind) as raised:
        data_generator.lambda_handler(scheduled(), None)
    assert sent_the_key(keyed)
    assert_no_secret(*exception_texts(raised.value), *logs.lines)


def test_credentials_error_names_the_variable_and_is_not_retried(keyed):
    keyed.proxy.faults.append(FAILURES["401"][0]())
    with pytest.raises(es.CredentialsError, match=config.ELASTICSEARCH_API_KEY):
        data_generator.lambda_handler(scheduled(), None)
    assert len(keyed.proxy.requests) == 1  # no retry storm on bad credentials


@pytest.mark.parametrize("failure", [None, "401", "503-always"])
def test_cli_output_never_shows_the_key(keyed, logs, capsys, failure):
    if failure:
        keyed.proxy.faults.append(FAILURES[failure][0]())
    code = data_generator.main(["--start", "2026-11-01T05:00:00Z", "--end", "2026-11-01T07:00:00Z"])
    out, err = capsys.readouterr()
    assert code == (1 if failure else 0)
    assert sent_the_key(keyed)
    assert_no_secret(out, err, *logs.lines)


# --- a malformed key or a key in the wrong place -------------------------------------------


@pytest.mark.parametrize("key", [
    f"{KEY}\nextra",                     # a second line pasted along
    '{\n  "api_key": "' + KEY + '"\n}',  # a pretty-printed JSON secret
    f"{KEY}\u2019",                      # a typographic quote from a document
    f"ApiKey {KEY}",                     # the header value instead of the key
])
@pytest.mark.parametrize("name", [config.ELASTICSEARCH_API_KEY, config.ELASTICSEARCH_USERNAME])
def test_a_malformed_key_is_refused_without_showing_it_and_nothing_is_sent(keyed, logs, monkeypatch, name, key):
    monkeypatch.delenv(config.ELASTICSEARCH_API_KEY)
    monkeypatch.setenv(name, key)
    with pytest.raises(ConfigError) as raised:
        data_generator.lambda_handler(scheduled(), None)
    assert name in str(raised.value)
    assert_no_secret(*exception_texts(raised.value), *logs.lines)
    assert keyed.proxy.requests == []


def test_a_key_with_a_control_character_is_refused_without_showing_it():
    with pytest.raises(ConfigError) as raised:
        config.load_config({config.ELASTICSEARCH_API_KEY: KEY + "\x00\x7f"})
    assert config.ELASTICSEARCH_API_KEY in str(raised.value)
    assert_no_secret(*exception_texts(raised.value))


def test_a_malformed_key_from_secrets_manager_is_refused_without_showing_it(monkeypatch):
    class FakeSecrets:
        def get_secret_value(self, SecretId):
            return {"SecretString": '{\n  "api_key": "' + KEY + '"\n}'}

    import boto3

    monkeypatch.setattr(boto3, "client", lambda service, **kwargs: FakeSecrets())
    with pytest.raises(ConfigError) as raised:
        config.read_secret("arn:aws:secretsmanager:us-east-1:123456789012:secret:es-key-AbCdEf")
    assert config.ELASTICSEARCH_API_KEY_SECRET_ARN in str(raised.value)
    assert_no_secret(*exception_texts(raised.value))


# Credentials in the URL, wherever a '/' falls: in a base64 key, urlsplit ends the
# host at it and reads the rest, '@' and all, as a path.
URLS_WITH_CREDENTIALS = [
    "https://elastic:{key}@my-cluster.es.io:99999",
    "ftp://elastic:{key}@my-cluster.es.io",
    "https://elastic:{key}@my-cluster.es.io",
    "http://elastic:{key}@10.0.0.1:9200",
    "https://{key}@[::1",
    "https://{key}@my-cluster.es.io",
    "https://elastic:pa/ss-{key}@my-cluster.es.io",
    "my-cluster.es.io:{key}@x",
    "https://my-cluster.es.io/{key}@",
]


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("url", URLS_WITH_CREDENTIALS)
def test_credentials_in_the_host_url_are_refused_without_showing_them(url, key):
    with pytest.raises(ConfigError) as raised:
        config.load_config({config.ELASTICSEARCH_HOST: url.format(key=key)})
    assert str(raised.value).startswith(f"{config.ELASTICSEARCH_HOST} must not carry credentials")
    assert_no_secret(*exception_texts(raised.value))


@pytest.mark.parametrize("userinfo", ["{key}@", "elastic:{key}@", "x:pa/ss{key}@"])
def test_credentials_in_the_host_url_reach_no_log_and_no_request(keyed, logs, monkeypatch, userinfo):
    """Through the handler, every logger at DEBUG: refused before the client exists."""
    monkeypatch.setenv(config.ELASTICSEARCH_HOST, keyed.url.replace("//", "//" + userinfo.format(key=KEY), 1))
    with pytest.raises(ConfigError) as raised:
        data_generator.lambda_handler(scheduled(), None)
    assert keyed.proxy.requests == []
    assert_no_secret(*exception_texts(raised.value), *logs.lines)


def accepted_legitimately(name: str, value: str) -> bool:
    """Where a value holding a key may still be valid: as a URL's host or path (not as its
    credentials), in a scenario file's path or a secret's name. Everywhere else it is refused."""
    if name == config.ELASTICSEARCH_HOST:
        return "@" not in value
    if name == config.SCENARIO:
        return value.strip().endswith(".json")
    if name == config.ELASTICSEARCH_API_KEY_SECRET_ARN:
        return value.strip().startswith("arn:")
    return False


around = st.sampled_from(["", "https://", "https://elastic:", "http://127.0.0.1/", "x", " ", "'", ".json"]) | \
    st.text(max_size=12).filter(lambda s: "\x00" not in s)


@settings(max_examples=300, derandomize=True, deadline=None, database=None)
@given(st.sampled_from(SETTING_NAMES), st.sampled_from(KEYS), st.sampled_from([None, KEY, OTHER_KEY]), around, around)
@example(config.ELASTICSEARCH_HOST, KEY, None, "https://", "@my-cluster.es.io")  # issue 12's reproduction
@example(config.ELASTICSEARCH_HOST, KEY, None, "https://elastic:pa/ss-", "@my-cluster.es.io")
@example(config.MERCHANT_COUNT, KEY, None, "", "")
@example(config.LOG_LEVEL, KEY, OTHER_KEY, "", "")
@example(config.ELASTICSEARCH_INDEX, KEYS[2], None, "", "")
def test_a_key_pasted_into_another_setting_is_never_echoed(name, key, api_key, before, after):
    """Whether ELASTICSEARCH_API_KEY holds that key, another one or nothing."""
    value = before + key + after
    environ = {name: value} if api_key is None else {config.ELASTICSEARCH_API_KEY: api_key, name: value}
    try:
        cfg = config.load_config(environ)
    except ConfigError as error:
        assert name in str(error)
        assert_no_secret(*exception_texts(error))
        return
    assert accepted_legitimately(name, value), f"{name} accepted a value holding a key: {value!r}"
    assert cfg.host is None or "@" not in cfg.host


# --- a key pasted into a path (issue 19) ---------------------------------------------------

START, END = "2026-11-01T00:00:00Z", "2026-11-01T02:00:00Z"


def generator_cli(argv, environ):
    import io
    import contextlib

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = data_generator.main(argv, environ=environ)
    return code, "", err.getvalue()


def evaluate_cli(argv, environ):
    import io

    from grader import cli as evaluate

    out, err = io.StringIO(), io.StringIO()
    return evaluate.main(argv, environ=environ, out=out, err=err), out.getvalue(), err.getvalue()


def key_path(tmp_path, key, content=None, suffix=""):
    """tmp_path/<key><suffix>: the key's '/' make directories; with content, the file exists."""
    path = tmp_path / "paths" / (key + suffix)
    if content is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return str(path)


def data(tmp_path):
    """The generator's NDJSON of the range (20 merchants)."""
    path = tmp_path / "data.ndjson"
    assert data_generator.main(["--start", START, "--end", END, "--output", str(path)], environ={}) == 0
    return str(path)


def under_a_file(tmp_path, key):
    """A path that cannot be written: its directory would be a file."""
    (tmp_path / "a-file").write_text("")
    return str(tmp_path / "a-file" / key)


NOT_BULK = '{"merchant_id": "merchant_001"}\n'
UNUSABLE = '{"merchant_id": "merchant_001", "issue": "slow", "timestamp": "2026-11-01T01:00:00Z"}\n'
SCENARIO_MISTAKE = '{"base": "steady", "incidents": [{"kind": "nope"}]}'

# name -> (command line, argv(tmp_path, key), environment(tmp_path, key), what the one error line says)
PATH_FLAGS = {
    "generator --output": (generator_cli, lambda t, k: ["--start", START, "--end", END, "--output", under_a_file(t, k)],
                           lambda t, k: {}, "error: cannot write --output a "),
    "generator --scenario": (generator_cli, lambda t, k: ["--dry-run", "--scenario", key_path(t, k, suffix=".json")],
                             lambda t, k: {}, "error: SCENARIO: no scenario file a "),
    "generator SCENARIO": (generator_cli, lambda t, k: ["--dry-run"],
                           lambda t, k: {config.SCENARIO: k + ".json"}, "error: SCENARIO: no scenario file a "),
    "generator scenario file content": (
        generator_cli, lambda t, k: ["--dry-run", "--scenario", key_path(t, k, SCENARIO_MISTAKE, ".json")],
        lambda t, k: {}, "error: scenario file a "),
    "evaluate --findings": (evaluate_cli, lambda t, k: ["score", "--start", START, "--end", END,
                                                        "--findings", key_path(t, k)],
                            lambda t, k: {}, "error: cannot read --findings a "),
    "evaluate --findings unusable": (evaluate_cli, lambda t, k: ["score", "--start", START, "--end", END,
                                                                 "--findings", key_path(t, k, UNUSABLE)],
                                     lambda t, k: {}, "error: --findings a "),
    "evaluate --input": (evaluate_cli, lambda t, k: ["baseline", "--start", START, "--end", END,
                                                     "--input", key_path(t, k)],
                         lambda t, k: {}, "error: cannot read --input a "),
    "evaluate --input not bulk": (evaluate_cli, lambda t, k: ["report", "--start", START, "--end", END,
                                                              "--input", key_path(t, k, NOT_BULK)],
                                  lambda t, k: {}, "error: --input a "),
    "evaluate baseline --output": (evaluate_cli, lambda t, k: ["baseline", "--start", START, "--end", END,
                                                               "--input", data(t),
                                                               "--output", under_a_file(t, k)],
                                   lambda t, k: {}, "error: cannot write --output a "),
    "evaluate report --output": (evaluate_cli, lambda t, k: ["report", "--start", START, "--end", END,
                                                             "--input", data(t),
                                                             "--output", under_a_file(t, k)],
                                 lambda t, k: {}, "error: cannot write --output a "),
    "evaluate --scenario": (evaluate_cli, lambda t, k: ["score", "--start", START, "--end", END, "--findings", "f",
                                                        "--scenario", k + ".json"],
                            lambda t, k: {}, "error: SCENARIO: no scenario file a "),
}


@pytest.mark.parametrize("key", KEYS)
@pytest.mark.parametrize("flag", PATH_FLAGS)
def test_a_key_pasted_into_a_path_is_never_echoed(tmp_path, monkeypatch, logs, flag, key):
    monkeypatch.chdir(tmp_path)
    run, argv, environ, says = PATH_FLAGS[flag]
    code, out, err = run(argv(tmp_path, key), environ(tmp_path, key))
    assert code == 2 and out == ""
    assert_no_secret(out, err, *logs.lines)
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[-1].startswith(says) and "-character value" in lines[-1]
    # One line, or the unusable findings (or --input lines) named one per line before it.
    assert len(lines) == 1 or all(line.startswith(("line ", "--input line ")) for line in lines[:-1])


# --- TLS ----------------------------------------------------------------------------------

# Environment variables that might be hoped to turn verification off; none may.
INSECURE_ENV = {
    "CURL_CA_BUNDLE": "",
    "REQUESTS_CA_BUNDLE": "",
    "PYTHONHTTPSVERIFY": "0",
    "ELASTICSEARCH_VERIFY_CERTS": "false",
    "ELASTICSEARCH_SSL_VERIFY": "false",
    "ELASTICSEARCH_INSECURE": "true",
    "VERIFY_CERTS": "false",
    "SSL_VERIFY": "false",
    "NODE_TLS_REJECT_UNAUTHORIZED": "0",
}


def test_the_client_verifies_certificates_and_host_names(monkeypatch):
    for name, value in INSECURE_ENV.items():
        monkeypatch.setenv(name, value)
    cfg = config.load_config({config.ELASTICSEARCH_HOST: "https://my-cluster.es.io:443",
                              config.ELASTICSEARCH_API_KEY: KEY})
    client = es.connect(cfg.host, **config.auth(cfg))
    (node,) = client.transport.node_pool.all()
    assert node.config.verify_certs is True
    assert node.config.ssl_assert_fingerprint is None
    assert node.session.verify is True
    context = node.session.adapters["https://"].poolmanager.connection_pool_kw["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname is True
    # What requests merges in from the environment for each request does not turn it off either.
    merged = node.session.merge_environment_settings(node.base_url, {}, None, None, None)
    assert merged["verify"] not in (False, "", None)


def test_no_parameter_or_flag_can_disable_verification():
    assert set(inspect.signature(es.connect).parameters) == {"host", "api_key", "basic_auth", "max_answer_bytes"}
    options = [option for action in data_generator._parser()._actions for option in action.option_strings]
    assert not [option for option in options if any(word in option for word in ("verify", "insecure", "tls",
                                                                                 "ssl", "cert", "ca-"))]


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory):
    """A certificate for 127.0.0.1 signed by nobody the client trusts."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


@pytest.fixture
def https_server(self_signed):
    """An HTTPS server with the self-signed certificate; records the requests that got through TLS."""
    seen = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _any(self):
            seen.append((self.command, self.path, dict(self.headers)))
            body = b"{}"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("X-Elastic-Product", "Elasticsearch")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_PUT = do_POST = do_HEAD = _any

    class Server(ThreadingHTTPServer):
        daemon_threads = True

        def handle_error(self, request, client_address):
            pass  # failed handshakes are the point

    server = Server(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*map(str, self_signed))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("insecure_env", [False, True], ids=["plain-env", "insecure-looking-env"])
def test_an_untrusted_certificate_fails_the_invocation_before_any_request(https_server, monkeypatch, logs,
                                                                          insecure_env):
    url, seen = https_server
    fast(monkeypatch)
    monkeypatch.setenv(config.ELASTICSEARCH_HOST, url)
    monkeypatch.setenv(config.ELASTICSEARCH_API_KEY, KEY)
    if insecure_env:
        for name, value in INSECURE_ENV.items():
            monkeypatch.setenv(name, value)
    with pytest.raises(es.IndexingError) as raised:
        data_generator.lambda_handler(scheduled(), None)
    assert "TlsError" in str(raised.value) or "CERTIFICATE_VERIFY_FAILED" in str(raised.value)
    assert seen == []  # nothing, and so no key, crossed the untrusted connection
    assert_no_secret(*exception_texts(raised.value), *logs.lines)


def test_the_same_server_is_reachable_once_its_certificate_is_trusted(https_server, self_signed, monkeypatch):
    """Control for the test above: the failure is certificate verification, nothing else."""
    url, seen = https_server
    fast(monkeypatch)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(self_signed[0]))
    client = es.connect(url, api_key=KEY)
    client.indices.put_index_template(name="t", index_patterns=["t"])
    assert seen and seen[0][0] == "PUT"
