"""The benchmarks' tiny configurations: each bench/*.py run as a subprocess, in seconds, against this suite's services.

They prove that every benchmark still runs on today's schema and code (a column added without a default, a moved
module, a renamed service would fail here), not how fast anything is: the figures they print come from a few dozen
rows on a shared CI machine. Run them alone with ``pytest tests/bench`` (or ``make bench-tiny``).

PostgreSQL benchmarks work in databases of their own named after this suite's database (``<name>_bench_tiny_*``),
dropped when the session ends; the embedded ones in a temporary ``VAR_DIR``. The SpamAssassin benchmarks read the
80 mails in ``tests/fixtures/spam-assassin``; the Fashion-MNIST ones a small synthetic set in the same IDX format.
"""

import gzip
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
TINY_CORPUS = ROOT / "tests" / "fixtures" / "spam-assassin"
SHARED_ENV: dict[str, str] = {}  # set by session fixtures for every benchmark run (not for the rest of the suite)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "bench: a benchmark's tiny configuration (tests/bench, make bench-tiny)")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            item.add_marker(pytest.mark.bench)


def run_bench(script: str, *args: str, env: dict[str, str] | None = None, timeout: float = 280) -> str:
    """Run ``bench/<script>`` with ``args``; fail with the end of its output unless it exits 0. Returns stdout."""
    command = [PYTHON, str(ROOT / "bench" / script), *args]
    full_env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "TORCH_THREADS": "1",
        "INFERENCE_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        "LOG_LEVEL": "WARNING",
        **SHARED_ENV,
        **(env or {}),
    }
    try:
        done = subprocess.run(command, cwd=ROOT, env=full_env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"bench/{script} ran over {timeout:.0f} s; output so far:\n{(exc.stdout or '')[-3000:]}")
    if done.returncode != 0:
        pytest.fail(
            f"bench/{script} {' '.join(args)} exited {done.returncode}\n--- stdout (end):\n{done.stdout[-4000:]}"
            f"\n--- stderr (end):\n{done.stderr[-4000:]}"
        )
    return done.stdout


def figure(pattern: str, output: str) -> re.Match:
    """The first line of ``output`` matching ``pattern`` (a figure line), or fail showing the output."""
    found = re.search(pattern, output, re.MULTILINE)
    if found is None:
        pytest.fail(f"no line matching {pattern!r} in the benchmark's output:\n{output[-4000:]}")
    return found


# --------------------------------------------------------------------------------------------
# Services


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """This suite's PostgreSQL URL; its database is created when it does not exist (the benchmarks connect to it)."""
    url = os.environ.get("DATABASE_URL", "")
    if urlparse(url).scheme not in {"postgres", "postgresql"}:
        pytest.skip("the benchmarks need PostgreSQL (DATABASE_URL); scripts/with-services.sh provides it")
    import psycopg

    name = urlparse(url).path.lstrip("/")
    with psycopg.connect(urlunparse(urlparse(url)._replace(path="/postgres")), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
    return url


@pytest.fixture(scope="session")
def redis_url() -> str:
    url = os.environ.get("REDIS_URL", "")
    if not url.startswith("redis"):
        pytest.skip("the benchmark needs Redis (REDIS_URL); scripts/with-services.sh provides it")
    return url


@pytest.fixture(scope="session")
def bench_database(postgres_url: str):
    """A function naming a bench database of this session (``<suite db>_bench_tiny_<what>``); all dropped at the end."""
    import psycopg

    base = urlparse(postgres_url).path.lstrip("/")
    names: list[str] = []

    def name(what: str) -> str:
        names.append(f"{base[:30]}_bench_tiny_{what}")
        return names[-1]

    # One migrated database the benchmarks' own databases are copied from (bench_postgres.create_database_sql):
    # each still runs migrate, which then has nothing to do, instead of ~6 s of CPU per benchmark.
    template = name("template")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{template}"')
    env = {**os.environ, "DATABASE_URL": database_url(postgres_url, template), "LOG_LEVEL": "WARNING"}
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    SHARED_ENV["BENCH_POSTGRES_TEMPLATE"] = template
    yield name
    SHARED_ENV.pop("BENCH_POSTGRES_TEMPLATE", None)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        for database in set(names):
            conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def database_url(postgres_url: str, name: str) -> str:
    return urlunparse(urlparse(postgres_url)._replace(path="/" + name))


@pytest.fixture(scope="session")
def empty_database(postgres_url: str, bench_database):
    """A function creating an empty bench database and returning its URL (for benchmarks that migrate it)."""
    import psycopg

    def create(what: str) -> str:
        name = bench_database(what)
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{SHARED_ENV["BENCH_POSTGRES_TEMPLATE"]}"')
        return database_url(postgres_url, name)

    return create


# --------------------------------------------------------------------------------------------
# Data the benchmarks share


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory):
    """One migrated SQLite database the embedded benchmarks start from (bench_embedded.py copies it, then migrates)."""
    var = tmp_path_factory.mktemp("bench-sqlite-template")
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    subprocess.run([PYTHON, "manage.py", "migrate", "-v0"], cwd=ROOT, env={**env, "VAR_DIR": str(var)}, check=True)
    SHARED_ENV["BENCH_SQLITE_TEMPLATE"] = str(var / "db.sqlite3")
    yield
    SHARED_ENV.pop("BENCH_SQLITE_TEMPLATE", None)


