"""Screenshots of a published site in headless Chromium, at a desktop and a phone width.

python scripts/screenshots.py SITE_DIR OUT_DIR [--pages index.html,country/IR.html,...] [--widths 1400,390]
                              [--tile HEIGHT]

Each page is saved as OUT_DIR/<page stem>-<width>.png (full page), and with --tile also cut into
OUT_DIR/<page stem>-<width>-<n>.png of HEIGHT pixels each (a long phone page is easier to look at in
pieces).  The site is opened from file://, as a reader would open it.  Uses Debian's chromium through
Playwright (the dev dependencies).  PNGs are for looking at; they are not committed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
PAGES = ("index.html", "country/IR.html", "country/EE.html", "methodology.html")
WIDTHS = (1400, 390)


def shoot(site: Path, out: Path, pages: list[str], widths: list[int], tile: int = 0) -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    written = []
    profile = tempfile.mkdtemp(prefix="nf-shots-")
    try:
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"],
            )
            page = context.new_page()
            for width in widths:
                page.set_viewport_size({"width": width, "height": 900})
                for rel in pages:
                    page.goto((site / rel).resolve().as_uri())
                    page.wait_for_load_state("load")
                    target = out / f"{rel.replace('/', '-').removesuffix('.html')}-{width}.png"
                    page.screenshot(path=str(target), full_page=True)
                    written.append(target)
                    height = int(page.evaluate("document.documentElement.scrollHeight"))
                    for n, top in enumerate(range(0, height, tile) if tile else ()):
                        piece = target.with_name(f"{target.stem}-{n}.png")
                        clip = {"x": 0, "y": top, "width": width, "height": min(tile, height - top)}
                        page.screenshot(path=str(piece), full_page=True, clip=clip)
                        written.append(piece)
            context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    return written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("site", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--pages", default=",".join(PAGES))
    parser.add_argument("--widths", default=",".join(map(str, WIDTHS)))
    parser.add_argument("--tile", type=int, default=0, help="Also cut each page into pieces this tall.")
    args = parser.parse_args()
    widths = [int(w) for w in args.widths.split(",")]
    for path in shoot(args.site, args.out, args.pages.split(","), widths, args.tile):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
