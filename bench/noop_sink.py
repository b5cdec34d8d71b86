"""A no-op Elasticsearch for benchmarks: answers every _bulk with all items 201.

Run as a child process (`python bench/noop_sink.py` prints its URL on stdout,
then serves until killed) so that it does not share the benchmarked
process's CPU time or GIL. The answer has the shape of a real bulk response:
full items by default, and only the fields named in filter_path when the
request has one (as Elasticsearch does), so filter_path's effect is measured.
Other requests (the index template) get {"acknowledged": true}.
"""

from __future__ import annotations

import json
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

FULL_ITEM = ('{"index":{"_index":"%s","_id":"%s","_version":1,"result":"created",'
             '"_shards":{"total":2,"successful":1,"failed":0},"_seq_no":0,"_primary_term":1,"status":201}}')
SHORT_ITEM = '{"index":{"_id":"%s","status":201}}'


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def setup(self):
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle's
        # algorithm and delayed ACKs stall each small response by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _reply(self, body: bytes):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        url = urlsplit(self.path)
        if not url.path.endswith("/_bulk"):
            return self._reply(b'{"acknowledged":true}')
        filtered = "filter_path" in parse_qs(url.query)
        items = []
        lines = data.split(b"\n")
        for action in lines[0::2]:
            if not action:
                continue
            meta = json.loads(action)["index"]
            if filtered:
                items.append(SHORT_ITEM % meta["_id"])
            else:
                items.append(FULL_ITEM % (meta["_index"], meta["_id"]))
        head = '{"items":[' if filtered else '{"took":1,"errors":false,"items":['
        self._reply((head + ",".join(items) + "]}").encode())

    do_PUT = do_POST

    def do_GET(self):
        self._reply(b'{"version":{"number":"8.19.0"},"tagline":"You Know, for Search"}')

    do_HEAD = do_GET


def main():
    # Threads: a client that keeps an idle keep-alive connection must not block the next one.
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    print(f"http://127.0.0.1:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
