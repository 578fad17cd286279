"""The page's listener parts, laid out and wired: the feedback row (*Now playing*, *Like*, *Skip*, *Dislike*) and the
*History* tab. :mod:`emotune.app.ui` calls :func:`feedback_row` and :func:`history_tab`; everything they do is in
:class:`~emotune.app.listener.ListenerDesk` and :class:`~emotune.app.history.HistoryPage`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import gradio as gr
import pandas as pd

from emotune.app.handlers import failure
from emotune.app.history import HistoryPage, HistoryView
from emotune.app.listener import EVENTS, now_playing_html

if TYPE_CHECKING:
    from emotune.app.handlers import Handlers

LISTENER_INFO = "a name keeps your sessions and learns your taste (docs/listener.md); empty: nobody, nothing kept"


def _session(request: gr.Request | None) -> str:
    return (getattr(request, "session_hash", None) or "") if request is not None else ""


def listener_box() -> gr.Textbox:
    """The settings row's *Listener* box."""
    return gr.Textbox("", label="Listener", placeholder="nobody", info=LISTENER_INFO, elem_id="listener", scale=2)


def feedback_row(h: Handlers, status: gr.Markdown) -> tuple[gr.HTML, gr.Dropdown]:
    """*Now playing* and the three buttons: they act on the webcam's song, the manual mood's, or a song picked from
    an analysed clip's playlist (the *Song* box)."""
    with gr.Row(equal_height=True, elem_id="feedback-row"):
        now = gr.HTML(now_playing_html(None, "Nothing is playing yet: feedback acts on the webcam's song, the manual "
                                       "mood's, or a song of an analysed clip."), elem_id="now-playing")  # fmt: skip
        pick = gr.Dropdown([], value=None, label="Song (an analysed clip's playlist)", elem_id="fb-song", scale=1)
        buttons = {e: gr.Button(e.capitalize(), size="sm", min_width=80, scale=0, elem_id=f"fb-{e}") for e in EVENTS}

    def act(event: str) -> Any:
        def fn(song: str | None, request: gr.Request) -> tuple[Any, str]:
            html, message = h.feedback(event, _session(request), song)
            return (gr.update() if html is None else html), message

        return fn

    for event, button in buttons.items():
        button.click(act(event), [pick], [now, status], concurrency_limit=None)
    return now, pick


def feedback_updates(now_playing: str | None, songs: list[str] | None) -> list[Any]:
    """The feedback row's values after a result (unchanged where ``None``)."""
    pick = gr.update() if songs is None else gr.update(choices=songs, value=songs[0] if songs else None)
    return [gr.update() if now_playing is None else now_playing, pick]


def history_tab(h: Handlers, listener: gr.Textbox) -> None:
    """The *History* tab: the mood map, the sessions, one session's trace and songs, the songs that calmed or lifted
    the listener, likes and dislikes with undo, export and Forget me."""
    page = HistoryPage(h.desk, h.s.runs_dir)
    with gr.Tab("History", id="tab-history", elem_id="tab-history"):
        gr.Markdown("The listener typed in *Listener* above: every session kept for them, on this machine only.")
        with gr.Row():
            show = gr.Button("Show history", variant="primary", elem_id="hist-show")
            export_json = gr.Button("Export JSON", size="sm", elem_id="hist-export-json")
            export_csv = gr.Button("Export CSV", size="sm", elem_id="hist-export-csv")
        hstatus = gr.Markdown(elem_id="hist-status")
        with gr.Row():
            mood_map = gr.Plot(label="Mood map", show_label=False, elem_id="hist-map")
            with gr.Column():
                effects = gr.Dataframe(
                    label="Songs that calmed or lifted them", interactive=False, elem_id="hist-effects"
                )
                opinions = gr.Dataframe(label="Liked and disliked", interactive=False, elem_id="hist-opinions")
                with gr.Row():
                    undo_pick = gr.Dropdown([], label="Undo", elem_id="hist-undo-pick", scale=3)
                    undo = gr.Button("Undo", size="sm", elem_id="hist-undo", scale=1)
        sessions = gr.Dataframe(label="Sessions", interactive=False, elem_id="hist-sessions")
        with gr.Row():
            pick = gr.Dropdown([], label="Session", elem_id="hist-session", scale=1)
        with gr.Row():
            trace = gr.Plot(label="The session's mood", show_label=False, elem_id="hist-trace")
            songs = gr.Dataframe(label="Its songs", interactive=False, elem_id="hist-songs")
        files = gr.File(label="Export", interactive=False, elem_id="hist-file")
        with gr.Row():
            sure = gr.Checkbox(
                False, label="I understand: this deletes the listener's whole history", elem_id="hist-sure"
            )
            forget = gr.Button("Forget me", variant="stop", elem_id="hist-forget")

    outputs = [hstatus, mood_map, sessions, pick, effects, opinions, undo_pick]

    def view_updates(v: HistoryView) -> list[Any]:
        return [v.status, v.figure, v.sessions, gr.update(choices=v.session_choices, value=None), v.effects,
                v.opinions, gr.update(choices=v.opinion_choices, value=None)]  # fmt: skip

    def guarded(fn: Any, what: str) -> Any:
        def run(*args: Any) -> list[Any]:
            try:
                return view_updates(fn(*args))
            except Exception as exc:
                return [failure(exc, what), None, pd.DataFrame(), gr.update(choices=[], value=None), pd.DataFrame(),
                        pd.DataFrame(), gr.update(choices=[], value=None)]  # fmt: skip

        return run

    def one_session(name: str, choice: str | None) -> tuple[Any, Any, Any]:
        try:
            fig, table = page.session(name, choice)
            return fig, table, gr.update()
        except Exception as exc:
            return None, pd.DataFrame(), failure(exc, "the session")

    def export(kind: str) -> Any:
        def fn(name: str) -> tuple[Any, str]:
            try:
                path, message = page.export(name, kind)
                return str(path), message
            except Exception as exc:
                return None, failure(exc, "the export")

        return fn

    def forget_me(name: str, confirmed: bool) -> list[Any]:
        try:
            message = page.forget(name, bool(confirmed))
        except Exception as exc:
            return [failure(exc, "Forget me"), gr.update(), gr.update(), gr.update(), gr.update(), gr.update(),
                    gr.update(), gr.update(), False]  # fmt: skip
        empty = gr.update(choices=[], value=None)
        return [message, None, pd.DataFrame(), empty, pd.DataFrame(), pd.DataFrame(), empty, None, False]

    show.click(guarded(page.show, "the history"), [listener], outputs, concurrency_limit=None)
    undo.click(guarded(page.undo, "the undo"), [listener, undo_pick], outputs, concurrency_limit=None)
    pick.change(one_session, [listener, pick], [trace, songs, hstatus], concurrency_limit=None)
    export_json.click(export("json"), [listener], [files, hstatus], concurrency_limit=None)
    export_csv.click(export("csv"), [listener], [files, hstatus], concurrency_limit=None)
    forget.click(forget_me, [listener, sure], [*outputs, files, sure], concurrency_limit=None)
