"""Shared fixtures: a clean environment, a real engine behind the media-type shim."""

from __future__ import annotations

import contextlib
import json
import re
import urllib.request
from pathlib import Path

import pytest
from osmem_server import OsmemServer

import config
import data_generator
from shim import Proxy



def _env_names() -> list:
    """The environment variables config.py declares it reads (its first block of constants)."""
    source = Path(config.__file__).read_text(encoding="utf-8")
    block = source.split("# Environment variables the function reads.", 1)[1].split("\n\n", 1)[0]
    return re.findall(r'^[A-Z_]+ = "([A-Z_]+)"', block, re.M)


ENV_NAMES = _env_names()
CREDENTIAL_NAMES = (config.ELASTICSEARCH_API_KEY, config.ELASTICSEARCH_PASSWORD, config.ELASTICSEARCH_USERNAME)
# Every variable that is not itself a credential: where one may be pasted by mistake.
SETTING_NAMES = [name for name in ENV_NAMES if name not in CREDENTIAL_NAMES]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No test sees the developer's Elasticsearch settings, and no client outlives a test."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    data_generator._client.cache_clear()
    config.read_secret.cache_clear()
    config.read_seed_secret.cache_clear()
    yield
    data_generator._client.cache_clear()


@pytest.fixture(scope="session")
def engine():
    """One osmem-server process for the session, on a free loopback port."""
    server = OsmemServer.start(japanese=False)
    yield server
    server.close()


class Cluster:
    """A fresh clone of the engine for one test, reached through the shim."""

    def __init__(self, clone, proxy):
        self.clone = clone
        self.proxy = proxy
        self.url = proxy.url

    def get(self, path):
        with urllib.request.urlopen(self.clone.url + path) as response:
            return json.loads(response.read())

    def count(self, index="pp-merchantai"):
        self.get(f"/{index}/_refresh")
        return self.get(f"/{index}/_count")["count"]

    def documents(self, index="pp-merchantai"):
        """{_id: _source} of every document in the index."""
        self.get(f"/{index}/_refresh")
        body = json.dumps({"size": 10000, "query": {"match_all": {}}}).encode()
        request = urllib.request.Request(self.clone.url + f"/{index}/_search", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request) as response:
            hits = json.loads(response.read())["hits"]["hits"]
        return {hit["_id"]: hit["_source"] for hit in hits}


@contextlib.contextmanager
def environment(engine, env: dict):
    """A fresh clone of the engine (a Cluster) for a module-scoped fixture, with env and
    ELASTICSEARCH_HOST set for the hourly runs it plays; all undone on exit."""
    clone = engine.clone()
    proxy = Proxy(clone.url)
    cluster = Cluster(clone, proxy)
    mp = pytest.MonkeyPatch()
    for name, value in {"ELASTICSEARCH_HOST": cluster.url, **env}.items():
        mp.setenv(name, value)
    data_generator._client.cache_clear()
    try:
        yield cluster
    finally:
        mp.undo()
        data_generator._client.cache_clear()
        proxy.close()
        clone.close()


def set_environment(cluster, env: dict, monkeypatch) -> None:
    """The environment a played loop's runs had, again for one test (each starts from a clean one)."""
    for name, value in {"ELASTICSEARCH_HOST": cluster.url, **env}.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def cluster(engine):
    clone = engine.clone()
    proxy = Proxy(clone.url)
    yield Cluster(clone, proxy)
    proxy.close()
    clone.close()


@pytest.fixture
def aws(monkeypatch, tmp_path):
    """In-process moto with dummy credentials; nothing reads ~/.aws or leaves the process.
    Yields a Secrets Manager client."""
    import boto3
    from moto import mock_aws

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SECRETS_MANAGER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    with mock_aws():
        yield boto3.client("secretsmanager")
