"""elasticsearch-faker side of the comparison; runs in .venv-bench (made by `make bench`).

  python bench/faker_bench.py generate N        generate N documents + their bulk NDJSON
  python bench/faker_bench.py index URL N BULK  index N documents through the tool's own worker

Documents come from bench/faker_template.jinja2, which mirrors our schema field
for field (same names, same JSON types; Faker values instead of modelled ones).
Prints one JSON line: documents, wall and CPU seconds.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time

from faker import Factory, Faker

from elasticsearch_faker._generator import FakeDocGenerator
from elasticsearch_faker._provider import re_provider

HERE = os.path.dirname(os.path.abspath(__file__))
INDEX = "faker-bench"


def _generator():
    with open(os.path.join(HERE, "faker_template.jinja2")) as stream:
        template = stream.read()
    Faker.seed(1729)
    return FakeDocGenerator(providers=re_provider.findall(template), template=template,
                            index_name=INDEX, fake=Factory.create("en_US"))


def generate(n: int) -> dict:
    gen = _generator()
    out = open(os.devnull, "w")
    wall, cpu = time.perf_counter(), time.process_time()
    done = 0
    while done < n:
        size = min(2000, n - done)
        docs = gen.generate_docs(bulk_size=size, worker_id=0)
        # The same output as ours: bulk NDJSON text, action line + source line.
        out.write("\n".join(json.dumps(doc, separators=(",", ":")) for doc in docs) + "\n")
        done += size
    return {"documents": done, "wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


def index(url: str, n: int, bulk: int) -> dict:
    from elasticsearch_faker.__main__ import gen_doc_worker
    from elasticsearch_faker._es_client import ElasticsearchClientParameter, create_es_client

    param = ElasticsearchClientParameter(endpoint=url)
    create_es_client(param, dry_run=False).create_index(INDEX, None)
    gen = _generator()
    wall, cpu = time.perf_counter(), time.process_time()
    with contextlib.redirect_stderr(io.StringIO()):  # its tqdm bar
        _, done = gen_doc_worker(param, False, gen, INDEX, n, bulk)
    return {"documents": done, "wall_s": time.perf_counter() - wall, "cpu_s": time.process_time() - cpu}


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "generate":
        result = generate(int(sys.argv[2]))
    else:
        result = index(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    print(json.dumps(result))
