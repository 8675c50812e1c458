#!/usr/bin/env python3
"""A toy ticketing system wired to the moderation service: send tickets in, hear decisions back.

1. Reads tickets from a CSV file (columns: source, external_id, text, reporter, reason) and sends
   them to ``POST /api/v1/items`` in batches of up to 500, with the API token in MODERATION_TOKEN.
2. Listens for webhooks on a local port (http://127.0.0.1:8765/webhooks by default). Each one must
   carry a valid Standard Webhooks signature made with WEBHOOK_SECRET (``whsec_...``), and a
   timestamp less than 5 minutes old. A verbatim copy of a delivery already accepted (a replay) is
   refused with 409; a retry of a message already processed (same webhook-id, new timestamp) is
   acknowledged and not processed twice.
3. Prints every decision as it arrives, by the ticket's source and external id.

With ``--subscribe`` and a token that has the ``admin`` scope, it first creates the webhook
subscription itself (through ``/api/v1/webhooks/subscriptions``) and uses the secret that comes
back. The moderation service only sends to 127.0.0.1 when its operator allows it:
``WEBHOOK_ALLOWED_NETWORKS=127.0.0.1/32``.

Needs Python 3.11 and httpx; nothing else. Stop it with Ctrl-C.
"""

import argparse
import base64
import binascii
import csv
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

TOLERANCE_SECONDS = 5 * 60
MAX_BODY_BYTES = 1024 * 1024
BATCH_SIZE = 500


class InvalidWebhook(Exception):
    """Headers missing or malformed, timestamp out of tolerance, or no signature matches: not from the service."""


class ReplayedWebhook(InvalidWebhook):
    """This exact signed request (webhook-id and timestamp) was already accepted."""


@dataclass(frozen=True)
class Message:
    id: str
    timestamp: int
    body: dict
    first_time: bool  # False: a retry of a message already processed


class WebhookVerifier:
    """Verifies Standard Webhooks requests: ``v1`` HMAC-SHA256 over ``{id}.{timestamp}.{body}``.

    Remembers the ids it accepted (the last ``memory`` of them): a replay of an accepted request is
    refused, a retry of an accepted message is reported with ``first_time=False``. A real system
    would keep processed ids in its database instead.
    """

    def __init__(
        self, secret: str, *, tolerance: int = TOLERANCE_SECONDS, memory: int = 100_000, clock: Callable = time.time
    ) -> None:
        try:
            self._key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error as exc:
            raise ValueError("The secret must be the whsec_... value the service gave you.") from exc
        self._tolerance, self._memory, self._clock = tolerance, memory, clock
        self._accepted: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, body: bytes, headers: Mapping[str, str]) -> Message:
        headers = {name.lower(): value for name, value in headers.items()}
        message_id = headers.get("webhook-id", "")
        timestamp_text = headers.get("webhook-timestamp", "")
        signatures = headers.get("webhook-signature", "")
        if not (message_id and timestamp_text and signatures):
            raise InvalidWebhook("missing webhook-id, webhook-timestamp or webhook-signature")
        try:
            timestamp = int(timestamp_text)
        except ValueError as exc:
            raise InvalidWebhook("webhook-timestamp is not a number of seconds") from exc
        if abs(self._clock() - timestamp) > self._tolerance:
            raise InvalidWebhook("webhook-timestamp is more than 5 minutes away from now")
        signed = f"{message_id}.{timestamp}.".encode() + body
        expected = base64.b64encode(hmac.new(self._key, signed, hashlib.sha256).digest())
        # Several space-separated signatures may come (while the sender rotates secrets); any v1 match will do.
        if not any(
            version == "v1" and hmac.compare_digest(signature.encode(), expected)
            for version, _, signature in (entry.partition(",") for entry in signatures.split())
        ):
            raise InvalidWebhook("no signature matches this body")
        try:
            payload = json.loads(body)
        except ValueError as exc:
            raise InvalidWebhook("the body is not JSON") from exc
        with self._lock:
            seen_at = self._accepted.get(message_id)
            if seen_at == timestamp:
                raise ReplayedWebhook(f"{message_id} at {timestamp} was already accepted")
            self._accepted[message_id] = timestamp
            self._accepted.move_to_end(message_id)
            while len(self._accepted) > self._memory:
                self._accepted.popitem(last=False)
        return Message(id=message_id, timestamp=timestamp, body=payload, first_time=seen_at is None)

    def forget(self, message_id: str) -> None:
        """Processing failed: let the sender's retry be processed."""
        with self._lock:
            self._accepted.pop(message_id, None)


