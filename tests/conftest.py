"""Shared fixtures: a clean environment, a real engine behind the media-type shim."""

from __future__ import annotations

import json
import urllib.request

import pytest
from osmem_server import OsmemServer

import config
import data_generator
from shim import Proxy

ENV_NAMES = [value for name, value in vars(config).items() if name.isupper() and isinstance(value, str)
             and value.startswith(("ELASTICSEARCH_", "MERCHANT_", "GENERATOR_", "LOG_"))] + [
    config.SCENARIO, config.GROUND_TRUTH, config.ANSWER_KEY_INDEX, config.REMEDIATION, config.REMEDIATION_INDEX]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """No test sees the developer's Elasticsearch settings, and no client outlives a test."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    data_generator._client.cache_clear()
    config.read_secret.cache_clear()
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