@pytest.fixture(scope="session")
def bench_var(tmp_path_factory: pytest.TempPathFactory, sqlite_template) -> Path:
    """The ``VAR_DIR`` of the text benchmarks: bench/text_quality.py caches the tiny corpus's embeddings here."""
    return tmp_path_factory.mktemp("bench-var")


@pytest.fixture(scope="session")
def text_quality_output(bench_var: Path) -> str:
    """bench/text_quality.py on the tiny corpus; it fills the embedding cache the other text benchmarks read."""
    return run_bench(
        "text_quality.py", str(TINY_CORPUS), "--curve", "20", "--draws", "2", "--splits", "2",
        "--synthetic-rows", "0", "--encoder-sample", "16",
        env={"VAR_DIR": str(bench_var)},
    )  # fmt: skip


@pytest.fixture(scope="session")
def claims_run(bench_database) -> tuple[str, str]:
    """bench/claims.py generating a tiny database and claiming from it: (database name, output)."""
    name = bench_database("claims")
    output = run_bench(
        "claims.py", "--database", name, "--pending", "400", "--decided", "400", "--queues", "2",
        "--claimers", "4", "--processes", "2", "--items", "40", "--baseline", "10", "--max-seconds", "60",
    )  # fmt: skip
    return name, output


@pytest.fixture(scope="session")
def api_lists_run(bench_database) -> tuple[str, str]:
    """bench/api_lists.py on 2,000 generated items: (database name, output)."""
    name = bench_database("api")
    output = run_bench(
        "api_lists.py", "--database", name, "--fresh", "--items", "2000", "--requests", "3", "--goal-ms", "0"
    )
    return name, output


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file (the MNIST format) of uint8 data, gzipped, as the Debian package ships them."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    with gzip.open(path, "wb") as handle:
        handle.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="session")
def fashion_dir(tmp_path_factory: pytest.TempPathFactory, sqlite_template) -> Path:
    """A synthetic stand-in for Fashion-MNIST: 28x28 greyscale, 10 classes, each a bar at its own height plus noise.

    The benchmarks only need four IDX files of the package's layout; the classes are learnable, so the
    accuracies printed are not chance, but they say nothing about Fashion-MNIST.
    """
    folder = tmp_path_factory.mktemp("fashion-mnist")
    rng = np.random.default_rng(0)
    for prefix, count in (("train", 300), ("t10k", 100)):
        labels = np.arange(count) % 10
        rng.shuffle(labels)
        images = rng.integers(0, 60, size=(count, 28, 28))
        for index, label in enumerate(labels):
            images[index, 2 + 2 * label : 5 + 2 * label, 4:24] = 230
        write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder
