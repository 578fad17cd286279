"""The Gradio page: the settings row, three inputs (a video file, the webcam, a manual mood) and one results area.

Everything the page does is in :class:`~emotune.app.handlers.Handlers`; this module only lays it out and wires
the events (queue, concurrency, cancel, webcam stream). No asset is fetched from the internet: the default theme's
fonts ship inside the Gradio wheel, analytics are off and no share link is made.
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable
from typing import Any

os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no telemetry, no version check

import gradio as gr
import numpy as np
import pandas as pd

from emotune.app import history_tab, music_tab
from emotune.app.handlers import Handlers, PageResult
from emotune.app.settings import CATALOGS, MODES, STABILIZERS, AppSettings, RunChoice
from emotune.app.views import TABLE_COLUMNS

CSS = """
#status { min-height: 2.5em; }
.live-mood { font-size: 1.05em; line-height: 1.6; }
.live-count { color: #7b8794; font-size: 0.9em; }
.now-playing { font-size: 1.05em; padding-top: 0.6em; }
"""
COLUMN_WIDTHS: list[str | int] = ["4%", "17%", "14%", "7%", "7%", "7%", "6%", "38%"]  # TABLE_COLUMNS
INTRO = (
    "# emotune: faces in a video, their mood, a playlist that follows it\n"
    "Upload a clip, turn on the webcam, or set a mood by hand. The clip goes through the same "
    "PERCEIVE -> STABILIZE -> MATCH chain as `infer.py` (the settings below are its config groups)."
)


def _choice(models: str, catalog: str, path: str, mode: str, stabilizer: str) -> RunChoice:
    return RunChoice(str(models or ""), str(catalog), str(path or ""), str(mode), str(stabilizer))


def _session(request: gr.Request | None) -> str:
    return (getattr(request, "session_hash", None) or "") if request is not None else ""


def result_updates(r: PageResult, players: int) -> list:
    """A :class:`PageResult` as the results area's values: status, plot, timeline, table, video, files, players, and
    the feedback row (now playing, the songs to pick)."""
    audio = [gr.update(value=str(p), label=label, visible=True) for label, p in r.audio[:players]]
    audio += [gr.update(value=None, visible=False)] * (players - len(audio))
    return [
        r.status,
        r.plot,
        None if r.timeline is None else str(r.timeline),
        r.table,
        None if r.video is None else str(r.video),
        [str(p) for p in r.downloads] or None,
        *audio,
        *history_tab.feedback_updates(r.now_playing, r.feedback_songs),
    ]


def build(h: Handlers) -> gr.Blocks:
    """The page over ``h``."""
    s: AppSettings = h.s
    start = h.default_choice()
    with gr.Blocks(title="emotune", analytics_enabled=False, delete_cache=(s.cache_every_s, s.cache_max_age_s)) as demo:
        gr.Markdown(INTRO)
        with gr.Row(equal_height=True):
            models = gr.Dropdown(h.model_sets(), value=start.models, allow_custom_value=True, label="Model set",
                                 info="a folder with scene/ face/ fusion/ checkpoints (type another)", scale=3,
                                 elem_id="models")  # fmt: skip
            refresh = gr.Button("Rescan", size="sm", scale=0, min_width=90, elem_id="rescan")
            catalog = gr.Radio(list(CATALOGS), value=start.catalog, label="Catalogue", scale=2, elem_id="catalog",
                               info="synthetic: the demo songs; deam: a DEAM folder; csv: `make library`'s CSV")  # fmt: skip
            catalog_path = gr.Textbox(start.catalog_path, label="DEAM folder or library CSV", scale=2,
                                      visible=start.catalog != "synthetic", elem_id="catalog-path")  # fmt: skip
        with gr.Row(equal_height=True):
            mode = gr.Radio(list(MODES), value=start.mode, label="Matcher mode", elem_id="mode",
                            info="validate: match the mood; guide: steer it toward calm or energy")  # fmt: skip
            stabilizer = gr.Radio(list(STABILIZERS), value=start.stabilizer, label="Stabilizer", elem_id="stabilizer")
            render = gr.Checkbox(s.render, label="Render annotated.mp4 with the soundtrack", elem_id="render")
            listener = history_tab.listener_box()
        settings = [models, catalog, catalog_path, mode, stabilizer]

        with gr.Tabs():
            with gr.Tab("Video file", id="tab-file", elem_id="tab-file"):
                upload = gr.File(label=f"A video file (mp4, mov, avi, mkv, webm; up to {s.max_upload_mb:g} MB)",
                                 file_count="single", type="filepath", elem_id="upload")  # fmt: skip
                with gr.Row():
                    go = gr.Button("Analyse", variant="primary", elem_id="analyse")
                    stop = gr.Button("Cancel", variant="stop", elem_id="cancel")
            with gr.Tab("Webcam", id="tab-webcam", elem_id="tab-webcam"):
                with gr.Row():
                    cam = gr.Image(sources=["webcam"], streaming=True, type="numpy", label="Webcam", elem_id="webcam",
                                   webcam_options=gr.WebcamOptions(mirror=False))  # fmt: skip
                    view = gr.Image(label="What the chain sees", interactive=False, elem_id="live-view", format="jpeg",
                                    buttons=["fullscreen"])  # fmt: skip
                live = gr.HTML('<div class="live-mood" data-update="0">Start the webcam: the mood and the song '
                               "update here while it runs.</div>", elem_id="live-mood")  # fmt: skip
                end = gr.Button("End the session: its playlist and timeline", elem_id="live-end")
            with gr.Tab("Manual mood", id="tab-manual", elem_id="tab-manual"):
                gr.Markdown("No face, or no camera? Set the mood on the plane and MATCH chooses the songs for it.")
                with gr.Row():
                    valence = gr.Slider(-1, 1, 0, step=0.05, label="valence (-1 unpleasant ... +1 pleasant)",
                                        elem_id="manual-valence")  # fmt: skip
                    arousal = gr.Slider(-1, 1, 0, step=0.05, label="arousal (-1 calm ... +1 excited)",
                                        elem_id="manual-arousal")  # fmt: skip
                pick = gr.Button("Choose songs for this mood", variant="primary", elem_id="manual-go")
            history_tab.history_tab(h, listener)
            music_tab.add_tab(music_tab.MusicFolder(s.host, s.runs_dir.parent / "library"), catalog, catalog_path)

        status = gr.Markdown(elem_id="status")
        now_playing, feedback_song = history_tab.feedback_row(h, status)
        with gr.Row():
            plot = gr.Plot(label="Valence-arousal plane", show_label=False, elem_id="va-plot")
            timeline = gr.Image(label="timeline.png", type="filepath", interactive=False, elem_id="timeline",
                                buttons=["download", "fullscreen"])  # fmt: skip
        table = gr.Dataframe(pd.DataFrame(columns=TABLE_COLUMNS), label="Playlist (why: the matcher's reason for each "
                             "song)", interactive=False, wrap=True, column_widths=COLUMN_WIDTHS, elem_id="playlist")  # fmt: skip
        with gr.Row():
            players = [
                gr.Audio(
                    type="filepath", interactive=False, visible=False, buttons=["download"], elem_id=f"song-{i + 1}"
                )
                for i in range(s.players)
            ]
        with gr.Row():
            video = gr.Video(label="annotated.mp4 (with its soundtrack)", interactive=False, elem_id="annotated")
            files = gr.File(label="Downloads", file_count="multiple", interactive=False, elem_id="downloads")
        results = [status, plot, timeline, table, video, files, *players, now_playing, feedback_song]

        # Gradio finds the request and progress parameters by their type hints (typing.get_type_hints, which drops
        # them all if one fails): the callbacks' hints may only name this module's globals.
        def analyse(upload_path: str | None, models_: str, catalog_: str, path_: str, mode_: str, stab_: str,
                    render_: bool, listener_: str, request: gr.Request,
                    progress: gr.Progress = gr.Progress()) -> list:  # noqa: B008 (Gradio injects the tracker through this default)  # fmt: skip
            # the chain may decode in a thread of its own: report through this event's context, one call at a time
            ctx, lock = contextvars.copy_context(), threading.Lock()

            def report(frac: float, desc: str) -> None:
                with lock:
                    ctx.run(progress, frac, desc=desc)

            r = h.analyse(upload_path, _choice(models_, catalog_, path_, mode_, stab_), bool(render_),
                          _session(request), report, listener_)  # fmt: skip
            return result_updates(r, s.players)

        def cancel(request: gr.Request) -> str:
            return h.cancel(_session(request))

        def frame(img: np.ndarray | None, models_: str, catalog_: str, path_: str, mode_: str, stab_: str,
                  listener_: str, request: gr.Request) -> tuple[str, Any]:  # fmt: skip
            return h.live_frame(img, _choice(models_, catalog_, path_, mode_, stab_), _session(request), listener_)

        def live_end(request: gr.Request) -> list:
            return result_updates(h.live_end(_session(request)), s.players)

        def manual(v: float, a: float, models_: str, catalog_: str, path_: str, mode_: str, stab_: str, listener_: str,
                   request: gr.Request) -> list:  # fmt: skip
            r = h.manual(v, a, _choice(models_, catalog_, path_, mode_, stab_), _session(request), listener_)
            return result_updates(r, s.players)

        def rescan(current: str) -> dict[str, Any]:
            return gr.update(choices=h.model_sets(), value=current)

        def catalog_changed(kind: str) -> dict[str, Any]:
            path = {"deam": s.deam_root, "csv": s.csv_path}.get(kind, "")
            return gr.update(visible=kind != "synthetic", value=path)

        def closed(request: gr.Request) -> None:
            h.close_session(_session(request))

        def working(what: str) -> Callable[[], str]:
            return lambda: f"*Working: {what} ...*"

        run = go.click(working("checking the upload, loading the models"), None, status, queue=False).then(
            analyse, [upload, *settings, render, listener], results, concurrency_limit=s.concurrency, concurrency_id="analyse",
            show_progress="full")  # fmt: skip
        stop.click(cancel, None, status, cancels=[run], concurrency_limit=None)
        cam.stream(frame, [cam, *settings, listener], [live, view], stream_every=s.stream_every_s,
                   time_limit=s.stream_time_limit_s, concurrency_limit=s.streams, show_progress="hidden")  # fmt: skip
        end.click(working("closing the webcam session"), None, status, queue=False).then(
            live_end, None, results, concurrency_limit=s.concurrency, concurrency_id="analyse")  # fmt: skip
        pick.click(working("choosing songs for this mood"), None, status, queue=False).then(
            manual, [valence, arousal, *settings, listener], results, concurrency_limit=s.concurrency,
            concurrency_id="analyse")  # fmt: skip
        refresh.click(rescan, models, models, concurrency_limit=None)
        # .input: the user's choice only (the music tab sets both the catalogue and its path itself)
        catalog.input(catalog_changed, catalog, catalog_path, concurrency_limit=None)
        demo.load(rescan, models, models, concurrency_limit=None)
        demo.unload(closed)
    demo.queue(max_size=s.queue_size, default_concurrency_limit=s.concurrency)
    return demo


def launch(demo: gr.Blocks, s: AppSettings, block: bool = True) -> None:
    """Serve ``demo`` on ``s.host:s.port``: no share link, uploads up to ``server.max_upload_mb``, and only the
    app's run folders (plus Gradio's own cache) reachable as files."""
    demo.launch(
        server_name=s.host,
        server_port=s.port,
        share=False,
        max_file_size=s.max_upload_bytes,
        allowed_paths=[str(s.runs_dir)],
        ssr_mode=False,
        mcp_server=False,
        pwa=False,
        footer_links=[],
        prevent_thread_lock=not block,
        css=CSS,
        quiet=False,
    )
