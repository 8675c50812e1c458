"""Accessibility scans with axe-core (vendored under tests/browser/vendor/, never served by the app)."""

from pathlib import Path

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
BLOCKING = {"serious", "critical"}


def serious_violations(page) -> list[str]:  # noqa: ANN001 - a Playwright Page
    """axe's serious and critical violations on the page as loaded, one line each (rule, impact, first targets).

    The page's context must bypass the CSP (``bypass_csp=True``): axe is injected as an inline script, which
    the application's CSP rightly forbids.
    """
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]
