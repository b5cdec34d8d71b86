"""Test-only HTTP proxy between the Elasticsearch client and the test engine.

It translates the client's Elasticsearch media types
(application/vnd.elasticsearch+json; compatible-with=8) to the plain JSON
types osmem-server understands, adds the product header the client checks,
and can inject faults: a fault is a callable taking the request and returning
None (forward as usual) or an action the proxy performs instead.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

_VND = re.compile(r"application/vnd\.elasticsearch\+(json|x-ndjson)(;\s*compatible-with=\d+)?")
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "x-elastic-product"}


def plain_media_type(value: str) -> str:
    return _VND.sub(lambda m: f"application/{m.group(1)}", value)


@dataclass
class Request:
    method: str
    path: str
    headers: dict
    body: bytes


@dataclass
class Reply:
    """Answer with this status and JSON body instead of forwarding."""

    status: int
    body: dict


@dataclass
class Reset:
    """Close the connection with a TCP reset before answering (optionally after forwarding)."""

    forward_first: bool = False


@dataclass
class Delay:
    """Forward, then wait this long before answering (beyond the client's timeout)."""

    seconds: float


@dataclass
class Rewrite:
    """Forward, then let edit(response_json) change the answer (per-item faults)."""

    edit: object


@dataclass
class Proxy:
    target: str
    faults: list = field(default_factory=list)
    requests: list = field(default_factory=list)

    def __post_init__(self):
        proxy = self
        target = urlsplit(self.target)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _handle(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Request(self.command, self.path, dict(self.headers.items()), body)
                proxy.requests.append(request)
                action = None
                for fault in list(proxy.faults):
                    action = fault(request)
                    if action is not None:
                        break
                if isinstance(action, Reply):
                    return self._answer(action.status, {"Content-Type": "application/json"},
                                        json.dumps(action.body).encode())
                if isinstance(action, Reset) and not action.forward_first:
                    return self._reset()
                status, headers, data = proxy._forward(target, request)
                if isinstance(action, Reset):
                    return self._reset()
                if isinstance(action, Delay):
                    time.sleep(action.seconds)
                if isinstance(action, Rewrite):
                    data = json.dumps(action.edit(json.loads(data))).encode()
                self._answer(status, headers, data)

            def _answer(self, status, headers, data):
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in _HOP_BY_HOP:
                        self.send_header(name, plain_media_type(value) if name.lower() == "content-type" else value)
                self.send_header("X-Elastic-Product", "Elasticsearch")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            def _reset(self):
                # SO_LINGER 0: close() sends RST, like a node dying mid-request.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    @staticmethod
    def _forward(target, request: Request):
        headers = {
            name: plain_media_type(value)
            for name, value in request.headers.items()
            if name.lower() not in _HOP_BY_HOP
        }
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
        try:
            connection.request(request.method, request.path, body=request.body or None, headers=headers)
            response = connection.getresponse()
            return response.status, dict(response.getheaders()), response.read()
        finally:
            connection.close()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
