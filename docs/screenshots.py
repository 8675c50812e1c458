"""Take the README's screenshots from a running app (``make run``), in Debian's headless chromium.

    .venv/bin/python docs/screenshots.py --url http://127.0.0.1:8000 --username moderator --password ...

Writes docs/queues.png (the queue list) and docs/work-view.png (an item being worked). The work
view claims an item; the script skips it afterwards so nothing is decided. With ``--lead-username`` and
``--lead-password`` (a lead or an admin), also the console: docs/console-search.png (search with its
filters and bulk panel), docs/console-bulk-confirm.png (the confirmation; nothing is started) and
docs/console-team.png (the team page).
"""

import argparse
from pathlib import Path

from playwright.sync_api import sync_playwright

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="moderator")
    parser.add_argument("--password", required=True)
    parser.add_argument("--queue", default="scams-spam", help="Slug of the queue to show in the work view.")
    parser.add_argument("--lead-username", help="A lead or admin, for the console's pages.")
    parser.add_argument("--lead-password")
    parser.add_argument("--search", default="free", help="What the console screenshot searches for.")
    args = parser.parse_args()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900})
        page.goto(f"{args.url}/accounts/login/")
        page.fill("#id_username", args.username)
        page.fill("#id_password", args.password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{args.url}/")
        page.screenshot(path=str(HERE / "queues.png"), full_page=True)
        page.goto(f"{args.url}/queues/{args.queue}/")
        page.wait_for_selector(".workspace")
        page.screenshot(path=str(HERE / "work-view.png"), full_page=False)
        skip = page.locator("#skip")
        if skip.count():
            skip.click()
        if args.lead_username:
            console_screenshots(browser, args)
        browser.close()
    print(f"wrote {HERE / 'queues.png'} and {HERE / 'work-view.png'}")


def console_screenshots(browser, args: argparse.Namespace) -> None:  # noqa: ANN001 - a playwright Browser
    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    page.goto(f"{args.url}/accounts/login/")
    page.fill("#id_username", args.lead_username)
    page.fill("#id_password", args.lead_password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{args.url}/")
    page.goto(f"{args.url}/console/?q={args.search}")
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.keyboard.press("j")
    page.keyboard.press("x")
    page.screenshot(path=str(HERE / "console-search.png"), full_page=False)
    page.select_option("#bulk-kind", "move")
    page.select_option("#bulk-queue", index=1)
    page.click("button[name=scope][value=selected]")
    page.wait_for_selector("#confirm-summary")
    page.screenshot(path=str(HERE / "console-bulk-confirm.png"), full_page=False)
    page.goto(f"{args.url}/console/team/")
    page.screenshot(path=str(HERE / "console-team.png"), full_page=True)
    page.close()
    print(f"wrote {HERE / 'console-search.png'}, {HERE / 'console-bulk-confirm.png'}, {HERE / 'console-team.png'}")


if __name__ == "__main__":
    main()
