"""Shared fixtures: a clean environment, a real engine behind the media-type shim."""

from __future__ import annotations

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


@pytest.fixture
def cluster(engine):
    clone = engine.clone()
    proxy = Proxy(clone.url)
    yield Cluster(clone, proxy)
    proxy.close()
    clone.close()
