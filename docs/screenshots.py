"""Take the README's screenshots from a running app (``make run``), in Debian's headless chromium.

    .venv/bin/python docs/screenshots.py --url http://127.0.0.1:8000 --username moderator --password ...

Writes docs/queues.png (the queue list) and docs/work-view.png (an item being worked). The work
view claims an item; the script skips it afterwards so nothing is decided.
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
        browser.close()
    print(f"wrote {HERE / 'queues.png'} and {HERE / 'work-view.png'}")


if __name__ == "__main__":
    main()
