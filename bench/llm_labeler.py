#!/usr/bin/env python
"""The LLM labeler's overhead against a fixed-delay endpoint, the small local model's own speed, and its kappa.

    .venv/bin/python bench/llm_labeler.py [--items 400] [--delay 0.1] [--concurrency 8]
        [--model-requests 6] [--threads 1] [--spamassassin var/datasets/spam-assassin --sample 40]

1. Overhead. A real loopback endpoint (``scripts/fake_llm_server.py`` as a process, ``ok`` mode) answers every
   request after ``--delay`` seconds and serves at most ``--concurrency`` at once, so its own limit is
   concurrency / delay requests per second. A bulk run (``labeling.llm_runs``: thread pool, strict validation,
   budget reserved in blocks, results written in small batches) labels ``--items`` items through it on the
   embedded set-up (SQLite under a temporary ``VAR_DIR``). It prints items per second and that as a share of the
   endpoint's limit, and, measured in the same run, what a bare httpx client with as many threads gets from the
   same endpoint (the machine's share).
2. Model speed. ``scripts/llm_server.py`` (SmolLM2-135M-Instruct, torch on ``--threads`` threads) is started as a
   process; ``--model-requests`` schema-guided verdict requests are sent one at a time. It prints the server's
   completion tokens per second, prompt tokens and the wall time per request (0 skips this part).
3. With ``--spamassassin``: a stratified sample of ``--sample`` messages, asked through a run against the real
   model with a "spam" prompt, and Cohen's kappa of its verdicts against the corpus's spam/ham labels.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_embedded import setup_embedded_django  # noqa: E402

SPAM_POLICY = (
    "Spam: unsolicited bulk messages, mostly commercial: advertising, get-rich-quick offers, pills, loans, "
    "phishing and other scams. Ordinary personal or work e-mail, newsletters people subscribed to and mailing-list "
    "discussions are not spam."
)
EXAMPLES = [
    {"text": "Cheap meds online!!! No prescription. Click here.", "violates": True, "rationale": "Bulk pill advert."},
    {"text": "Hi Tom, the meeting moved to 3pm. See you there.", "violates": False, "rationale": "Personal message."},
]


def _labeler(base_url: str, *, concurrency: int, timeout: float, name: str):
    from classifiers.models import PolicyCategory
    from labeling import llm_runs
    from labeling.models import LLMEndpoint

    category = PolicyCategory.objects.get(slug="spam")
    prompt = llm_runs.create_prompt_version(category=category, policy_text=SPAM_POLICY, examples=EXAMPLES)
    endpoint = LLMEndpoint.objects.create(
        name=name,
        base_url=base_url,
        model=name,
        concurrency=concurrency,
        timeout_seconds=timeout,
        daily_token_budget=10**12,
        max_attempts=1,
    )
    return llm_runs.llm_labeler_for(prompt=prompt, endpoint=endpoint)


def _items(texts: list[str], tag: str) -> list[int]:
    from intake.models import Item

    rows = [Item(source=f"bench.{tag}", external_id=f"{tag}-{i}", text=t) for i, t in enumerate(texts)]
    return [item.pk for item in Item.objects.bulk_create(rows)]


def overhead(args: argparse.Namespace) -> dict[str, float]:
    from labeling import llm_runs

    # The endpoint is a process of its own, so its work does not share this process's interpreter lock.
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "fake_llm_server.py"), "--port", "0"]
        + ["--delay", str(args.delay), "--limit", str(args.concurrency)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = server.stdout.readline().split("listening on ", 1)[1].split("/<mode>")[0]
        labeler = _labeler(f"{base_url}/ok/v1", concurrency=args.concurrency, timeout=30, name="fixed-delay")
        ids = _items([f"message number {i}: hello" for i in range(args.items)], "overhead")
        baseline = bare_client_rate(f"{base_url}/ok/v1", args)
        run = llm_runs.start_llm_run(labeler=labeler, item_ids=ids)
        started = time.perf_counter()
        llm_runs.process_llm_run(run_id=run.pk, max_seconds=3600)
        seconds = time.perf_counter() - started
        progress = llm_runs.run_progress(run)
    finally:
        server.terminate()
        server.wait(timeout=10)
    limit = args.concurrency / args.delay
    rate = progress.done / seconds
    print(
        f"overhead: {progress.done}/{args.items} items in {seconds:.2f} s = {rate:.1f} items/s; endpoint limit "
        f"{args.concurrency} x 1/{args.delay:g} s = {limit:.1f}/s; throughput {100 * rate / limit:.1f}% of the limit"
    )
    print(
        f"baseline: a bare httpx client with {args.concurrency} threads, same run: {baseline:.1f} requests/s "
        f"({100 * baseline / limit:.1f}% of the limit); the labeler reaches {100 * rate / baseline:.1f}% of it"
    )
    return {"rate": rate, "limit": limit, "share": rate / limit, "done": progress.done, "baseline": baseline}


def bare_client_rate(url: str, args: argparse.Namespace) -> float:
    """Requests per second of plain concurrent POSTs, no validation, no database: what the machine allows."""
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    body = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
    with httpx.Client() as client, ThreadPoolExecutor(args.concurrency) as pool:
        started = time.perf_counter()
        list(pool.map(lambda _: client.post(f"{url}/chat/completions", json=body), range(args.items)))
        return args.items / (time.perf_counter() - started)


def start_model_server(threads: int) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": str(threads)}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "llm_server.py"), "--port", "0", "--threads", str(threads)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    started = time.perf_counter()
    line = process.stdout.readline()
    if not line.startswith("listening on "):
        process.kill()
        raise SystemExit("the model server did not start")
    print(f"model server up in {time.perf_counter() - started:.1f} s (load and convert the GGUF)")
    return process, line.split("listening on ", 1)[1].strip()


def model_speed(base_url: str, args: argparse.Namespace) -> dict[str, float]:
    import httpx

    from labeling.llm_client import PolicyQuestion, answer_schema, build_messages

    question = PolicyQuestion("spam", "Spam", SPAM_POLICY, max_rationale_chars=200)
    texts = [
        "You have WON a $1000 gift card!!! Reply with your bank PIN to claim it today.",
        "Hi all, the build is fixed; please rebase on main before you push.",
        "Lowest mortgage rates in 30 years. Refinance now, no credit check.",
    ]
    rates, walls, prompts, completions = [], [], [], []
    with httpx.Client(timeout=600) as client:
        for i in range(args.model_requests):
            body = {
                "messages": build_messages(question, texts[i % len(texts)]),
                "response_format": {"type": "json_schema", "json_schema": {"schema": answer_schema(question)}},
            }
            started = time.perf_counter()
            answer = client.post(f"{base_url}/chat/completions", json=body).json()
            walls.append(time.perf_counter() - started)
            rates.append(answer["timing"]["completion_tokens_per_second"])
            prompts.append(answer["usage"]["prompt_tokens"])
            completions.append(answer["usage"]["completion_tokens"])
        # Free text, no schema: every completion token is decoded by the model (none is written by the server).
        free = {"messages": [{"role": "user", "content": "Explain what e-mail spam is."}], "max_tokens": 64}
        free_answer = client.post(f"{base_url}/chat/completions", json=free).json()
    mean = sum(rates) / len(rates)
    free_rate = free_answer["timing"]["completion_tokens_per_second"]
    print(
        f"model: SmolLM2-135M-Instruct on {args.threads} torch thread(s): {mean:.1f} completion tokens/s "
        f"(schema-guided: JSON keys and punctuation are written by the server, values by the model; incl. prompt "
        f"processing), {sum(prompts) / len(prompts):.0f} prompt + {sum(completions) / len(completions):.0f} "
        f"completion tokens per request, {sum(walls) / len(walls):.2f} s per request over {len(walls)} requests; "
        f"free generation {free_rate:.1f} tokens/s ({free_answer['usage']['completion_tokens']} tokens)"
    )
    return {
        "tokens_per_second": mean,
        "free_tokens_per_second": free_rate,
        "seconds_per_request": sum(walls) / len(walls),
    }


def spamassassin_sample(root: Path, sample: int, max_chars: int) -> tuple[list[Path], list[str], list[bool]]:
    """The stratified sample (seed 0) the LLM is asked about: half spam, half ham, each cut at ``max_chars``."""
    import numpy as np

    from classifiers.corpora import is_spam_file, read_mail, spamassassin_files

    rng = np.random.default_rng(0)
    files = spamassassin_files(root)
    spam = [f for f in files if is_spam_file(f)]
    ham = [f for f in files if not is_spam_file(f)]
    half = sample // 2
    picked = [(p, True) for p in rng.choice(spam, half, replace=False)]
    picked += [(p, False) for p in rng.choice(ham, sample - half, replace=False)]
    paths = [Path(p) for p, _ in picked]
    return paths, [read_mail(p).text[:max_chars] for p in paths], [is_spam for _, is_spam in picked]


def run_llm_over(base_url: str, item_ids: list[int]) -> tuple[int, float]:
    """One bulk run of the spam prompt on the local model over ``item_ids``: (run id, seconds)."""
    from labeling import llm_runs

    labeler = _labeler(base_url, concurrency=1, timeout=600, name="SmolLM2-135M-Instruct")
    run = llm_runs.start_llm_run(labeler=labeler, item_ids=item_ids)
    started = time.perf_counter()
    llm_runs.process_llm_run(run_id=run.pk, max_seconds=36000)
    return run.pk, time.perf_counter() - started


def spamassassin_kappa(base_url: str, args: argparse.Namespace) -> dict[str, float]:
    from labeling.models import LLMResult
    from quality.agreement import cohen_kappa

    _, texts, truth = spamassassin_sample(Path(args.spamassassin), args.sample, args.max_chars)
    ids = _items(texts, "spamassassin")
    run_id, seconds = run_llm_over(base_url, ids)
    results = LLMResult.objects.filter(run_id=run_id, state=LLMResult.State.DONE)
    verdicts = dict(results.values_list("item_id", "verdict"))
    pairs = [(truth[i], verdicts[pk]) for i, pk in enumerate(ids) if pk in verdicts]
    kappa = cohen_kappa(pairs)
    agree = sum(a == b for a, b in pairs) / len(pairs) if pairs else 0.0
    said_spam = sum(v for _, v in pairs)
    print(
        f"spamassassin: {len(pairs)}/{len(ids)} answered in {seconds:.0f} s; LLM says spam for {said_spam}; "
        f"agreement {100 * agree:.1f}%, Cohen's kappa {kappa if kappa is None else round(kappa, 3)}"
    )
    return {"kappa": kappa if kappa is not None else float("nan"), "answered": len(pairs)}


def main(argv: list[str] | None = None) -> dict[str, dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=400)
    parser.add_argument("--delay", type=float, default=0.1, help="the endpoint's fixed delay per answer, seconds")
    parser.add_argument("--concurrency", type=int, default=8, help="the endpoint's limit and the labeler's setting")
    parser.add_argument("--model-requests", type=int, default=6)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--spamassassin", default="")
    parser.add_argument("--sample", type=int, default=40)
    parser.add_argument("--max-chars", type=int, default=1500, help="message characters sent to the model")
    args = parser.parse_args(argv)
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as var:
        from django.apps import apps

        if not apps.ready:  # the tiny test runs main() inside the test suite's Django, on its test database
            setup_embedded_django(Path(var))
        figures["overhead"] = overhead(args)
        if args.model_requests or args.spamassassin:
            process, base_url = start_model_server(args.threads)
            try:
                if args.model_requests:
                    figures["model"] = model_speed(base_url, args)
                if args.spamassassin:
                    figures["spamassassin"] = spamassassin_kappa(base_url, args)
            finally:
                process.terminate()
                process.wait(timeout=30)
    return figures


if __name__ == "__main__":
    main()
