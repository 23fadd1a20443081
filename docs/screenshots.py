"""Screenshots for the README, taken from the real app: `zuoxi serve --demo` on a fresh database,
signed in as the demo inspector in Debian's chromium (Playwright), 1280 px wide.

    .venv/bin/python docs/screenshots.py        # writes docs/img/dashboard.png, detail.png and live.png
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import yaml
from playwright.sync_api import expect, sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the server harness the tests use
from live_server import running_app

HERE = Path(__file__).resolve().parent
DEMO = yaml.safe_load((HERE.parent / "zuoxi" / "web" / "demo_users.yaml").read_text(encoding="utf-8"))
WIDTH, MAX_HEIGHT = 1280, 1200  # a viewport-sized picture is what a reader takes in, and keeps the PNG small


def shoot(page, url: str, path: Path) -> None:
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(1200)  # Chart.js animates its charts in
    height = min(MAX_HEIGHT, page.evaluate("document.documentElement.scrollHeight"))
    page.screenshot(path=str(path), full_page=True, clip={"x": 0, "y": 0, "width": WIDTH, "height": height})
    print(f"{path.relative_to(HERE.parent)}: {path.stat().st_size / 1000:.0f} kB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / "img")
    parser.add_argument("--conversation", default="cp-001", help="the conversation shown on the detail page")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_app(str(Path(tmp) / "demo.db"), "--demo") as base,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=args.chromium)
        page = browser.new_page(base_url=base, viewport={"width": WIDTH, "height": 900}, locale="zh-CN")
        page.goto("/login")
        page.fill("input[name=username]", "qa")
        page.fill("input[name=password]", DEMO["password"])
        page.click("button[type=submit]")
        page.wait_for_selector("nav .who")
        listed = page.request.get("/api/conversations", params={"per_page": 500}).json()["items"]
        key = next(item["key"] for item in listed if item["id"] == args.conversation)
        shoot(page, "/", args.out / "dashboard.png")
        shoot(page, f"/conversations/{key}", args.out / "detail.png")
        page.goto(f"/live?conversation={key}")  # live assist: the same call replayed turn by turn
        page.select_option("#speed", "80")
        page.click("#play")
        expect(page.locator("#status")).to_have_text("回放完毕", timeout=30000)
        page.screenshot(path=str(args.out / "live.png"), clip={"x": 0, "y": 0, "width": WIDTH, "height": 900})
        print(f"docs/img/live.png: {(args.out / 'live.png').stat().st_size / 1000:.0f} kB")
        browser.close()


if __name__ == "__main__":
    main()
