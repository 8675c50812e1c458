"""Install the lock with uv, from the package indexes pip is configured with (`make setup` runs this).

    .venv/bin/python scripts/install_with_uv.py

uv installs this project's 5.5 GB lock in a fraction of pip's time (bench/RESULTS.md), but it does not read
pip's configuration, and this machine's indexes are set there (`pip config list`: extra-index-url, find-links, a
constraint file, a CA bundle, some of them as PIP_* environment variables). This reads pip's effective settings for
`pip install` (`pip config list`, which includes the PIP_* variables; the environment overrides the [install]
section, which overrides [global]) and passes them to uv as options, so that uv installs what pip would.

A setting it cannot translate is an error, not something to skip: uv could then install other files than pip, so
the caller (`make setup`) falls back to pip. The same goes for any failure of uv itself.

Pip looks for a version in its index-url and every extra-index-url alike and takes the best; uv's equivalent is
``--index-strategy unsafe-best-match`` (its default stops at the first index that has the package at all: celery
is in /opt/pypi/simple here, but not at the pinned version).
"""

import ast
import os
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ["requirements.txt", "requirements-nodeps.txt"]
PIP_DEFAULT_INDEX = "https://pypi.org/simple"
# pip's sections for `pip install`, lowest precedence first (pip's ConfigOptionParser orders them the same way)
SECTIONS = ("global", "install", ":env:")
# Settings that change how pip talks or what it prints, not which files it installs
NO_EFFECT_ON_FILES = {
    "disable-pip-version-check",
    "progress-bar",
    "quiet",
    "verbose",
    "no-color",
    "no-input",
    "cache-dir",
    "no-cache-dir",
    "root-user-action",
    "require-virtualenv",
    "no-warn-script-location",
    "no-python-version-warning",
    "retries",
}
TRUE_WORDS = {"1", "true", "yes", "on", "y", "t"}


class UntranslatableSetting(Exception):
    """A pip setting with no safe uv equivalent here: install with pip instead."""


def effective_settings(pip_config_list: str) -> dict[str, str]:
    """Each setting `pip install` would use, from the output of `pip config list` ("section.name='value'")."""
    by_section: dict[str, dict[str, str]] = {section: {} for section in SECTIONS}
    for line in pip_config_list.splitlines():
        if not line.strip():
            continue
        key, separator, value = line.partition("=")
        section, dot, name = key.rpartition(".")
        if not separator or not dot:
            raise UntranslatableSetting(f"cannot read this line of `pip config list`: {line!r}")
        if section in by_section:
            by_section[section][name.replace("_", "-")] = ast.literal_eval(value)
    settings: dict[str, str] = {}
    for section in SECTIONS:
        settings.update(by_section[section])
    return settings


def uv_options(settings: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """uv's command-line options and environment for pip's settings; raises UntranslatableSetting."""
    options = ["--index-strategy", "unsafe-best-match", "--default-index", PIP_DEFAULT_INDEX]
    environment: dict[str, str] = {}
    for name, value in settings.items():
        words = value.split()
        if name == "index-url":
            options[3] = value.strip()
        elif name == "extra-index-url":
            options += [option for url in words for option in ("--index", url)]
        elif name == "find-links":
            options += [option for place in words for option in ("--find-links", place)]
        elif name == "constraint":
            options += [option for path in words for option in ("--constraints", path)]
        elif name == "cert":
            options += ["--cert", value.strip()]
        elif name == "trusted-host":
            options += [option for host in words for option in ("--allow-insecure-host", host)]
        elif name == "no-index":
            if value.strip().lower() in TRUE_WORDS:
                options.append("--no-index")
        elif name in ("default-timeout", "timeout"):
            environment["UV_HTTP_TIMEOUT"] = str(int(float(value)))
        elif name not in NO_EFFECT_ON_FILES:
            raise UntranslatableSetting(f"pip setting {name}={value!r} has no translation to uv here")
    return options, environment


def main() -> int:
    python = sys.executable
    uv = Path(python).parent / "uv"
    listed = subprocess.run([python, "-m", "pip", "config", "list"], capture_output=True, text=True, check=True)
    try:
        options, environment = uv_options(effective_settings(listed.stdout))
    except (UntranslatableSetting, ValueError, SyntaxError) as error:
        print(f"install_with_uv: {error}", file=sys.stderr)
        return 2
    requirements = [option for path in REQUIREMENTS for option in ("-r", str(ROOT / path))]
    # --no-deps: requirements.txt is the whole lock (see the Makefile); --no-config: no uv.toml may add settings pip
    # does not have. --compile-bytecode: pip compiles too, and without it the first start compiles in every process.
    command = [str(uv), "pip", "install", "--no-config", "--no-deps", "--compile-bytecode", "--python", python]
    command += options + requirements
    print("install_with_uv:", shlex.join(command), flush=True)
    return subprocess.run(command, env={**os.environ, **environment}, check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
