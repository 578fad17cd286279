"""The README's pictures of the page: ``python -m tests.browser.screenshot [--models outputs/demo] [--out docs]``.

Starts the app on a model set (the demo models by default), uploads the real clip (``make real-clip``; the
synthetic default clip offline), waits for the playlist and saves ``app.png``; then runs the fake camera for a few
seconds and saves ``app_webcam.png``. Needs Chromium + chromedriver, like ``make test-app``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tests.browser.page import ROOT, AppServer, Page, chrome, fetch_real_clip, profile_dir, write_y4m


def main() -> None:
    """Take the screenshots."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default=str(ROOT / "outputs" / "demo"))
    ap.add_argument("--out", default=str(ROOT / "docs"))
    args = ap.parse_args()
    clip = fetch_real_clip() or ROOT / "data" / "synthetic" / "videos" / "default.mp4"
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as tmp, profile_dir() as prof:
        cam = write_y4m(clip, Path(tmp) / "cam.y4m", fps=15, seconds=8.0)
        server = AppServer([f"runs_dir={tmp}/runs", f"cache_dir={tmp}/gradio", f"models.default={args.models}"],
                           log=Path(tmp) / "app.log")  # fmt: skip
        d = chrome(prof, fake_video=cam, width=1280, height=2050)
        try:
            page = Page(d, server.url)
            page.open()
            page.upload(clip)
            print(page.analyse(300))
            time.sleep(3)  # the waveform and the video poster draw
            d.execute_script("window.scrollTo(0, 0)")
            d.save_screenshot(str(out / "app.png"))
            page.tab("Webcam")
            page.wait(lambda: page.css("#webcam [title='grant webcam access'] button"), 10, "webcam")[0].click()
            page.wait(lambda: page.css("#webcam button.capture-button"), 20, "record")[0].click()
            page.wait(lambda: int(page.css("#live-mood .live-mood")[0].get_attribute("data-update")) >= 20, 120, "")
            d.set_window_size(1280, 1000)
            d.save_screenshot(str(out / "app_webcam.png"))
        finally:
            d.quit()
            server.stop()
    print(f"wrote {out / 'app.png'} and {out / 'app_webcam.png'}")


if __name__ == "__main__":
    main()
