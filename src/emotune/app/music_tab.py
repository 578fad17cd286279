"""The page's "Your music" tab: label a folder on the machine running the page and offer it as the catalogue.

The folder is labelled by ``make library``'s own code (:func:`emotune.runtime.library.label_folder`): the packaged
labeller, incremental (a per-folder catalogue under the app's folder remembers every file's version, so unchanged
files are not redone), unreadable files listed, never fatal. When it is done the settings row switches to
``csv`` with that catalogue, so the next clip analysed plays from it.

Reading arbitrary folders of the server is only offered while the page is served on the loopback address: on any
other address the tab shows one message and the handler refuses, whatever a request asks.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import pandas as pd

from emotune.app import views
from emotune.utils.cli import user_error

log = logging.getLogger(__name__)

LOOPBACK = ("127.0.0.1", "localhost", "::1")
REFUSED = (
    "**Your music** labels a folder on the machine running this page, so it is only offered while the page is "
    "served on 127.0.0.1 (this one is served on {host}). Label the folder there with `make library MUSIC=DIR "
    "OUT=songs.csv` and choose *csv* with that file as the catalogue."
)
COLUMNS = ["title", "artist", "valence", "arousal", "mood"]
WORKERS = 0  # decode in the handler's thread: worker processes forked from a threaded web server are not safe
Report = Callable[[float, str], None]


def local_only(host: str) -> bool:
    """Whether the page is served on the loopback address only."""
    return host.strip().lower() in LOOPBACK


class MusicFolder:
    """Labels folders for the page into per-folder catalogues under ``library_dir``.

    Args:
        host: the address the page is served on (the folder option needs the loopback address).
        library_dir: where the catalogues (and their state files) live.
    """

    def __init__(self, host: str, library_dir: Path) -> None:
        self.host, self.library_dir = host, Path(library_dir)

    def catalogue_for(self, folder: Path) -> Path:
        """The catalogue of ``folder`` (one per folder, so relabelling it is incremental)."""
        key = hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:12]
        return self.library_dir / f"{folder.name or 'music'}-{key}.csv"

    def label(self, folder: str, report: Report | None = None) -> tuple[str, pd.DataFrame | None, str | None]:
        """Label ``folder``: the status line, the songs table and the catalogue's path (``None`` when nothing was
        labelled). Every failure is a status line."""
        from emotune.runtime.library import label_folder

        if not local_only(self.host):
            return views.error_status(REFUSED.format(host=self.host).replace("**", "")), None, None
        path = Path(str(folder or "").strip()).expanduser()
        if not str(folder or "").strip():
            return views.error_status("type the folder that holds your music (mp3, ogg, flac, wav, m4a)."), None, None
        out = self.catalogue_for(path)

        def progress(done: int, total: int, what: str) -> None:
            if report is not None:
                report(done / max(total, 1), f"{what}: {done}/{total} files")

        try:
            rep = label_folder(path, out, progress=False, workers=WORKERS, on_progress=progress)
        except Exception as exc:
            err = user_error(exc)
            if err is None:
                log.exception("labelling %s failed", path)
                return (
                    views.error_status(f"labelling {path} failed ({type(exc).__name__}); see the server log."),
                    None,
                    None,
                )
            return views.error_status(str(err).splitlines()[0]), None, None
        songs = pd.read_csv(out)
        status = (
            f"**Labelled** {len(songs)} songs in `{path}` ({rep['labelled']} new, {rep['unchanged']} unchanged). "
            f"The catalogue is now *csv* `{out}`: the next clip analysed plays from it."
        )
        if rep["errors"]:
            status += f"\n\n{rep['unreadable']} unreadable (skipped): " + "; ".join(
                f"`{rel}` ({err})" for rel, err in sorted(rep["errors"].items())[:20]
            )
        return status, songs[[c for c in COLUMNS if c in songs.columns]], str(out)


def add_tab(folder_labeller: MusicFolder, catalog: gr.Radio, catalog_path: gr.Textbox) -> None:
    """The tab (inside the page's ``gr.Tabs``); labelling a folder points ``catalog`` / ``catalog_path`` at it."""
    with gr.Tab("Your music", id="tab-music", elem_id="tab-music"):
        if not local_only(folder_labeller.host):
            gr.Markdown(REFUSED.format(host=folder_labeller.host), elem_id="music-refused")
            return
        gr.Markdown(
            "Label a folder of your own music on this machine (searched recursively; the first time takes a while, "
            "then only new or changed files are labelled) and use it as the catalogue."
        )
        with gr.Row(equal_height=True):
            folder = gr.Textbox(label="Music folder on this machine", placeholder="~/Music", scale=4,
                                elem_id="music-folder")  # fmt: skip
            go = gr.Button("Label and use it", variant="primary", scale=1, elem_id="music-label")
        status = gr.Markdown(elem_id="music-status")
        table = gr.Dataframe(pd.DataFrame(columns=COLUMNS), label="Your songs", interactive=False, wrap=True,
                             elem_id="music-table")  # fmt: skip

        def label(path: str, progress: gr.Progress = gr.Progress()) -> list[Any]:  # noqa: B008 (Gradio's tracker)
            def report(frac: float, desc: str) -> None:
                progress(frac, desc=desc)

            text, songs, out = folder_labeller.label(path, report)
            if out is None:
                return [text, gr.update(), gr.update(), gr.update()]
            return [text, songs, gr.update(value="csv"), gr.update(value=out, visible=True)]

        go.click(lambda: "*Working: labelling the folder ...*", None, status, queue=False).then(
            label, folder, [status, table, catalog, catalog_path], concurrency_limit=1, concurrency_id="library",
            show_progress="full")  # fmt: skip
