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
    """Answer with this status and body instead of forwarding.

    A dict body is sent as JSON; str/bytes are sent as they are with
    content_type (e.g. a load balancer's plain-text 503).
    """

    status: int
    body: object
    content_type: str = "application/json"


@dataclass
class Reset:
    """Close the connection with a TCP reset before answering (optionally after forwarding)."""

    forward_first: bool = False


@dataclass
class Delay:
    """Forward, then wait this long before answering (beyond the client's timeout)."""

    seconds: float


@dataclass
class Trickle:
    """Forward, then send the answer one byte every `interval` seconds (a read timeout never fires)."""

    interval: float = 0.05


@dataclass
class Rewrite:
    """Forward, then let edit(response_json) change the answer (per-item faults)."""

    edit: object


@dataclass
class Hang:
    """Never answer: hold the request without forwarding it, then drop the connection.

    Waits at most seconds (or until released or the proxy closes), like a node that
    accepted the connection and stalled.
    """

    seconds: float = 60.0


@dataclass
class ItemErrors:
    """Per-item failures in a _bulk: {_id: (status, error)}.

    Those items are removed from the request before it is forwarded (the
    engine never sees them, as when Elasticsearch rejects them) and their
    error items are spliced into the engine's answer at their positions.
    """

    errors: dict


@dataclass
class Withheld:
    """Actions of a _bulk that never reach the engine, and what the answer says of each: {_id: item}.

    An item of None lists nothing for that action (the answer is short by one); a dict is
    spliced in at the action's position as its item's fields beside _index and _id (e.g. {}:
    an item without a status).
    """

    items: dict


def bulk_ids(request: "Request") -> list:
    """The _id of every action in a _bulk request body, in order."""
    if not is_bulk(request):
        return []
    lines = request.body.decode().splitlines()
    return [next(iter(json.loads(line).values()))["_id"] for line in lines[0::2]]


class Fault:
    """A bounded fault: answers matching requests with action (or action(request)) `times` times.

    when(request) selects the requests (default: every request); after
    `times` firings the fault forwards everything. `fired` counts firings.
    """

    def __init__(self, action, times: int = 1, when=None):
        self.action = action
        self.times = times
        self.when = when or (lambda request: True)
        self.fired = 0
        self._lock = threading.Lock()

    def __call__(self, request):
        with self._lock:
            if self.fired >= self.times or not self.when(request):
                return None
            self.fired += 1
        return self.action(request) if callable(self.action) else self.action


class Script:
    """Faults in turn: the i-th matching request gets actions[i] (None forwards), then forward."""

    def __init__(self, actions: list, when=None):
        self.actions = list(actions)
        self.when = when or (lambda request: True)
        self.fired = 0
        self._lock = threading.Lock()

    def __call__(self, request):
        with self._lock:
            if self.fired >= len(self.actions) or not self.when(request):
                return None
            action = self.actions[self.fired]
            self.fired += 1
        return action(request) if callable(action) else action


def is_bulk(request: "Request") -> bool:
    return request.path.split("?")[0].endswith("/_bulk")


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        # The client gave up on a delayed answer or the test reset the
        # connection: expected, not worth a traceback in the test output.
        import sys

        if not isinstance(sys.exc_info()[1], (ConnectionError, OSError)):
            super().handle_error(request, client_address)


@dataclass
class Proxy:
    target: str
    faults: list = field(default_factory=list)
    requests: list = field(default_factory=list)
    # Requests held without an answer so far (Hang, Delay, Trickle): a fake clock's cue.
    stalled: int = 0
    held: int = 0  # requests held now, since the last release_stalled()

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
                    body = action.body
                    if isinstance(body, dict):
                        body = json.dumps(body)
                    if isinstance(body, str):
                        body = body.encode()
                    return self._answer(action.status, {"Content-Type": action.content_type}, body)
                if isinstance(action, Reset) and not action.forward_first:
                    return self._reset()
                if isinstance(action, Hang):
                    proxy._stall().wait(action.seconds)
                    return self._reset()
                if isinstance(action, ItemErrors):
                    return self._withhold(request, {_id: {"status": status, "error": error}
                                                    for _id, (status, error) in action.errors.items()}, True)
                if isinstance(action, Withheld):
                    return self._withhold(request, action.items, False)
                status, headers, data = proxy._forward(target, request)
                if isinstance(action, Reset):
                    return self._reset()
                if isinstance(action, Delay):
                    proxy._stall().wait(action.seconds)
                if isinstance(action, Trickle):
                    return self._trickle(status, headers, data, action.interval, proxy._stall())
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

            def _trickle(self, status, headers, data, interval, released):
                head = [f"HTTP/1.1 {status} OK", "X-Elastic-Product: Elasticsearch", f"Content-Length: {len(data)}"]
                head += [f"{name}: {value}" for name, value in headers.items() if name.lower() == "content-type"]
                answer = ("\r\n".join(head) + "\r\n\r\n").encode() + data
                for i in range(len(answer)):
                    if released.wait(interval):
                        break
                    self.wfile.write(answer[i:i + 1])
                    self.wfile.flush()
                self.close_connection = True

            def _withhold(self, request, withheld, errors):
                """Forward the request without the withheld actions; their items (if any) take their places."""
                lines = request.body.decode().splitlines()
                pairs = [(lines[i], lines[i + 1]) for i in range(0, len(lines) - 1, 2)]
                kept, answers = [], []  # answers: per action, its own item, or None for the engine's next
                for action_line, source_line in pairs:
                    (op, meta), = json.loads(action_line).items()
                    if meta["_id"] not in withheld:
                        kept += [action_line, source_line]
                        answers.append(None)
                    elif withheld[meta["_id"]] is not None:
                        answers.append({op: {"_index": meta.get("_index"), "_id": meta["_id"],
                                             **withheld[meta["_id"]]}})
                engine = []
                if kept:
                    forwarded = Request(request.method, request.path, request.headers,
                                        ("\n".join(kept) + "\n").encode())
                    status, headers, data = proxy._forward(target, forwarded)
                    if status != 200:
                        return self._answer(status, headers, data)
                    answer = json.loads(data)
                    engine = iter(answer["items"])
                else:
                    headers, answer = {"Content-Type": "application/json"}, {"took": 0}
                answer["items"] = [next(engine) if item is None else item for item in answers]
                if errors:
                    answer["errors"] = True
                self._answer(200, headers, json.dumps(answer).encode())

            def _reset(self):
                # SO_LINGER 0: close() sends RST, like a node dying mid-request.
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.close_connection = True
                self.connection.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self._released = threading.Event()
        self._lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
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

    def _stall(self) -> threading.Event:
        """Count a request held without an answer; the event ends the hold."""
        with self._lock:
            self.stalled += 1
            self.held += 1
            return self._released

    def release_stalled(self) -> None:
        """End every hold so far (Hang, Delay, Trickle), as when their clients hang up."""
        with self._lock:
            released, self._released = self._released, threading.Event()
            self.held = 0
        released.set()

    def bulk_requests(self) -> list:
        return [request for request in self.requests if is_bulk(request)]

    def close(self):
        self.release_stalled()
        self._released.set()
        self.server.shutdown()
        self.server.server_close()
