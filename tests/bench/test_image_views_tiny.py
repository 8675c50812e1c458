"""The image-views benchmark's tiny configuration: its own PostgreSQL and Redis, gunicorn and one default-queue
worker; two 1,500 x 1,500 images viewed by four reviewers at once (about 60 s)."""

import os
import shutil
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_the_tiny_image_views_run_serves_stored_derivatives_within_the_memory_goal(capsys):
    if not shutil.which("redis-server") or not list(Path("/usr/lib/postgresql").glob("*/bin/initdb")):
        if os.environ.get("CI"):
            pytest.fail("CI must install PostgreSQL and Redis (the image-views run starts its own)")
        pytest.skip("needs PostgreSQL's server binaries and redis-server")
    from bench.image_views import main

    results = main(["--images", "2", "--side", "1500", "--concurrency", "4", "--rounds", "1", "--timeout", "240"])
    printed = capsys.readouterr().out
    assert "FIGURES " in printed and "web peak RSS per process" in printed
    # Before a worker made them: placeholders only, nothing decoded in the web process.
    assert results["views_before_derivatives"]["statuses"] == {202: 8}
    assert results["views"][0]["statuses"] == {200: 8}
    assert results["max_web_peak_rss_mb"] <= 300
