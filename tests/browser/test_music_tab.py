"""The "Your music" tab in a real browser: a folder of real 4Q clips is labelled with a progress bar, the broken file
is listed, and the next clip analysed plays from that catalogue; served on a non-loopback address, the folder
option is refused with one message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from tests.browser.page import AppServer, Page
from tests.helpers.real_data import REAL_MUSIC4Q, needs

pytestmark = [pytest.mark.browser, pytest.mark.page]


@pytest.fixture(scope="module")
def own_app(
    trained: dict[str, Path], synth_root: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[AppServer]:
    """The page as conftest's ``app`` serves it, with run folders of its own (other tests count theirs)."""
    tmp = tmp_path_factory.mktemp("music_app")
    infer = [f"paths.synthetic_dir={synth_root}", f"paths.cache_dir={tmp / 'cache'}", "perceive.mc_samples=4",
             "matcher.min_dwell_s=2", "matcher.memory=2", "detector.threads=1"]  # fmt: skip
    server = AppServer([f"runs_dir={tmp / 'runs'}", f"cache_dir={tmp / 'gradio'}", f"models.default={trained['dir']}",
                        f"models.search={trained['dir'].parent}", "server.max_upload_mb=20",
                        "infer=[" + ",".join(f"'{o}'" for o in infer) + "]"], log=tmp / "app.log")  # fmt: skip
    yield server
    server.stop()


@pytest.fixture(scope="module")
def page(driver, own_app: AppServer) -> Page:
    p = Page(driver, own_app.url)
    p.open()
    return p


def music_folder(root: Path) -> Path:
    """Two real clips per quadrant (links) and a broken mp3."""
    root.mkdir(parents=True)
    for q in ("Q1", "Q2", "Q3", "Q4"):
        for src in sorted((REAL_MUSIC4Q / q).glob("*.mp3"))[:2]:
            (root / f"{q} {src.name}").symlink_to(src)
    (root / "broken.mp3").write_bytes(b"ID3\x03\x00 not audio" * 40)
    return root


def watch_progress(page: Page) -> None:
    """Record every progress text shown in the tab (a MutationObserver: a fast bar is not missed)."""
    page.d.execute_script(
        """
        window.__musicProgress = [];
        const tab = document.querySelector('#tab-music');
        const obs = new MutationObserver(() => {
          for (const e of tab.querySelectorAll('.progress-text, .progress-level-inner, [role=progressbar]'))
            window.__musicProgress.push((e.textContent || '') + ' ' + (e.getAttribute('aria-valuetext') || ''));
        });
        obs.observe(tab, {subtree: true, childList: true, characterData: true, attributes: true});
        """
    )


def music_status(page: Page) -> str:
    els = page.css("#music-status [data-testid=markdown]")
    return els[0].text if els else ""


@needs(REAL_MUSIC4Q)
def test_a_real_folder_is_labelled_and_the_next_clip_plays_from_it(
    page: Page, clip: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    music = music_folder(tmp_path_factory.mktemp("yours") / "My Music")
    page.tab("Your music")
    box = page.wait(lambda: page.css("#music-folder textarea, #music-folder input"), 20, "the folder box")[0]
    box.clear()
    box.send_keys(str(music))
    watch_progress(page)
    page.click("music-label")
    status = page.wait(lambda: "Labelled" in music_status(page) and music_status(page), 300, "the labelled folder")
    seen = page.d.execute_script("return window.__musicProgress")
    assert any("files" in t for t in seen), seen[-5:]  # the progress bar counted the files
    assert "8 songs" in status and "broken.mp3" in status, status
    rows = page.d.execute_script(
        "return [...document.querySelectorAll('#music-table .virtual-row')].map(r => "
        "[...r.querySelectorAll('td, [role=cell], [role=gridcell]')].map(c => c.textContent.trim()))"
    )
    assert len(rows) == 8, rows
    checked = [r for r in page.css("#catalog input[type=radio]") if r.is_selected()]
    assert checked and checked[0].get_attribute("value") == "csv"
    path = page.css("#catalog-path textarea, #catalog-path input")[0].get_attribute("value")
    assert path.endswith(".csv") and Path(path).is_file()
    page.upload(clip)
    done = page.analyse()
    assert "Done" in done, done
    titles = set(pd.read_csv(path)["title"].astype(str))
    played = page.wait(page.table_rows, 20, "the playlist table")
    assert played and all(any(t in " ".join(r) for t in titles) for r in played), played  # songs from the folder


def test_off_loopback_the_folder_option_is_refused(driver, trained: dict[str, Path], tmp_path: Path) -> None:
    server = AppServer([f"runs_dir={tmp_path / 'runs'}", f"cache_dir={tmp_path / 'gradio'}", "server.host=0.0.0.0",
                        f"models.default={trained['dir']}", "server.preload=false"], log=tmp_path / "app.log")  # fmt: skip
    try:
        p = Page(driver, server.url)
        p.open()
        p.tab("Your music")
        text = p.wait(lambda: p.css("#music-refused")[0].text, 20, "the refusal")
        assert "only offered while the page is served on 127.0.0.1" in text and "0.0.0.0" in text
        assert not p.css("#music-folder") and not p.css("#music-label")
    finally:
        server.stop()
