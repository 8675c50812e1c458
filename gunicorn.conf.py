"""Gunicorn settings, read from the working directory by `make run`, the Procfile and bench/ingest.py.

Command-line flags still override these (the bench passes ``-w``).
"""

import gc
import os
import shutil
from pathlib import Path

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads let one worker overlap its database round trips and keep client connections open
# (HTTP keep-alive), which the sync worker closes after every response.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
keepalive = 5
timeout = 60

# Prometheus (ops.metrics): each web process writes its request histograms to files here, and a scrape of any
# process adds up all of them. Set before the workers start, so they import prometheus_client in that mode.
METRICS_DIR = Path(
    os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(Path(os.environ.get("VAR_DIR", "var")) / "prometheus"))
)


def on_starting(server) -> None:  # noqa: ANN001 - gunicorn's hook signature
    """A new master starts from empty metric files: the last run's processes are gone."""
    shutil.rmtree(METRICS_DIR, ignore_errors=True)
    METRICS_DIR.mkdir(parents=True, exist_ok=True)


def child_exit(server, worker) -> None:  # noqa: ANN001
    """A web process that exits stops counting in the live gauges (its counters and histograms stay)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def post_worker_init(worker) -> None:  # noqa: ANN001 - gunicorn's hook signature
    """Load every view module now, then move everything loaded so far out of the garbage collector's way.

    Django, DRF and the project's modules live as long as the process. Left in the collected heap,
    the collector re-examines them on every full collection: ~45 ms of each 500-item batch request.
    Frozen, ~14 ms. (The same technique Instagram described for its Django web servers.)
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - importing the URLconf imports every view
    gc.freeze()
    return_large_frees_to_the_system()


# glibc's M_MMAP_THRESHOLD (mallopt parameter -3). By default glibc raises its mmap threshold after the first
# large free, so the next decoded image (Pillow allocates frames in 16 MB blocks) comes from the heap and stays
# in the process after it is freed: with 4 threads each keeping one, uploads of near-limit images ran a web
# process to 597 MB (bench/image_views.py). A fixed 1 MB threshold keeps every block above it in mmap, returned
# to the system on free.
M_MMAP_THRESHOLD = -3


def return_large_frees_to_the_system() -> None:
    """Fix glibc's mmap threshold at 1 MB in this process (no-op where libc is not glibc)."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        libc.mallopt(M_MMAP_THRESHOLD, 1 << 20)
    except (OSError, AttributeError):
        pass
