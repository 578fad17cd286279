"""``make eval-listener``: simulated listeners through the session driver, with and without personalisation.

``python -m emotune.eval.listener [key=value ...]`` (settings: ``conf/eval_listener.yaml``). For each population
(``dev``: the parameters the settings were tuned on; ``heldout``: a second set never tuned on) and each mode
(validate: the mood is followed; guide: sessions start in distress and steer toward calm), every simulated listener
(:mod:`.listener_sim`) listens ``sessions`` times, once as a named listener (personal ranking, learning in a store)
and once as nobody, on the same seeds. Each session is a :class:`~emotune.runtime.session_driver.SessionDriver`, the
object behind ``python -m emotune.session``, fed JSON lines. Writes ``<out>/listener.json`` (per session),
``<out>/listener.md`` and its copy ``doc``.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, ListConfig, OmegaConf

from emotune.data.catalog import Catalog, write_csv_catalog
from emotune.eval.listener_report import render_listener_report
from emotune.eval.listener_sim import SimListener, SimParams, run_session, tag_catalogue
from emotune.pipeline.policies import MODES
from emotune.runtime.cli_config import instantiate
from emotune.runtime.compose import compose_config
from emotune.runtime.session_driver import SessionDriver
from emotune.store import ListenerStore
from emotune.utils.command import command
from emotune.utils.io import write_json_atomic, write_text_atomic

log = logging.getLogger("emotune.eval")


def source_catalogue(deam_root: Path, scratch: Path) -> tuple[Catalog, str]:
    """The real DEAM V-A catalogue when its CSVs are at hand, else the embedded DEAM-format one (1,802 songs)."""
    from emotune.data.deam import load_deam

    if deam_root.is_dir() and any(deam_root.rglob("static_annotations_averaged_songs_1_2000.csv")):
        return load_deam(deam_root), f"real DEAM static V-A ({deam_root})"
    from emotune.synthetic.songs import write_deam_like

    log.warning("No DEAM CSVs under %s: the embedded DEAM-format catalogue is used instead.", deam_root)
    write_deam_like(scratch / "deam", n=1802, seed=0, audio=False, progress=False)
    return load_deam(scratch / "deam"), "the embedded DEAM-format catalogue (no real DEAM CSVs found)"


def tagged_csv(cat: Catalog, p: SimParams, path: Path) -> pd.DataFrame:
    """The catalogue with this population's hidden genres and artists, written as a library CSV; its songs table."""
    ids = cat.songs["song_id"].astype(str).tolist()
    tags = tag_catalogue(cat.va_ref, ids, p.genre_width, p.seed)
    songs = cat.songs.drop(columns=["artist", "genre"]).merge(tags, on="song_id")
    write_csv_catalog(Catalog(songs, cat.scale, name=f"deam_tagged_{p.seed}"), path)
    return pd.DataFrame({"song_id": ids, "genre": tags["genre"], "artist": tags["artist"], "va": list(cat.va_ref)})


def run_population(cfg: DictConfig, name: str, p: SimParams, catalog: Catalog, out: Path) -> list[dict[str, Any]]:
    """Every listener of one population, in both modes, with and without personalisation."""
    songs = tagged_csv(catalog, p, out / f"catalogue_{name}.csv")
    rows: list[dict[str, Any]] = []
    for mode in MODES:
        icfg = compose_config("infer", [f"catalog.path={out / f'catalogue_{name}.csv'}", "catalog=csv",
                                        f"matcher/policy={mode}", f"store.url=sqlite:///{out / f'store_{name}.sqlite'}",
                                        f"paths.cache_dir={out / 'cache'}", "video=none", *cfg.infer], out)  # fmt: skip
        stabilizer, matcher = instantiate(icfg.stabilizer), instantiate(icfg.matcher)
        store = ListenerStore.open(instantiate(icfg.store))
        try:
            for arm in ("personal", "none"):
                t0 = time.perf_counter()
                for i in range(int(cfg.listeners)):
                    listener = SimListener(p, songs, i)
                    who = f"{name}-{mode}-{i}" if arm == "personal" else None
                    for s in range(int(cfg.sessions)):
                        driver = SessionDriver(stabilizer, matcher, store if who else None, who, source="simulation")
                        seed = int(np.random.SeedSequence([p.seed, i, s, MODES.index(mode)]).generate_state(1)[0])
                        r = run_session(driver, listener, int(cfg.session_s), seed, mode == "guide")
                        rows.append(
                            {"population": name, "mode": mode, "arm": arm, "listener": i, "session": s + 1, **r}
                        )
                print(f"  {name} {mode} {arm}: {time.perf_counter() - t0:.0f} s", flush=True)
        finally:
            store.close()
    return rows


def evaluate(cfg: DictConfig) -> dict[str, Any]:
    """Run every population; write the per-session table, the report and its copy in ``doc``."""
    out = Path(cfg.out)
    if out.exists():
        shutil.rmtree(out)  # a fresh store: every listener starts new
    out.mkdir(parents=True)
    catalog, source = source_catalogue(Path(str(cfg.deam_root)), out / "scratch")
    rows: list[dict[str, Any]] = []
    for name, params in cfg.populations.items():
        p = SimParams(**OmegaConf.to_container(params, resolve=True))  # type: ignore[arg-type]
        print(f"population {name} ...", flush=True)
        rows += run_population(cfg, str(name), p, catalog, out)
    table = pd.DataFrame(rows)
    table.to_csv(out / "sessions.csv", index=False)
    settings = {k: OmegaConf.to_container(v, resolve=True) if isinstance(v, DictConfig | ListConfig) else v
                for k, v in cfg.items() if k not in ("hydra", "paths")}  # fmt: skip
    result = {"catalogue": source, "songs": len(catalog), "settings": settings}
    report, numbers = render_listener_report(table, result)
    write_json_atomic(out / "listener.json", {**result, "numbers": numbers})
    write_text_atomic(out / "listener.md", report)
    if cfg.doc:
        write_text_atomic(Path(str(cfg.doc)), report)
    return numbers


@command("eval_listener")
def main(cfg: DictConfig) -> None:
    """CLI: ``python -m emotune.eval.listener [key=value ...]``."""
    evaluate(cfg)
    print(f"Listener report: {Path(cfg.out) / 'listener.md'} (per session: {Path(cfg.out) / 'sessions.csv'})")


if __name__ == "__main__":
    main()
