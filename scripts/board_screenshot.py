"""Take the README's screenshot of the wall chart: docs/board.png, the top of the demo's board.

Run: python scripts/board_screenshot.py [--demo-dir DIR] [--output docs/board.png]
It runs `workflow demo` into DIR (default: a temporary directory) and opens its board.html in
headless Chromium (Debian's `chromium`, driven by Playwright, as tests/test_board.py does) at
1400 x 1000. Install a CJK font first (Debian: fonts-noto-cjk), or the Chinese shows as boxes.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--demo-dir", type=Path, help="where the demo goes (default: a temp dir)")
    ap.add_argument("--output", type=Path, default=ROOT / "docs" / "board.png")
    args = ap.parse_args(argv)
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        print("Error: Chromium is not installed (Debian: apt-get install chromium)",
              file=sys.stderr)
        return 1
    from playwright.sync_api import sync_playwright

    from workflow.demo import run

    with tempfile.TemporaryDirectory() as tmp:
        demo_dir = args.demo_dir or Path(tmp)
        board = Path(run(output_dir=demo_dir)["files"]["wall chart"])
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.goto(board.as_uri())
                page.screenshot(path=str(args.output))
            finally:
                browser.close()
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