def describe(event: dict) -> str:
    """One line for a webhook event, by the ticket it is about."""
    data = event.get("data", {})
    ticket = f"{data.get('source', '?')}/{data.get('external_id', '?')}"
    kind = event.get("type")
    if kind == "decision.created":
        categories = ", ".join(data.get("categories") or []) or "no category"
        who = data.get("reviewer") or "an automatic rule"
        where = f" in {data['queue']}" if data.get("queue") else ""
        if data.get("second_review"):
            return f"SECOND REVIEW {ticket}: {data.get('action')} ({categories}) by {who}{where}"
        return f"DECISION {ticket}: {data.get('action')} ({categories}) by {who}{where}"
    if kind == "decision.overturned":
        categories = ", ".join(data.get("categories") or []) or "no category"
        return (
            f"OVERTURNED {ticket}: {data.get('previous_action')} -> {data.get('action')} ({categories}) "
            f"by {data.get('overturned_by')} in QA"
        )
    if kind == "item.escalated":
        return f"escalated {ticket}: {data.get('from_queue')} -> {data.get('to_queue')} by {data.get('escalated_by')}"
    if kind == "item.routed":
        return f"routed {ticket}: {data.get('action')} -> {data.get('queue') or '(no queue)'}"
    if kind == "model.promoted":
        return f"model promoted: {data.get('name')} ({data.get('kind')})"
    return f"{kind} {ticket}"


def make_handler(verifier: WebhookVerifier, on_event: Callable[[dict], None]) -> type[BaseHTTPRequestHandler]:
    class WebhookHandler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the name http.server calls
            if self.path.rstrip("/") != "/webhooks":
                return self._answer(404, {"error": "POST webhooks to /webhooks"})
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY_BYTES:
                return self._answer(413, {"error": "body too large"})
            body = self.rfile.read(length)
            try:
                message = verifier.verify(body, dict(self.headers.items()))
            except ReplayedWebhook as exc:
                return self._answer(409, {"error": str(exc)})
            except InvalidWebhook as exc:
                return self._answer(401, {"error": str(exc)})
            if not message.first_time:
                return self._answer(200, {"status": "already processed"})
            try:
                on_event(message.body)
            except Exception as exc:  # noqa: BLE001 - the sender retries; let that retry be processed
                verifier.forget(message.id)
                return self._answer(500, {"error": f"processing failed: {exc}"})
            return self._answer(200, {"status": "processed"})

        def _answer(self, status: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            pass  # the printed events say what happened

    return WebhookHandler


def read_tickets(path: str) -> list[dict]:
    """Items for the API from the CSV: one report per ticket, by its reporter and reason."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    missing = {"source", "external_id", "text", "reporter", "reason"} - set(rows[0] if rows else {})
    if missing:
        raise SystemExit(f"{path} lacks the columns: {', '.join(sorted(missing))}")
    return [
        {
            "source": row["source"],
            "external_id": row["external_id"],
            "text": row["text"],
            "reports": [{"reporter_id": row["reporter"], "reason": row["reason"]}],
        }
        for row in rows
    ]


def send_tickets(client: httpx.Client, items: list[dict]) -> None:
    for start in range(0, len(items), BATCH_SIZE):
        response = client.post("/api/v1/items", json={"items": items[start : start + BATCH_SIZE]})
        if response.status_code != 200:
            raise SystemExit(f"The API refused the tickets ({response.status_code}): {response.text}")
        result = response.json()
        print(f"sent {len(items[start : start + BATCH_SIZE])} tickets: {result['created']} new items, "
              f"{result['merged']} reports added to existing ones")  # fmt: skip
        for row in result["results"]:
            print(f"  {row['source']}/{row['external_id']} -> item {row['id']} ({row['status']})")


def subscribe(client: httpx.Client, url: str) -> str:
    response = client.post(
        "/api/v1/webhooks/subscriptions",
        json={"url": url, "description": "ticketing bridge example", "event_types": [
            "decision.created", "decision.overturned", "item.escalated", "item.routed"]},
    )  # fmt: skip
    if response.status_code != 201:
        raise SystemExit(f"Could not subscribe {url} ({response.status_code}): {response.text}")
    print(f"subscribed {url} (subscription {response.json()['id']})")
    return response.json()["secret"]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("csv", nargs="?", help="tickets to send (source,external_id,text,reporter,reason)")
    parser.add_argument("--api", default="http://127.0.0.1:8000", help="the moderation service (%(default)s)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on for webhooks (%(default)s)")
    parser.add_argument("--port", type=int, default=8765, help="port to listen on for webhooks (%(default)s)")
    parser.add_argument("--subscribe", action="store_true", help="create the webhook subscription (admin scope)")
    args = parser.parse_args(argv)

    token = os.environ.get("MODERATION_TOKEN", "")
    if (args.csv or args.subscribe) and not token:
        parser.error("set MODERATION_TOKEN to an API token (items:write; admin too for --subscribe)")
    client = httpx.Client(base_url=args.api, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    endpoint = f"http://{args.host}:{args.port}/webhooks"
    secret = subscribe(client, endpoint) if args.subscribe else os.environ.get("WEBHOOK_SECRET", "")
    if not secret:
        parser.error("set WEBHOOK_SECRET to the subscription's whsec_... secret, or use --subscribe")
    # Listening before the tickets go out: their first events may arrive within milliseconds.
    handler = make_handler(WebhookVerifier(secret), lambda event: print(describe(event), flush=True))
    server = ThreadingHTTPServer((args.host, args.port), handler)
    if args.csv:
        send_tickets(client, read_tickets(args.csv))
    print(f"listening for webhooks on {endpoint}; decide the items at {args.api}/ and watch them arrive here")
    sys.stdout.flush()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
