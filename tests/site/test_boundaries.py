"""Architecture rules that a refactor could break silently (DESIGN.md invariants 5 and 6)."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WEB_PROCESS = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "moderation_site.settings"
from moderation_site.wsgi import application
import moderation_site.urls, moderation_site.views
for app in ("api", "intake", "queues", "review", "quality", "learning", "classifiers", "webhooks", "audit"):
    for part in ("admin", "api", "views", "tasks", "urls"):
        try:
            __import__(f"{app}.{part}")
        except ModuleNotFoundError as missing:
            if missing.name != f"{app}.{part}":
                raise
from django.test import Client
Client().get("/accounts/login/")
Client().post("/api/v1/items", {}, content_type="application/json")
heavy = sorted(m for m in ("torch", "timm", "sentence_transformers", "transformers") if m in sys.modules)
print(",".join(heavy))
"""


def test_a_web_process_never_imports_torch_or_model_libraries(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", WEB_PROCESS],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "VAR_DIR": str(tmp_path), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"a web process imported {result.stdout.strip()}"


def _imported_modules(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add((str(path.relative_to(ROOT)), node.module.split(".")[0]))
            elif isinstance(node, ast.Import):
                found.update((str(path.relative_to(ROOT)), alias.name.split(".")[0]) for alias in node.names)
    return found


DOMAIN_APPS = {"api", "intake", "queues", "review", "quality", "learning"}


def test_classifiers_never_imports_a_domain_app():
    offenders = sorted(path for path, module in _imported_modules("classifiers") if module in DOMAIN_APPS)
    assert offenders == []


def test_only_classifier_model_code_imports_torch_and_timm():
    allowed = (
        "classifiers/inference/",
        "classifiers/head_training.py",
        "classifiers/legacy_head_files.py",
        "classifiers/fine_tuning.py",
        "classifiers/image_training.py",
        "classifiers/pretrained.py",
        "classifiers/text_tuning.py",
    )
    offenders = sorted(
        path
        for package in (
            "api",
            "intake",
            "queues",
            "review",
            "quality",
            "learning",
            "classifiers",
            "audit",
            "webhooks",
            "charts",
            "moderation_site",
        )
        for path, module in _imported_modules(package)
        if module in {"torch", "timm", "torchvision", "sentence_transformers"} and not path.startswith(allowed)
    )
    assert offenders == []


def test_webhooks_is_a_leaf_app_that_every_domain_app_can_call():
    offenders = sorted(
        path for path, module in _imported_modules("webhooks") if module in DOMAIN_APPS - {"api"} | {"classifiers"}
    )
    assert offenders == []
