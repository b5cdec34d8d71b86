"""The handler's Secrets Manager path (ELASTICSEARCH_API_KEY_SECRET_ARN), with moto in process.

The key is read from the secret once per container, sent to the cluster, and
never shows in logs, printed output, return values or errors.
"""

from __future__ import annotations

import json
import logging

import boto3
import pytest
from moto import mock_aws

import config
import data_generator
import es
from shim import Reply

SECRET_VALUE = "c2VjcmV0LWlkOnNlY3JldC1rZXktZnJvbS1zZWNyZXRzLW1hbmFnZXI="


@pytest.fixture
def aws(monkeypatch, tmp_path):
    """In-process moto with dummy credentials; nothing reads ~/.aws or leaves the process."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    with mock_aws():
        yield


@pytest.fixture
def secret_arn(aws):
    return boto3.client("secretsmanager").create_secret(
        Name="pp-merchantai/elasticsearch-api-key", SecretString=SECRET_VALUE)["ARN"]


@pytest.fixture
def secret_reads(monkeypatch):
    """Every GetSecretValue call made through boto3.client (as config.read_secret does)."""
    calls = []
    real_client = boto3.client

    def client(*args, **kwargs):
        made = real_client(*args, **kwargs)
        original = made.get_secret_value

        def get_secret_value(**params):
            calls.append(params["SecretId"])
            return original(**params)

        made.get_secret_value = get_secret_value
        return made

    monkeypatch.setattr(boto3, "client", client)
    return calls


@pytest.fixture
def secret_env(monkeypatch, cluster, secret_arn):
    monkeypatch.setenv(config.ELASTICSEARCH_HOST, cluster.url)
    monkeypatch.setenv(config.ELASTICSEARCH_API_KEY_SECRET_ARN, secret_arn)
    monkeypatch.setenv(config.LOG_LEVEL, "DEBUG")  # the most the code ever logs


def authorizations(cluster) -> set[str]:
    return {next((value for name, value in request.headers.items() if name.lower() == "authorization"), None)
            for request in cluster.proxy.requests}


def test_read_secret_returns_the_string_value(secret_arn, secret_reads):
    assert config.read_secret(secret_arn) == SECRET_VALUE
    assert config.read_secret(secret_arn) == SECRET_VALUE
    assert secret_reads == [secret_arn]


def test_handler_indexes_with_the_key_from_the_secret(secret_env, secret_arn, secret_reads, cluster):
    summary = data_generator.lambda_handler({}, None)
    assert summary["status"] == "ok" and summary["indexed"] == 20
    assert cluster.count() == 20
    # Every request to the cluster carried the secret's key.
    assert authorizations(cluster) == {f"ApiKey {SECRET_VALUE}"}
    assert secret_reads == [secret_arn]


def test_secret_is_read_once_per_container(secret_env, secret_arn, secret_reads, cluster):
    for _ in range(3):
        data_generator.lambda_handler({}, None)
    assert secret_reads == [secret_arn]
    # Even when the client is rebuilt (after a failed first request), the
    # container's copy of the key is reused.
    data_generator._client.cache_clear()
    data_generator.lambda_handler({}, None)
    assert secret_reads == [secret_arn]
    # A new container reads it again.
    config.read_secret.cache_clear()
    data_generator._client.cache_clear()
    data_generator.lambda_handler({}, None)
    assert secret_reads == [secret_arn, secret_arn]


def test_secret_never_appears_in_logs_output_or_result(secret_env, cluster, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    summary = data_generator.lambda_handler({}, None)
    dry = data_generator.lambda_handler({"dry_run": True}, None)
    captured = capsys.readouterr()
    assert caplog.records, "nothing was logged: the check below would prove nothing"
    texts = {"logs": caplog.text, "stdout": captured.out, "stderr": captured.err,
             "result": json.dumps(summary), "dry-run result": json.dumps(dry)}
    leaked = [where for where, text in texts.items() if SECRET_VALUE in text]
    assert not leaked, f"the secret's value appears in: {leaked}"


def test_secret_never_appears_when_the_cluster_rejects_it(secret_env, cluster, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    cluster.proxy.faults.append(lambda request: Reply(401, {"error": {"type": "security_exception",
                                                                       "reason": "unable to authenticate"}}))
    with pytest.raises(es.IndexingError) as raised:
        data_generator.lambda_handler({}, None)
    captured = capsys.readouterr()
    assert authorizations(cluster) == {f"ApiKey {SECRET_VALUE}"}
    texts = {"logs": caplog.text, "stdout": captured.out, "stderr": captured.err,
             "error": str(raised.value), "error repr": repr(raised.value)}
    leaked = [where for where, text in texts.items() if SECRET_VALUE in text]
    assert not leaked, f"the secret's value appears in: {leaked}"


def test_empty_secret_is_a_clear_config_error(aws, monkeypatch, cluster, caplog):
    arn = boto3.client("secretsmanager").create_secret(Name="empty", SecretString=" ")["ARN"]
    monkeypatch.setenv(config.ELASTICSEARCH_HOST, cluster.url)
    monkeypatch.setenv(config.ELASTICSEARCH_API_KEY_SECRET_ARN, arn)
    with pytest.raises(config.ConfigError, match=config.ELASTICSEARCH_API_KEY_SECRET_ARN):
        data_generator.lambda_handler({}, None)
    assert cluster.proxy.requests == []


# --- failures reading the secret: one clear line, exit 1 (CLI) or a failed invocation (Lambda) ---


def denying_credentials(monkeypatch) -> None:
    """Switch boto3 to an IAM user that may not read secrets, with moto enforcing IAM."""
    iam = boto3.client("iam")
    iam.create_user(UserName="no-secrets")
    policy = iam.create_policy(PolicyName="nothing", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets", "Resource": "*"}]}))
    iam.attach_user_policy(UserName="no-secrets", PolicyArn=policy["Policy"]["Arn"])
    key = iam.create_access_key(UserName="no-secrets")["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)  # it cached the first credentials
    from moto.core.config import default_user_config

    monkeypatch.setitem(default_user_config["iam"], "load_aws_managed_policies", False)
    from moto import settings

    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)


UNREADABLE = {
    # a secret that was never created (or was deleted)
    "not-found": (lambda arn, monkeypatch: arn.replace("elasticsearch-api-key", "no-such-secret"),
                  "ResourceNotFoundException"),
    # the right name with another region in the ARN: that region has no such secret
    "wrong-region": (lambda arn, monkeypatch: arn.replace(":us-east-1:", ":eu-west-1:"),
                     "ResourceNotFoundException"),
    # the function's role (here: an IAM user) may not read it; moto answers this one in XML, so
    # botocore reports the code as 403 and the XML as the message: still one line
    "access-denied": (lambda arn, monkeypatch: denying_credentials(monkeypatch) or arn, "AccessDenied"),
}


@pytest.mark.parametrize("case", UNREADABLE)
def test_cli_an_unreadable_secret_is_one_clear_line_and_exit_1(case, secret_arn, cluster, monkeypatch, capsys):
    make, code = UNREADABLE[case]
    monkeypatch.setenv(config.ELASTICSEARCH_HOST, cluster.url)
    monkeypatch.setenv(config.ELASTICSEARCH_API_KEY_SECRET_ARN, make(secret_arn, monkeypatch))

    assert data_generator.main(["--merchants", "1"]) == 1

    err = capsys.readouterr().err
    (line,) = err.splitlines()
    assert line.startswith(f"error: cannot read the secret named by {config.ELASTICSEARCH_API_KEY_SECRET_ARN}: ")
    assert code in line
    assert "Traceback" not in err and "botocore" not in err
    assert cluster.proxy.requests == []


@pytest.mark.parametrize("case", UNREADABLE)
def test_lambda_an_unreadable_secret_fails_the_invocation_with_the_same_line(case, secret_arn, cluster, monkeypatch,
                                                                              caplog):
    make, code = UNREADABLE[case]
    monkeypatch.setenv(config.ELASTICSEARCH_HOST, cluster.url)
    monkeypatch.setenv(config.ELASTICSEARCH_API_KEY_SECRET_ARN, make(secret_arn, monkeypatch))

    with pytest.raises(config.SecretError) as failure:
        data_generator.lambda_handler({}, None)

    message = str(failure.value)
    assert message.startswith(f"cannot read the secret named by {config.ELASTICSEARCH_API_KEY_SECRET_ARN}: ")
    assert code in message
    assert "\n" not in message
    assert failure.value.__cause__ is None and failure.value.__suppress_context__
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [f"SecretError: {message}"]
    assert cluster.proxy.requests == []


def test_the_secret_is_read_in_the_region_its_arn_names(secret_env, secret_arn, monkeypatch, cluster):
    """A function (or shell) configured for another region still reads the secret where it lives."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    summary = data_generator.lambda_handler({}, None)
    assert summary["indexed"] == 20
    assert authorizations(cluster) == {f"ApiKey {SECRET_VALUE}"}


@pytest.mark.parametrize("case", UNREADABLE)
def test_evaluate_an_unreadable_secret_is_one_clear_line_and_exit_1(case, secret_arn, cluster, monkeypatch):
    import io

    from grader import cli as evaluate

    make, code = UNREADABLE[case]
    environ = {config.ELASTICSEARCH_HOST: cluster.url,
               config.ELASTICSEARCH_API_KEY_SECRET_ARN: make(secret_arn, monkeypatch)}
    out, err = io.StringIO(), io.StringIO()

    assert evaluate.main(["baseline", "--start", "2026-11-20T00:00:00Z", "--end", "2026-11-21T00:00:00Z"],
                         environ=environ, out=out, err=err) == 1

    (line,) = err.getvalue().splitlines()
    assert line.startswith(f"error: cannot read the secret named by {config.ELASTICSEARCH_API_KEY_SECRET_ARN}: ")
    assert code in line and out.getvalue() == ""
    assert cluster.proxy.requests == []
