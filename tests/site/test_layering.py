"""Imports run one way (docs/architecture.md): no module imports one that imports it back, and no app imports a
higher layer. Read from the source, function-level imports included, so a circle cannot hide inside a function."""

import ast
import graphlib
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Top to bottom, as in docs/architecture.md. An app imports only apps of lower layers; apps in one layer are peers
# that never import each other.
LAYERS = [
    ["moderation_site"],
    ["console"],
    ["accounts", "labeling", "ops"],
    ["quality", "learning"],
    ["review"],
    ["queues", "wellness"],
    ["intake"],
    ["classifiers"],
    ["webhooks"],
    ["api", "audit", "charts"],
]
NOT_APPS = {"tests", "bench", "docs", "examples", "scripts", "static", "templates", "var", "node_modules"}


def _packages() -> list[str]:
    return sorted(
        path.name
        for path in ROOT.iterdir()
        if path.is_dir() and (path / "__init__.py").exists() and path.name not in NOT_APPS and path.name[0] != "."
    )


def _modules() -> dict[str, Path]:
    found = {}
    for package in _packages():
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(modules: dict[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - node.level + 1] + ([base] if base else []))
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            for target in targets:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(target + "."):
                    graph[name].add(target)
    return graph


def test_every_app_has_a_place_in_the_layers():
    placed = {app for layer in LAYERS for app in layer}
    assert set(_packages()) <= placed, f"add {sorted(set(_packages()) - placed)} to LAYERS and docs/architecture.md"


def test_no_module_imports_a_module_that_imports_it_back():
    graph = _imports(_modules())
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as circle:
        raise AssertionError(f"import circle: {' -> '.join(circle.args[1])}") from None


def test_apps_import_only_lower_layers():
    level = {app: index for index, layer in enumerate(LAYERS) for app in layer}
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in _imports(_modules()).items()
        for target in targets
        if (app := module.split(".")[0]) != (other := target.split(".")[0]) and level[other] <= level[app]
    )
    assert not wrong, "imports against the layers:\n" + "\n".join(wrong)
