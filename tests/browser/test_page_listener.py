"""The listener on the page in a real browser (`make test-app`; named to run after test_page.py, which wants a fresh
app): the Listener box, Like / Skip / Dislike on the manual mood and on the webcam, and the History tab (the mood map,
sessions, undo, export, Forget me)."""

from __future__ import annotations

import time

import pytest

from tests.browser.page import AppServer, Page, foreign, requested_urls

pytestmark = [pytest.mark.browser, pytest.mark.page]


@pytest.fixture(scope="module")
def page(driver, app: AppServer) -> Page:
    p = Page(driver, app.url)
    p.open()
    return p


def now_playing(page: Page) -> str:
    els = page.css("#now-playing .now-playing")
    return els[0].get_attribute("data-song") if els else ""


def cells(page: Page, elem_id: str) -> list[str]:
    """The texts of a table's cells (Gradio's table may repeat a row to measure it: compare as sets)."""
    return page.d.execute_script(
        f"return [...document.querySelectorAll('#{elem_id} tbody td, #{elem_id} [role=gridcell], #{elem_id} .virtual-row td')]"
        ".map(c => c.textContent.trim())"
    )


def set_listener(page: Page, name: str) -> None:
    box = page.css("#listener textarea, #listener input")[0]
    box.clear()
    box.send_keys(name)
    time.sleep(0.5)  # Gradio takes the value on input


def pick(page: Page, elem_id: str, containing: str) -> None:
    """Choose the option of a Gradio dropdown that contains ``containing``."""
    page.css(f"#{elem_id} input")[0].click()
    option = page.wait(lambda: [o for o in page.css("ul[role=listbox] li") if containing in o.text], 10,
                       f"an option with {containing!r} in #{elem_id}")[0]  # fmt: skip
    option.click()


def test_feedback_on_the_manual_mood(page: Page) -> None:
    set_listener(page, "ana")
    page.tab("Manual mood")
    status = page.press("manual-go", 90)
    assert status.startswith("Manual mood"), status
    first = page.wait(lambda: now_playing(page), 20, "the song playing now")
    page.click("fb-skip")
    second = page.wait(lambda: now_playing(page) != first and now_playing(page), 30, "the next song after a skip")
    assert second and "Skip" in page.status()
    page.click("fb-like")
    page.wait(lambda: "Like" in page.status(), 30, "the like")
    page.click("fb-dislike")
    page.wait(lambda: now_playing(page) not in ("", second), 30, "the next song after a dislike")


def test_feedback_on_the_webcam(page: Page) -> None:
    set_listener(page, "ana")
    page.tab("Webcam")
    page.wait(lambda: page.css("#webcam [title='grant webcam access'] button"), 10, "the webcam button")[0].click()
    page.wait(lambda: page.css("#webcam button.capture-button"), 20, "the record button")[0].click()

    def updates() -> int:
        return int(page.css("#live-mood .live-mood")[0].get_attribute("data-update") or 0)

    page.wait(lambda: updates() >= 3, 60, "the first mood updates")
    page.click("fb-skip")
    page.wait(lambda: "webcam" in page.status(), 30, "the skip on the webcam session")
    assert now_playing(page), page.css("#now-playing")[0].text  # the song the skip switched to (the live line
    # follows at the next frame; with the test's 2 s dwell it may move on again at once)
    page.css("#webcam button.capture-button")[0].click()  # stop
    assert "Done" in page.press("live-end", 60)


def test_history_tab(page: Page) -> None:
    set_listener(page, "ana")
    page.tab("History")
    page.click("hist-show")
    page.wait(lambda: "ana" in page.css("#hist-status")[0].text, 60, "the history")
    assert page.wait(lambda: page.css("#hist-map img, #hist-map canvas, #hist-map svg"), 30, "the mood map")
    text = page.css("#hist-status")[0].text
    assert "2 session(s)" in text, text  # the manual mood's and the webcam's
    assert {"like", "dislike"} <= set(cells(page, "hist-opinions")), cells(page, "hist-opinions")
    pick(page, "hist-undo-pick", "dislike")
    page.click("hist-undo")
    page.wait(lambda: "Undone" in page.css("#hist-status")[0].text, 30, "the undo")
    page.wait(lambda: "dislike" not in cells(page, "hist-opinions") and "like" in cells(page, "hist-opinions"), 10,
              "the dislike gone from the list")  # fmt: skip
    assert {"webcam", "manual"} <= set(cells(page, "hist-sessions")), cells(page, "hist-sessions")
    pick(page, "hist-session", ":")
    page.wait(lambda: page.css("#hist-trace img, #hist-trace canvas, #hist-trace svg"), 30, "the session's trace")
    page.click("hist-export-json")
    link = page.wait(lambda: page.css("#hist-file a"), 30, "the export's download link")[0]
    assert "history.json" in (link.get_attribute("download") or link.text or link.get_attribute("href"))
    page.click("hist-forget")  # not confirmed: refused
    page.wait(lambda: "I understand" in page.css("#hist-status")[0].text, 30, "the refusal")
    page.click("hist-sure")
    page.click("hist-forget")
    page.wait(lambda: "Forgotten" in page.css("#hist-status")[0].text, 30, "Forget me")
    page.click("hist-show")
    page.wait(lambda: "no history" in page.css("#hist-status")[0].text, 30, "an empty history")
    assert not foreign(requested_urls(page.d))
