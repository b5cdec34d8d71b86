"""deploy.sh end to end: the zip it builds, and a real deployment against moto_server.

The script runs unchanged with the AWS CLI from .venv against moto_server on a
loopback port (AWS_ENDPOINT_URL), with dummy credentials and no ~/.aws. moto
neither creates EventInvokeConfig or alarms in stacks nor runs function code, so
those are covered by tests/test_template.py and the package tests here. Each
scenario starts from a reset moto.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import boto3
import pytest

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent  # .venv/bin: aws, moto_server, python3
REGION = "us-east-1"
API_KEY = "ZHVtbXktaWQ6ZHVtbXkta2V5LW5ldmVyLXByaW50ZWQ="
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pp-merchantai/es-key-AbC123"
SEED_SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pp-merchantai/seed-XyZ789"
HOST = "https://my-deployment.es.us-east-1.aws.elastic.cloud:443"
FUNCTION = "pp-merchantai-data-generator"
RULE = f"{FUNCTION}-hourly"
QUEUE = f"{FUNCTION}-failed"
STACK = "pp-merchantai-data-generator"
SCRIPT_TIMEOUT_S = 300
SCENARIO_FILE = "example-checkout-regression.json"


def find_python313() -> str | None:
    """The Lambda runtime's Python: LAMBDA_PYTHON, a working python3.13 on PATH, or pyenv's 3.13."""
    candidates = [os.environ.get("LAMBDA_PYTHON"), shutil.which("python3.13")]
    pyenv = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates += sorted(glob.glob(os.path.join(pyenv, "versions", "3.13*", "bin", "python3.13")), reverse=True)
    check = "import sys; sys.exit(sys.version_info[:2] != (3, 13))"
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-I", "-c", check], capture_output=True).returncode == 0:
            return candidate
    return None


PYTHON313 = find_python313()
needs_python313 = pytest.mark.skipif(PYTHON313 is None, reason="no python3.13 (the Lambda runtime's version) here")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory):
    """One moto_server process on a free loopback port, stopped at session end."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    process = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                               stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            if process.poll() is not None:
                raise RuntimeError(f"moto_server exited with {process.returncode}")
            try:
                urllib.request.urlopen(url + "/moto-api/", timeout=1).close()
                break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.1)
        else:
            raise RuntimeError("moto_server did not start")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def moto(moto_server):
    """A reset moto: every scenario starts with an empty account."""
    urllib.request.urlopen(urllib.request.Request(moto_server + "/moto-api/reset", method="POST"),
                           timeout=10).close()
    return moto_server


@pytest.fixture(scope="session")
def project(tmp_path_factory):
    """A copy of the files deploy.sh uses, so its build outputs stay out of the work tree."""
    copy = tmp_path_factory.mktemp("project")
    for name in ("deploy.sh", "cloudformation.yml", "requirements.txt"):
        shutil.copy2(ROOT / name, copy / name)
    shutil.copytree(ROOT / "lambda", copy / "lambda", ignore=shutil.ignore_patterns("__pycache__"))
    return copy


@pytest.fixture(scope="session")
def aws_home(tmp_path_factory):
    return tmp_path_factory.mktemp("aws-home")


