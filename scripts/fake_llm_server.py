"""An OpenAI-compatible endpoint that misbehaves on purpose, for fault tests and the labeler benchmark.

The first path segment picks the behaviour, so one server plays every kind of endpoint:

    http://127.0.0.1:PORT/<mode>/v1/chat/completions

``ok``              a valid answer after ``--delay`` seconds (the fixed-delay endpoint of bench/llm_labeler.py); at most
                    ``--limit`` requests are served at once, the rest wait, so its own limit is limit/delay per second
``slow``            a valid answer after ``--slow-delay`` seconds (longer than a client's timeout)
``malformed``       a 200 whose message content is not JSON
``empty``           a 200 whose message content is the empty string
``unknown-category``, ``out-of-range``, ``long-rationale``, ``wrong-type``  valid JSON that breaks the schema
``429``             Too Many Requests with ``Retry-After: 1``; ``500`` an internal error
``flaky``           a 500 for the first two requests with the same ``X-Request-Key`` header, then a valid answer

A valid answer takes the category from the request's schema (its ``enum``) and calls the item a violation when
the user's message contains "VIOLATION", so tests know what to expect; a message containing "BREAK_SCHEMA" gets an
unknown category even in the ``ok`` mode (one bad item among good ones). Standard library only.

    .venv/bin/python scripts/fake_llm_server.py --port 8432 --delay 0.05 --limit 8
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = {
    "ok",
    "slow",
    "malformed",
    "empty",
    "unknown-category",
    "out-of-range",
    "long-rationale",
    "wrong-type",
    "429",
    "500",
    "flaky",
}


class FakeEndpoint(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], *, delay: float, limit: int, slow_delay: float) -> None:
        super().__init__(address, FakeHandler)
        self.delay = delay
        self.slow_delay = slow_delay
        self.slots = threading.BoundedSemaphore(limit)
        self.lock = threading.Lock()
        self.requests: collections.Counter[str] = collections.Counter()
        self.flaky_seen: collections.Counter[str] = collections.Counter()
        # Requests being answered right now, and the most at once: tests of a client's concurrency limit read it.
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"


class FakeHandler(BaseHTTPRequestHandler):
    server: FakeEndpoint
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the second waits for the client's delayed ACK
    # (about 40 ms), which would dominate a fast answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self._done()
        self.wfile.write(body)

    def do_POST(self) -> None:  # noqa: N802
        with self.server.lock:
            self.server.in_flight += 1
            self.server.max_in_flight = max(self.server.max_in_flight, self.server.in_flight)
        self._counted = True
        try:
            self._answer()
        finally:
            self._done()

    def _done(self) -> None:
        """Out of ``in_flight`` before the body goes out: once the client has its answer it may send the next."""
        if self._counted:
            self._counted = False
            with self.server.lock:
                self.server.in_flight -= 1

    def _answer(self) -> None:
        parts = self.path.strip("/").split("/")
        mode = parts[0]
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        with self.server.lock:
            self.server.requests[mode] += 1
        if mode not in MODES or parts[1:] != ["v1", "chat", "completions"]:
            return self._send(404, b'{"error": {"message": "no such path"}}')
        if mode == "429":
            return self._send(429, b'{"error": {"message": "rate limited"}}', {"Retry-After": "1"})
        if mode == "500":
            return self._send(500, b'{"error": {"message": "internal error"}}')
        if mode == "flaky":
            key = self.headers.get("X-Request-Key", "")
            with self.server.lock:
                self.server.flaky_seen[key] += 1
                seen = self.server.flaky_seen[key]
            if seen <= 2:
                return self._send(500, b'{"error": {"message": "flaky"}}')
        with self.server.slots:
            time.sleep(self.server.slow_delay if mode == "slow" else self.server.delay)
            self._send(200, json.dumps(_completion(mode, request)).encode())


def _completion(mode: str, request: dict) -> dict:
    schema = ((request.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
    categories = ((schema.get("properties") or {}).get("category") or {}).get("enum") or ["spam"]
    text = " ".join(str(m.get("content", "")) for m in request.get("messages", []) if m.get("role") == "user")
    violation = "VIOLATION" in text
    answer: dict = {
        "category": categories[0],
        "verdict": violation,
        "probability": 0.9 if violation else 0.1,
        "rationale": "The message asks for money <b>now</b>." if violation else "Nothing in it breaks the policy.",
    }
    if mode == "unknown-category" or "BREAK_SCHEMA" in text:
        answer["category"] = "not_a_category"
    elif mode == "out-of-range":
        answer["probability"] = 1.7
    elif mode == "long-rationale":
        answer["rationale"] = "because " * 400
    elif mode == "wrong-type":
        answer["verdict"] = "yes"
    content = json.dumps(answer)
    if mode == "malformed":
        content = content[:-5] + " oops"
    elif mode == "empty":
        content = ""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": request.get("model", "fake"),
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    }


def start_in_thread(*, delay: float = 0.0, limit: int = 64, slow_delay: float = 5.0) -> FakeEndpoint:
    """A running endpoint on a free loopback port (tests and benchmarks); call ``shutdown()`` when done."""
    server = FakeEndpoint(("127.0.0.1", 0), delay=delay, limit=limit, slow_delay=slow_delay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8432)
    parser.add_argument("--delay", type=float, default=0.05, help="seconds per answer in the ok mode")
    parser.add_argument("--limit", type=int, default=8, help="requests served at once")
    parser.add_argument("--slow-delay", type=float, default=5.0)
    args = parser.parse_args(argv)
    server = FakeEndpoint(("127.0.0.1", args.port), delay=args.delay, limit=args.limit, slow_delay=args.slow_delay)
    print(f"listening on {server.base_url}/<mode>/v1", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()


if __name__ == "__main__":
    main()
