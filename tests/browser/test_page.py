"""The web page in a real browser (headless Chromium + Selenium): `make test-app`, not `make test`.

The app runs as ``python -m emotune.app`` on the tiny checkpoints the session fixtures train; Chromium is offline
(no host but 127.0.0.1 resolves) and logs every request, so a page that fetched anything from the internet fails.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.browser.page import AppServer, Page, foreign, requested_urls

pytestmark = [pytest.mark.browser, pytest.mark.page]

STARTUP_S = 30.0  # the target: the page is up within 30 s of `make app`
UPDATES_PER_S = 2.0  # the webcam stream shows an updated mood at least twice a second


@pytest.fixture(scope="module")
def page(driver, app: AppServer) -> Page:
    p = Page(driver, app.url)
    p.open()
    return p


def run_dirs(app: AppServer) -> list[Path]:
    root = app.runs_dir  # type: ignore[attr-defined]
    return sorted(p for p in root.iterdir() if p.name != ".staging") if root.is_dir() else []


def staging(app: AppServer) -> list[Path]:
    st = app.runs_dir / ".staging"  # type: ignore[attr-defined]
    return [p for p in st.iterdir() if p.name not in ("preload", "live")] if st.is_dir() else []


def test_page_is_up_fast_and_fetches_nothing_outside(page: Page, app: AppServer) -> None:
    print(f"\n[measured] page up {app.startup_s:.1f} s after `python -m emotune.app` started")
    assert app.startup_s < STARTUP_S, f"the page took {app.startup_s:.1f} s to come up"
    assert [t.text for t in page.css("button[role=tab]")][:3] == ["Video file", "Webcam", "Manual mood"]
    urls = requested_urls(page.d)
    assert urls and not foreign(urls), foreign(urls)


def test_clip_gives_playlist_players_timeline_and_video(page: Page, app: AppServer, clip: Path) -> None:
    page.upload(clip)
    t0 = time.perf_counter()
    status = page.analyse()
    print(f"\n[measured] {clip.name}: playlist and annotated video {time.perf_counter() - t0:.1f} s after Analyse")
    assert "Done" in status, status
    rows = page.wait(page.table_rows, 20, "the playlist table")
    assert len(rows) >= 1 and all(r[-1] for r in rows), rows  # every song has its why
    # the timeline figure is shown (an image that decoded)
    img = page.wait(lambda: page.css("#timeline img"), 20, "timeline.png")[0]
    assert page.d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) > 100
    # at least one song's audio plays: its player's file (download link) loads in an <audio> element
    links = [a.get_attribute("href") for a in page.css("[id^=song-] a[download]")]
    assert links, "no audio player"
    res = page.playable(links[0], "audio")
    assert res["ok"] and res["duration"] > 0, res
    assert page.css("[id^=song-] audio"), "no <audio> element"
    # the annotated video with its soundtrack
    src = page.wait(lambda: page.css("#annotated video")[0].get_attribute("src"), 20, "annotated.mp4")
    vid = page.playable(src, "video")
    assert vid["ok"] and vid["duration"] > 1, vid
    # the downloads
    names = sorted(a.get_attribute("download") or a.text for a in page.css("#downloads a"))
    assert any("playlist.m3u" in n for n in names) and any("timeline.csv" in n for n in names), names
    assert len(run_dirs(app)) == 1 and not staging(app)
    assert not foreign(requested_urls(page.d))


def test_bad_files_get_a_message_and_the_server_goes_on(page: Page, app: AppServer, clip: Path, tmp_path: Path) -> None:
    before = run_dirs(app)
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n" * 20)
    page.upload(text)
    status = page.analyse()
    assert "error:" in status and "not a video" in status, status
    empty = tmp_path / "empty.mp4"
    empty.touch()
    page.upload(empty)
    status = page.analyse()
    assert "error:" in status and "empty" in status, status
    # over server.max_upload_mb (20 MB here): Gradio refuses the upload with its own message, and Analyse says why
    big = tmp_path / "big.mp4"
    with big.open("wb") as f:
        f.truncate(21_000_000)
    page.css("#upload button[aria-label='Clear']")[0].click()
    page.wait(lambda: page.css("#upload input[type=file]"), 10, "an empty upload box")[0].send_keys(str(big))
    toast = page.wait(lambda: page.d.execute_script(
        "return [...document.querySelectorAll('[data-testid=toast-body]')].map(e => e.textContent).join(' ')"),
        20, "Gradio's size message")  # fmt: skip
    assert "exceed the maximum allowed size" in toast, toast
    assert "no video file" in page.analyse()
    assert run_dirs(app) == before and not staging(app) and app.alive()
    # the next upload is served (without the annotated video, to keep it short)
    page.click("render")
    page.upload(clip)
    assert "Done" in page.analyse(), page.status()
    page.click("render")
    assert len(run_dirs(app)) == len(before) + 1


def test_cancel_leaves_nothing(page: Page, app: AppServer, clip: Path) -> None:
    before = run_dirs(app)
    page.upload(clip)
    page.click("analyse")
    page.wait(lambda: "analysing" in page.progress(), 60, "the progress bar", every=0.05)
    page.click("cancel")
    status = page.wait(lambda: "Cancel" in page.status() and page.status(), 60, "the cancel message")
    assert status.startswith(("Cancelled", "Cancelling")), status
    page.wait(lambda: not staging(app), 60, "the staging folder to go")
    assert run_dirs(app) == before and app.alive()


def test_webcam_updates_the_mood_twice_a_second(page: Page, app: AppServer) -> None:
    page.tab("Webcam")
    page.wait(lambda: page.css("#webcam [title='grant webcam access'] button"), 10, "the webcam button")[0].click()
    page.wait(lambda: page.css("#webcam button.capture-button"), 20, "the record button")[0].click()

    def update() -> int:
        return int(page.css("#live-mood .live-mood")[0].get_attribute("data-update") or 0)

    page.wait(lambda: update() >= 3, 60, "the first mood updates")
    n0, t0, seen, ms = update(), time.perf_counter(), set(), []
    while time.perf_counter() - t0 < 8.0:
        el = page.css("#live-mood .live-mood")[0]
        seen.add(el.text)
        ms.append(float(el.get_attribute("data-ms") or "nan"))
        time.sleep(0.1)
    rate = (update() - n0) / (time.perf_counter() - t0)
    print(f"\n[measured] webcam: {rate:.2f} mood updates per second (chain {sorted(ms)[len(ms) // 2]:.0f} ms/frame)")
    assert rate >= UPDATES_PER_S, f"{rate:.2f} mood updates per second"
    assert len(seen) >= 8 and all("Mood" in s and "Now playing" in s for s in seen)
    assert page.css("#live-view img"), "the overlay frame is not shown"
    page.css("#webcam button.capture-button")[0].click()  # stop
    before = len(run_dirs(app))
    status = page.press("live-end", 60)
    assert "Done" in status and "of webcam" in status, status
    assert page.table_rows() and len(run_dirs(app)) == before + 1


def test_manual_mood_chooses_songs(page: Page, app: AppServer) -> None:
    page.tab("Manual mood")
    for elem, value in (("manual-valence", "-0.7"), ("manual-arousal", "0.7")):
        box = page.css(f"#{elem} input[type=number]")[0]
        box.clear()
        box.send_keys(value + "\n")
    status = page.press("manual-go", 60)
    assert status.startswith("Manual mood"), status
    rows = page.table_rows()
    assert rows and "(-0.70, +0.70)" in rows[0][-1], rows  # the mood set by hand reached MATCH
    assert len(rows) >= 1 and all(r[6] in ("yes", "no") for r in rows)
