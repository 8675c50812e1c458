"""Gunicorn settings, read from the working directory by `make run`, the Procfile and bench/ingest.py.

Command-line flags still override these (the bench passes ``-w``).
"""

import gc
import os

workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threads let one worker overlap its database round trips and keep client connections open
# (HTTP keep-alive), which the sync worker closes after every response.
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", "4"))
keepalive = 5
timeout = 60


def post_worker_init(worker) -> None:  # noqa: ANN001 - gunicorn's hook signature
    """Load every view module now, then move everything loaded so far out of the garbage collector's way.

    Django, DRF and the project's modules live as long as the process. Left in the collected heap,
    the collector re-examines them on every full collection: ~45 ms of each 500-item batch request.
    Frozen, ~14 ms. (The same technique Instagram described for its Django web servers.)
    """
    from django.urls import get_resolver

    get_resolver().url_patterns  # noqa: B018 - importing the URLconf imports every view
    gc.freeze()