def base_env(aws_home: Path, endpoint: str) -> dict:
    """The process environment minus anything AWS or Elasticsearch, plus dummy AWS settings."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("AWS_", "ELASTICSEARCH_"))
           and name not in ("MERCHANT_COUNT", "GENERATOR_SEED", "LOG_LEVEL", "STACK_NAME", "FUNCTION_NAME",
                            "LAMBDA_ARCHITECTURE", "RESERVED_CONCURRENCY", "ALARM_TOPIC_ARN", "SCENARIO",
                            "GROUND_TRUTH", "ANSWER_KEY_INDEX", "REMEDIATION", "REMEDIATION_INDEX",
                            "EVENTS_INDEX", "FINDINGS_INDEX")}
    env.update({
        "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_CONFIG_FILE": str(aws_home / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(aws_home / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    })
    return env


def run(project: Path, env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(project / "deploy.sh"), *args], cwd=project, env=env, capture_output=True,
                          text=True, timeout=SCRIPT_TIMEOUT_S, stdin=subprocess.DEVNULL)


def output_of(result: subprocess.CompletedProcess) -> str:
    return result.stdout + result.stderr


@pytest.fixture
def env(moto, aws_home):
    return base_env(aws_home, moto) | {"ELASTICSEARCH_HOST": HOST, "ELASTICSEARCH_API_KEY": API_KEY}


def client(endpoint: str, service: str):
    return boto3.client(service, region_name=REGION, endpoint_url=endpoint,
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def b64_sha256(path: Path) -> str:
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode()


def make_recorder(directory: Path) -> tuple[Path, Path]:
    """A bin directory with an `aws` that logs its arguments and then runs the real one."""
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    calls = directory / "aws-calls.log"
    wrapper = bin_dir / "aws"
    wrapper.write_text(f'#!/usr/bin/env bash\nprintf "%s\\n" "$*" >> "{calls}"\nexec "{BIN / "aws"}" "$@"\n')
    wrapper.chmod(0o755)
    return bin_dir, calls


def env_with_fake_aws(directory: Path, aws_home, script: str) -> dict:
    """The test environment with a fake `aws` (running script) first on PATH."""
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "aws"
    fake.write_text("#!/usr/bin/env bash\n" + script)
    fake.chmod(0o755)
    env = base_env(aws_home, "http://127.0.0.1:9")
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env


@pytest.fixture
def recorded_aws(tmp_path):
    return make_recorder(tmp_path)


def aws_calls(calls: Path) -> list[str]:
    return calls.read_text().splitlines() if calls.exists() else []


# --- the package ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def package(project, aws_home, tmp_path_factory):
    """./deploy.sh --package-only, once per session (pip downloads the Lambda platform's wheels),
    compiled with python3.13 where there is one."""
    bin_dir, calls = make_recorder(tmp_path_factory.mktemp("package-aws"))
    env = base_env(aws_home, "http://127.0.0.1:9")  # the discard port: any AWS call would fail
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    env.pop("LAMBDA_PYTHON", None)
    if PYTHON313:
        env["LAMBDA_PYTHON"] = PYTHON313
    result = run(project, env, "--package-only")
    assert result.returncode == 0, output_of(result)
    return project / "lambda-deployment.zip", result, aws_calls(calls)


@pytest.fixture(scope="session")
def unzipped(package, tmp_path_factory):
    target = tmp_path_factory.mktemp("unzipped")
    with zipfile.ZipFile(package[0]) as archive:
        archive.extractall(target)
    return target


# Run in `python -S -I`: no site-packages, no PYTHON* variables, no script
# directory; sys.path is the unzipped package plus the standard library only.
ISOLATED = """
import json, sys
sys.path.insert(0, sys.argv[1])
import data_generator
event = json.loads(sys.argv[2])
summary = data_generator.lambda_handler(event, None)
import elasticsearch, elastic_transport, requests, urllib3, certifi, dateutil
outside = sorted(name for name, module in sys.modules.items()
                 if getattr(module, "__file__", None) and "site-packages" in module.__file__)
print(json.dumps({"summary": summary, "outside": outside,
                  "elasticsearch": elasticsearch.__file__, "dateutil": dateutil.__file__}))
"""


def run_isolated(unzipped: Path, event: dict, extra_env: dict | None = None) -> dict:
    env = {"PATH": os.environ.get("PATH", ""), **(extra_env or {})}
    result = subprocess.run([sys.executable, "-S", "-I", "-c", ISOLATED, str(unzipped), json.dumps(event)],
                            env=env, capture_output=True, text=True, timeout=120, cwd=unzipped)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_package_only_makes_no_aws_call(package):
    _, result, calls = package
    assert "Built lambda-deployment.zip" in result.stdout
    assert calls == []


def test_package_without_python313_ships_source_and_says_so_once(project, aws_home, tmp_path):
    copy = tmp_path / "project"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns("deployment", "lambda-deployment.zip"))
    # A python3.13 on PATH that does not run (as pyenv's shim when 3.13 is not selected).
    env = env_with_fake_python313(tmp_path)
    result = run(copy, env, "--package-only")
    assert result.returncode == 0, output_of(result)
    assert result.stdout.count("shipping source only") == 1
    with zipfile.ZipFile(copy / "lambda-deployment.zip") as archive:
        assert not [n for n in archive.namelist() if n.endswith(".pyc") or "__pycache__" in n]


def test_a_lambda_python_of_another_version_is_refused_before_building(project, aws_home, tmp_path):
    env = base_env(aws_home, "http://127.0.0.1:9") | {"LAMBDA_PYTHON": sys.executable}  # 3.11 here
    if sys.version_info[:2] == (3, 13):
        env["LAMBDA_PYTHON"] = str(tmp_path / "missing-python")
    result = run(project, env, "--package-only")
    assert result.returncode == 2
    assert "LAMBDA_PYTHON=" in result.stderr and "is not a working python3.13" in result.stderr
    assert "Vendoring" not in result.stdout


def env_with_fake_python313(tmp_path) -> dict:
    bin_dir = tmp_path / "fake-bin"
    bin_dir.mkdir()
    fake = bin_dir / "python3.13"
    fake.write_text("#!/bin/sh\necho 'pyenv: python3.13: command not found' >&2\nexit 127\n")
    fake.chmod(0o755)
    env = base_env(tmp_path, "http://127.0.0.1:9")
    env.pop("LAMBDA_PYTHON", None)
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env


# Imports the handler module and the client as Lambda does (an isolated interpreter, the
# package first on sys.path) and reports every source file read and every compilation
# under the package, and each imported module's bytecode file.
READ_ONLY_IMPORT = """
import json, sys
root = sys.argv[1]
events = []
def audit(event, args):
    if event == "open" and isinstance(args[0], str) and args[0].startswith(root) and args[0].endswith(".py"):
        events.append(("read", args[0]))
    elif event == "compile" and isinstance(args[1], str) and args[1].startswith(root):
        events.append(("compile", args[1]))
sys.addaudithook(audit)
sys.path.insert(0, root)
import data_generator, es, elasticsearch
data_generator.lambda_handler({"dry_run": True}, None)
es.connect("http://127.0.0.1:9")
mine = {name: module for name, module in sys.modules.items() if (getattr(module, "__file__", None) or "").startswith(root)}
print(json.dumps({"events": events, "modules": len(mine),
                  "cached": sorted(name for name, m in mine.items() if m.__cached__ and __import__("os").path.exists(m.__cached__)),
                  "all": sorted(mine)}))
"""


def snapshot(root: Path) -> dict:
    return {str(path): (path.stat().st_size, path.stat().st_mtime_ns) for path in sorted(root.rglob("*"))}


@needs_python313
def test_package_imports_from_a_read_only_directory_without_compiling(package, tmp_path):
    zip_path, result, _ = package
    assert "Compiling to bytecode" in result.stdout
    task = tmp_path / "task"  # as Lambda's /var/task: read-only
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(task)
    paths = [task, *task.rglob("*")]
    for path in paths:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    before = snapshot(task)
    try:
        answer = subprocess.run([PYTHON313, "-I", "-c", READ_ONLY_IMPORT, str(task)], env={"PATH": os.environ["PATH"]},
                                capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert answer.returncode == 0, answer.stderr
        report = json.loads(answer.stdout.splitlines()[-1])
        assert snapshot(task) == before, "the import wrote into the package"
    finally:
        for path in paths:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
    assert report["events"] == [], "sources read or compiled at import"
    assert report["modules"] > 100  # the handler, the client, the transport, requests, urllib3, dateutil...
    assert report["cached"] == report["all"], "modules imported without bytecode"


def test_package_is_self_contained(unzipped):
    answer = run_isolated(unzipped, {"dry_run": True})
    summary = answer["summary"]
    assert summary["status"] == "ok" and summary["dry_run"] is True and summary["documents"] == 20
    assert answer["outside"] == [], "modules loaded from outside the package"
    assert answer["elasticsearch"].startswith(str(unzipped))
    assert answer["dateutil"].startswith(str(unzipped))


def test_package_indexes_into_a_real_engine(unzipped, cluster):
    answer = run_isolated(unzipped, {}, {"ELASTICSEARCH_HOST": cluster.url})
    assert answer["summary"]["indexed"] == 20
    assert cluster.count() == 20


def test_package_layout(package):
    zip_path = package[0]
    with zipfile.ZipFile(zip_path) as archive:
        names = archive.namelist()
    ours = {p.name for p in (ROOT / "lambda").glob("*.py")}
    shipped = {n for n in names if "/" not in n and n in ours}
    assert shipped == handler_modules(), "the zip ships exactly the project modules the handler imports"
    assert not [n for n in names if n.startswith("grader/") or n == "evaluate.py"]
    assert "index.py" not in names
    pycs = [n for n in names if n.endswith(".pyc")]
    if PYTHON313:
        # Bytecode for the runtime's Python only, next to each source, except the unused DSL's.
        assert {n.split(".")[-2] for n in pycs} == {"cpython-313"}
        sources = [n for n in names if n.endswith(".py") and not n.startswith("elasticsearch/dsl/")]
        cached = {n.replace("__pycache__/", "").replace(".cpython-313.pyc", ".py") for n in pycs}
        assert set(sources) == cached
    else:
        assert not pycs and not [n for n in names if "__pycache__" in n]
    # boto3 comes with the Lambda runtime; the zip must not carry (or shadow) it.
    assert not [n for n in names if n.startswith(("boto3/", "botocore/", "s3transfer/"))]
    assert not [n for n in names if n.startswith("bin/")]
    assert zip_path.stat().st_size < 5 * 1024 * 1024


def handler_modules() -> set:
    """The project's modules data_generator imports, directly or not (lazy imports too)."""
    import ast

    found, todo = set(), ["data_generator"]
    while todo:
        name = todo.pop()
        path = ROOT / "lambda" / f"{name}.py"
        if name in found or not path.exists():
            continue
        found.add(name)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                todo += [alias.name.split(".")[0] for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                todo.append(node.module.split(".")[0])
    return {f"{name}.py" for name in found}


def test_the_handler_runs_from_the_zip_without_the_grader(unzipped):
    assert not (unzipped / "grader").exists() and not (unzipped / "evaluate.py").exists()
    answer = run_isolated(unzipped, {"dry_run": True})
    assert answer["summary"]["documents"] == 20


def test_package_ships_the_scenario_files(package):
    # Beside the modules, as lambda/scenarios/ is beside them in the tree.
    files = sorted((ROOT / "lambda" / "scenarios").glob("*.json"))
    assert files, "lambda/scenarios/ holds no scenario file"
    with zipfile.ZipFile(package[0]) as archive:
        shipped = {n: archive.read(n) for n in archive.namelist() if n.startswith("scenarios/") and not n.endswith("/")}
    assert shipped == {f"scenarios/{path.name}": path.read_bytes() for path in files}


def test_package_is_built_for_the_lambda_platform(package):
    zip_path = package[0]
    with zipfile.ZipFile(zip_path) as archive:
        compiled = [n for n in archive.namelist() if n.endswith(".so")]
    # Pure Python apart from charset-normalizer's optional accelerators, which
    # must be the arm64, CPython 3.13 builds (the function's platform).
    assert all("cpython-313-aarch64-linux-gnu" in name for name in compiled), compiled


# --- bad input: clear error, no AWS call ------------------------------------------------


@pytest.fixture
def offline_env(aws_home, recorded_aws):
    """An environment in which any AWS call would be recorded (and fail: nothing listens)."""
    bin_dir, calls = recorded_aws
    env = base_env(aws_home, "http://127.0.0.1:9")
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    return env, calls


@pytest.mark.parametrize("variables, message", [
    ({"ELASTICSEARCH_API_KEY": API_KEY}, "ELASTICSEARCH_HOST is not set"),
    ({"ELASTICSEARCH_HOST": HOST}, "no API key"),
    ({"ELASTICSEARCH_HOST": HOST, "ELASTICSEARCH_API_KEY": API_KEY, "ELASTICSEARCH_API_KEY_SECRET_ARN": SECRET_ARN},
     "not both"),
    ({"ELASTICSEARCH_HOST": "http://my-deployment.example.com", "ELASTICSEARCH_API_KEY": API_KEY}, "https://"),
    ({"ELASTICSEARCH_HOST": HOST, "ELASTICSEARCH_API_KEY_SECRET_ARN": "arn:aws:s3:::bucket"}, "full ARN"),
    ({"ELASTICSEARCH_HOST": HOST, "ELASTICSEARCH_API_KEY": API_KEY, "ELASTICSEARCH_INDEX": "Bad Index"},
     "ELASTICSEARCH_INDEX"),
    ({"ELASTICSEARCH_HOST": HOST, "ELASTICSEARCH_API_KEY": API_KEY, "MERCHANT_COUNT": "0"}, "MERCHANT_COUNT"),
    ({"ELASTICSEARCH_HOST": HOST, "ELASTICSEARCH_API_KEY": API_KEY, "GENERATOR_SEED": "1729x"},
     "GENERATOR_SEED must be an integer from -2**128 to 2**128 (the value is not shown)"),
    ({"ELASTICSEARCH_HOST": HOST, "ELASTICSEARCH_API_KEY": API_KEY, "GENERATOR_SEED": str(2**128 + 1)},
     "GENERATOR_SEED must be an integer from -2**128 to 2**128 (the value is not shown)"),
    ({"ELASTICSEARCH_HOST": HOST, "ELASTICSEARCH_API_KEY": API_KEY, "GENERATOR_SEED": "80818283",
      "GENERATOR_SEED_SECRET_ARN": SEED_SECRET_ARN}, "not both"),  # a seed no timestamp can show
    ({"ELASTICSEARCH_HOST": HOST, "ELASTICSEARCH_API_KEY": API_KEY, "GENERATOR_SEED_SECRET_ARN": "seed"},
     "GENERATOR_SEED_SECRET_ARN must be the full ARN"),
])
def test_bad_input_fails_before_any_aws_call(offline_env, project, variables, message):
    env, calls = offline_env
    result = run(project, env | variables)
    assert result.returncode != 0
    assert message in result.stderr
    assert aws_calls(calls) == []
    assert API_KEY not in output_of(result)
    if "GENERATOR_SEED" in variables:
        assert variables["GENERATOR_SEED"] not in output_of(result)


@pytest.mark.parametrize("args, message", [
    (["--scenario", "chaos"], "SCENARIO must be steady, incidents, hard or the file name of a lambda/scenarios/*.json"),
    (["--scenario", "/tmp/black-friday.json"], "SCENARIO must be steady, incidents, hard or the file name"),
    (["--scenario", "no-such-scenario.json"], "lambda/scenarios/no-such-scenario.json, which does not exist"),
    (["--ground-truth", "both"], "--ground-truth must be one of separate inline, got 'both'"),
    (["--remediation", "yes"], "--remediation must be one of off on, got 'yes'"),
    (["--answer-key-index", "Truth"], "ANSWER_KEY_INDEX must be a lowercase Elasticsearch index name"),
    (["--remediation-index", "_fixes"], "REMEDIATION_INDEX must be a lowercase Elasticsearch index name"),
    (["--events-index", "Changes"], "EVENTS_INDEX must be a lowercase Elasticsearch index name"),
    (["--findings-index", "Findings*"], "FINDINGS_INDEX must be a lowercase Elasticsearch index name"),
])
def test_bad_scenario_flags_fail_before_any_aws_call(offline_env, project, args, message):
    env, calls = offline_env
    result = run(project, env | {"ELASTICSEARCH_HOST": HOST, "ELASTICSEARCH_API_KEY": API_KEY}, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert aws_calls(calls) == []


@pytest.mark.parametrize("variable, value", [("SCENARIO", "steady.yaml"), ("REMEDIATION", "true")])
def test_bad_scenario_variables_fail_before_any_aws_call(offline_env, project, variable, value):
    env, calls = offline_env
    result = run(project, env | {"ELASTICSEARCH_HOST": HOST, "ELASTICSEARCH_API_KEY": API_KEY, variable: value})
    assert result.returncode == 2
    assert value in result.stderr
    assert aws_calls(calls) == []


def test_bad_log_level_fails_with_usage(offline_env, project):
    env, calls = offline_env
    result = run(project, env | {"ELASTICSEARCH_HOST": HOST, "ELASTICSEARCH_API_KEY": API_KEY},
                 "--log-level", "LOUD")
    assert result.returncode == 2
    assert "--log-level must be one of" in result.stderr and "Usage:" in result.stderr
    assert aws_calls(calls) == []


@pytest.mark.parametrize("args", [["--bogus"], ["--stack-name"], ["deploy"]])
def test_bad_command_line_fails_with_usage(offline_env, project, args):
    env, calls = offline_env
    result = run(project, env | {"ELASTICSEARCH_HOST": HOST, "ELASTICSEARCH_API_KEY": API_KEY}, *args)
    assert result.returncode == 2
    assert "Usage: ./deploy.sh" in result.stderr
    assert aws_calls(calls) == []


def test_help(offline_env, project):
    env, calls = offline_env
    result = run(project, env, "--help")
    assert result.returncode == 0
    assert "Usage: ./deploy.sh" in result.stdout and "--package-only" in result.stdout
    assert aws_calls(calls) == []


def test_missing_prerequisite_is_named(offline_env, project, tmp_path):
    env, calls = offline_env
    # A PATH with python3 and the shell's basics but no zip.
    bin_dir = tmp_path / "nozip"
    bin_dir.mkdir()
    for tool in ("python3", "aws", "bash", "dirname", "date", "mktemp", "rm"):
        found = shutil.which(tool, path=env["PATH"])
        if found:
            (bin_dir / tool).symlink_to(found)
    result = run(project, env | {"PATH": str(bin_dir), "ELASTICSEARCH_HOST": HOST, "ELASTICSEARCH_API_KEY": API_KEY})
    assert result.returncode != 0
    assert "zip is required" in result.stderr
    assert aws_calls(calls) == []


def test_aws_errors_are_redacted(aws_home, project, tmp_path):
    # An `aws` that fails by echoing everything it was given, parameter file included.
    env = env_with_fake_aws(tmp_path, aws_home, """for arg in "$@"; do
  if [[ "$arg" == file://* ]]; then
    if [[ "$*" == *create-secret* ]]; then echo "SEED=$(cat "${arg#file://}")"; echo "SEED=$(cat "${arg#file://}")" >&2
    else cat "${arg#file://}"; cat "${arg#file://}" >&2; fi
  fi
done
if [[ "$*" == *describe-stacks* ]]; then echo "Stack with id x does not exist" >&2; exit 254; fi
if [[ "$*" == *describe-secret* ]]; then echo "An error occurred (ResourceNotFoundException)" >&2; exit 254; fi
if [[ "$*" == *create-secret* ]]; then echo "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbC123"; exit 0; fi
echo "An error occurred (ValidationError): $*" >&2
exit 255
""")
    result = run(project, env | {"ELASTICSEARCH_HOST": HOST, "ELASTICSEARCH_API_KEY": API_KEY})
    assert result.returncode != 0
    # Both of the CLI's streams are filtered.
    assert "ElasticsearchApiKey=[redacted]" in result.stdout, "the fake did not show the parameters"
    assert "ElasticsearchApiKey=[redacted]" in result.stderr, "the fake did not show the parameters"
    assert API_KEY not in output_of(result)
    # The new seed too, which the fake echoed from create-secret's file.
    assert "SEED=[redacted]" in result.stdout and "SEED=[redacted]" in result.stderr
    assert not re.search(r"[0-9]{30}", output_of(result))


def test_unreadable_stack_stops_before_deploying(aws_home, project, tmp_path):
    # Credentials that do not work: describe-stacks fails with something other than
    # "does not exist", and the script must stop instead of creating a stack.
    calls = tmp_path / "calls.log"
    env = env_with_fake_aws(tmp_path, aws_home, f"""printf "%s\\n" "$*" >> "{calls}"
echo "An error occurred (ExpiredToken) when calling the DescribeStacks operation: token expired" >&2
exit 254
""")
    result = run(project, env | {"ELASTICSEARCH_HOST": HOST, "ELASTICSEARCH_API_KEY": API_KEY})
    assert result.returncode != 0
    assert "ExpiredToken" in result.stderr and "cannot read stack" in result.stderr
    assert [call.split()[:2] for call in aws_calls(calls)] == [["cloudformation", "describe-stacks"]]


# --- deployment against moto_server ----------------------------------------------------


def assert_deployed(endpoint: str, zip_path: Path, environment: dict):
    lam = client(endpoint, "lambda")
    function = lam.get_function_configuration(FunctionName=FUNCTION)
    assert function["Handler"] == "data_generator.lambda_handler"
    assert function["Runtime"] == "python3.13"
    assert function["MemorySize"] == 512 and function["Timeout"] == 300
    # moto returns Number parameters as numbers; Lambda stores strings.
    assert {k: str(v) for k, v in function["Environment"]["Variables"].items()} == environment
    assert function["CodeSha256"] == b64_sha256(zip_path)

    events = client(endpoint, "events")
    rule = events.describe_rule(Name=RULE)
    assert rule["State"] == "ENABLED"
    assert rule["ScheduleExpression"] == "rate(1 hour)"
    queue_arn = f"arn:aws:sqs:{REGION}:123456789012:{QUEUE}"
    [target] = events.list_targets_by_rule(Rule=RULE)["Targets"]
    assert target["Arn"] == function["FunctionArn"]
    assert target["DeadLetterConfig"]["Arn"] == queue_arn
    assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0

    [statement] = json.loads(lam.get_policy(FunctionName=FUNCTION)["Policy"])["Statement"]
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert statement["Condition"]["ArnLike"]["AWS:SourceArn"] == rule["Arn"]

    [group] = client(endpoint, "logs").describe_log_groups(logGroupNamePrefix=f"/aws/lambda/{FUNCTION}")["logGroups"]
    assert group["logGroupName"] == f"/aws/lambda/{FUNCTION}"
    assert group["retentionInDays"] == 14

    sqs = client(endpoint, "sqs")
    url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"] == queue_arn
    return function


def seed_secret(endpoint: str, stack: str = STACK) -> dict:
    """The seed's secret deploy.sh created: its ARN and value."""
    return client(endpoint, "secretsmanager").get_secret_value(SecretId=f"{stack}-generator-seed")


def expected_environment(endpoint: str, **changes) -> dict:
    """The function's environment; by default its seed comes from the secret deploy.sh created."""
    environment = {
        "ELASTICSEARCH_HOST": HOST, "ELASTICSEARCH_INDEX": "pp-merchantai", "MERCHANT_COUNT": "20",
        "LOG_LEVEL": "INFO", "ELASTICSEARCH_API_KEY": API_KEY,
        "SCENARIO": "steady", "GROUND_TRUTH": "separate", "REMEDIATION": "off",
    }
    if "GENERATOR_SEED" not in changes:
        environment["GENERATOR_SEED_SECRET_ARN"] = seed_secret(endpoint)["ARN"]
    environment.update(changes)
    return {k: v for k, v in environment.items() if v is not None}


def test_deploy_end_to_end(env, moto, project, recorded_aws):
    bin_dir, calls = recorded_aws
    result = run(project, env | {"PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"})
    assert result.returncode == 0, output_of(result)
    assert API_KEY not in output_of(result)

    assert_deployed(moto, project / "lambda-deployment.zip", expected_environment(moto))
    stack = client(moto, "cloudformation").describe_stacks(StackName=STACK)["Stacks"][0]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["ScheduleState"] == "ENABLED"

    # The order that keeps the placeholder off the schedule: stack with the rule
    # disabled, code, wait, then the rule enabled; before it, the seed's secret is made.
    # The key and the seed are never an argument.
    steps = [" ".join(call.split()[:2]) for call in aws_calls(calls)]
    assert steps == ["cloudformation describe-stacks", "secretsmanager describe-secret", "secretsmanager create-secret",
                     "cloudformation deploy", "lambda update-function-code", "lambda wait", "cloudformation deploy"]
    seed = seed_secret(moto)["SecretString"]
    assert not [call for call in aws_calls(calls) if API_KEY in call or seed in call]
    assert "CAPABILITY_NAMED_IAM" in aws_calls(calls)[3] and "--no-fail-on-empty-changeset" in aws_calls(calls)[3]


def test_redeploy_keeps_the_schedule_enabled_and_updates_code(env, moto, project, recorded_aws, tmp_path):
    first = run(project, env)
    assert first.returncode == 0, output_of(first)
    # Change the code (a new module is enough to change the zip's hash).
    changed = tmp_path / "project"
    shutil.copytree(project, changed, ignore=shutil.ignore_patterns("deployment", "lambda-deployment.zip"))
    (changed / "lambda" / "deploy_marker.py").write_text("MARKER = 1\n")
    bin_dir, calls = recorded_aws
    second = run(changed, env | {"PATH": f"{bin_dir}{os.pathsep}{env['PATH']}"})
    assert second.returncode == 0, output_of(second)
    function = assert_deployed(moto, changed / "lambda-deployment.zip", expected_environment(moto))
    assert function["CodeSha256"] != b64_sha256(project / "lambda-deployment.zip")
    # One stack deploy, with the schedule left on: the rule is never switched off.
    steps = [" ".join(call.split()[:2]) for call in aws_calls(calls)]
    assert steps == ["cloudformation describe-stacks", "cloudformation deploy", "lambda update-function-code",
                     "lambda wait"]


def test_deploy_with_flags_and_secret_arn(moto, aws_home, project):
    env = base_env(aws_home, moto) | {"MERCHANT_COUNT": "50", "GENERATOR_SEED": "7", "RESERVED_CONCURRENCY": "2"}
    result = run(project, env, "--host", HOST, "--api-key-secret-arn", SECRET_ARN, "--index", "merchants-test",
                 "--log-level", "debug", "--region", REGION, "--stack-name", "generator-test")
    assert result.returncode == 0, output_of(result)
    assert_deployed(moto, project / "lambda-deployment.zip", expected_environment(
        moto, ELASTICSEARCH_API_KEY=None, ELASTICSEARCH_API_KEY_SECRET_ARN=SECRET_ARN,
        ELASTICSEARCH_INDEX="merchants-test", LOG_LEVEL="DEBUG", MERCHANT_COUNT="50", GENERATOR_SEED="7"))
    assert client(moto, "lambda").get_function_concurrency(FunctionName=FUNCTION)["ReservedConcurrentExecutions"] == 2
    iam = client(moto, "iam")
    role = f"{FUNCTION}-{REGION}"
    secret_policy = iam.get_role_policy(RoleName=role, PolicyName="read-api-key-secret")["PolicyDocument"]
    [statement] = secret_policy["Statement"]
    assert statement["Action"] == "secretsmanager:GetSecretValue" and statement["Resource"] == SECRET_ARN
    assert client(moto, "cloudformation").describe_stacks(StackName="generator-test")["Stacks"]


def stack_parameters(endpoint: str, stack: str = STACK) -> dict:
    described = client(endpoint, "cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in described["Parameters"]}


def test_deploy_with_scenario_flags(env, moto, project):
    result = run(project, env | {"GROUND_TRUTH": "INLINE"}, "--scenario", SCENARIO_FILE,
                 "--answer-key-index", "truth", "--remediation", "on", "--remediation-index", "fixes",
                 "--events-index", "changes", "--findings-index", "agent-findings")
    assert result.returncode == 0, output_of(result)
    assert_deployed(moto, project / "lambda-deployment.zip", expected_environment(
        moto, SCENARIO=SCENARIO_FILE, GROUND_TRUTH="inline", ANSWER_KEY_INDEX="truth", REMEDIATION="on",
        REMEDIATION_INDEX="fixes", EVENTS_INDEX="changes", FINDINGS_INDEX="agent-findings"))
    parameters = stack_parameters(moto)
    assert {name: parameters[name] for name in
            ("Scenario", "GroundTruth", "AnswerKeyIndex", "Remediation", "RemediationIndex", "EventsIndex",
             "FindingsIndex")} == {
        "Scenario": SCENARIO_FILE, "GroundTruth": "inline", "AnswerKeyIndex": "truth", "Remediation": "on",
        "RemediationIndex": "fixes", "EventsIndex": "changes", "FindingsIndex": "agent-findings"}


def deployed_parameters(project, tmp_path, aws_home, answers: str, *args, environ: dict | None = None) -> list:
    """The stack parameters deploy.sh passes, run with args under a fake `aws`: answers (case
    arms of its shell script) and a `cloudformation deploy` that records the parameters file.
    (moto cannot update the function's properties in a stack.)"""
    recorded = tmp_path / "parameters.log"
    env = env_with_fake_aws(tmp_path, aws_home, f"""case "$*" in
{answers}  *"cloudformation deploy"*)
    for arg in "$@"; do
      if [[ "$arg" == file://* ]]; then cat "${{arg#file://}}" >> "{recorded}"; fi
    done ;;
esac
""")
    result = run(project, env | {"ELASTICSEARCH_HOST": HOST, "ELASTICSEARCH_API_KEY": API_KEY} | (environ or {}), *args)
    assert result.returncode == 0, output_of(result)
    [parameters] = [json.loads(line) for line in recorded.read_text().splitlines()]
    return parameters


def test_redeploy_without_scenario_flags_passes_the_defaults(aws_home, project, tmp_path):
    # Like every other setting, the command line and environment are the source of
    # truth, not the stack's previous values.
    parameters = deployed_parameters(project, tmp_path, aws_home, f"""  *describe-stacks*) printf 'UPDATE_COMPLETE\\tENABLED\\t-\\t{SEED_SECRET_ARN}\\n' ;;
  *secretsmanager*) exit 1 ;;
""")
    assert {"Scenario=steady", "GroundTruth=separate", "AnswerKeyIndex=", "Remediation=off",
            "RemediationIndex=", "EventsIndex=", "FindingsIndex="} <= set(parameters)
    # Except the seed: the stack's secret is kept, so the data go on from the same seed.
    assert {"GeneratorSeed=", f"GeneratorSeedSecretArn={SEED_SECRET_ARN}"} <= set(parameters)


@pytest.mark.parametrize("how", ["flag", "variable"])
def test_the_hard_scenario_reaches_the_stack(aws_home, project, tmp_path, how):
    parameters = deployed_parameters(project, tmp_path, aws_home, """  *describe-stacks*) printf 'UPDATE_COMPLETE\\tENABLED\\n' ;;
""", *(("--scenario", "hard") if how == "flag" else ()), environ=None if how == "flag" else {"SCENARIO": "hard"})
    assert "Scenario=hard" in parameters


def test_api_key_file_flag(moto, aws_home, project, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(API_KEY + "\n")
    result = run(project, base_env(aws_home, moto), "--host", HOST, "--api-key-file", str(key_file))
    assert result.returncode == 0, output_of(result)
    assert API_KEY not in output_of(result)
    assert_deployed(moto, project / "lambda-deployment.zip", expected_environment(moto))


def test_defaults_reserve_no_concurrency_and_grant_only_the_seed_secret(env, moto, project):
    assert run(project, env).returncode == 0
    assert "ReservedConcurrentExecutions" not in client(moto, "lambda").get_function_concurrency(FunctionName=FUNCTION)
    iam = client(moto, "iam")
    role = f"{FUNCTION}-{REGION}"
    names = iam.list_role_policies(RoleName=role)["PolicyNames"]
    assert sorted(names) == ["read-seed-secret", "send-failed-invocations", "write-own-logs"]
    [statement] = iam.get_role_policy(RoleName=role, PolicyName="read-seed-secret")["PolicyDocument"]["Statement"]
    assert statement["Action"] == "secretsmanager:GetSecretValue"
    assert statement["Resource"] == seed_secret(moto)["ARN"]


def test_the_first_deploy_makes_a_secret_128_bit_seed_no_output_shows_and_redeploys_keep_it(env, moto, project):
    first = run(project, env)
    assert first.returncode == 0, output_of(first)
    secret = seed_secret(moto)
    seed = secret["SecretString"]
    assert 2**127 <= int(seed) < 2**128 and seed == str(int(seed))
    assert {k: v for k, v in stack_parameters(moto).items() if "Seed" in k} == {
        "GeneratorSeed": "", "GeneratorSeedSecretArn": secret["ARN"]}
    assert "GENERATOR_SEED" not in client(moto, "lambda").get_function_configuration(
        FunctionName=FUNCTION)["Environment"]["Variables"]

    again = run(project, env)
    assert again.returncode == 0, output_of(again)
    assert seed_secret(moto)["SecretString"] == seed
    assert stack_parameters(moto)["GeneratorSeedSecretArn"] == secret["ARN"]
    # A stack deleted and deployed again under its name goes on with the same seed.
    assert run(project, env, "--delete").returncode == 0
    anew = run(project, env)
    assert anew.returncode == 0, output_of(anew)
    assert stack_parameters(moto)["GeneratorSeedSecretArn"] == secret["ARN"]
    assert len(client(moto, "secretsmanager").list_secrets()["SecretList"]) == 1

    cloudformation = client(moto, "cloudformation")
    shown = [output_of(result) for result in (first, again, anew)] + [json.dumps(answer, default=str) for answer in (
        cloudformation.describe_stacks(StackName=STACK), cloudformation.describe_stack_resources(StackName=STACK),
        client(moto, "lambda").get_function_configuration(FunctionName=FUNCTION),
        client(moto, "lambda").get_function(FunctionName=FUNCTION))]
    assert not [text for text in shown if seed in text]
    assert "Grade with: GENERATOR_SEED_SECRET_ARN=" + secret["ARN"] in first.stdout


def test_an_explicit_seed_is_a_plain_parameter(env, moto, project):
    result = run(project, env | {"GENERATOR_SEED": "-0042"})
    assert result.returncode == 0, output_of(result)
    assert {k: v for k, v in stack_parameters(moto).items() if "Seed" in k} == {
        "GeneratorSeed": "-42", "GeneratorSeedSecretArn": ""}
    assert_deployed(moto, project / "lambda-deployment.zip", expected_environment(moto, GENERATOR_SEED="-42"))
    assert client(moto, "secretsmanager").list_secrets()["SecretList"] == []


def test_delete_removes_the_stack(env, moto, project):
    assert run(project, env).returncode == 0
    result = run(project, env, "--delete")
    assert result.returncode == 0, output_of(result)
    cloudformation = client(moto, "cloudformation")
    stacks = [s for s in cloudformation.list_stacks()["StackSummaries"] if s["StackName"] == STACK]
    assert stacks and all(s["StackStatus"] == "DELETE_COMPLETE" for s in stacks)
    assert client(moto, "lambda").list_functions()["Functions"] == []
    assert client(moto, "events").list_rules()["Rules"] == []
