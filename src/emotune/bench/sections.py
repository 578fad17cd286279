"""The measurements of ``make bench``; each returns a plain dict (settings come from ``conf/bench.yaml``)."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig
from torch.utils import benchmark

from emotune.models.loading import best_checkpoint
from emotune.runtime.compose import compose_config
from emotune.utils.errors import EmotuneError, MissingResourceError

if TYPE_CHECKING:
    from emotune.models.components.heads import Uncertainty
    from emotune.models.scene_module import SceneLitModule


def timeit(fn: Any, min_run_time: float = 1.0) -> float:
    """Median seconds per call (``torch.utils.benchmark``: warm-up, enough repeats)."""
    fn()
    timer = benchmark.Timer(stmt="fn()", globals={"fn": fn}, num_threads=torch.get_num_threads())
    return float(timer.blocked_autorange(min_run_time=min_run_time).median)


def train_experiment(experiment: str, run_dir: Path, *extra: str) -> dict[str, Any]:
    """``train.py phase=scene experiment=<experiment>`` in-process; returns what ``train()`` built."""
    from emotune.runtime.train import train

    cfg = compose_config(
        "train", ["phase=scene", f"experiment={experiment}", f"paths.cache_dir={run_dir / 'cache'}", *extra], run_dir
    )
    return train(cfg)[1]


def vitb32_checkpoint(out: Path, experiment: str) -> Path:
    """The ViT-B/32 timing checkpoint (random weights), built once."""
    ckpt = best_checkpoint(out / "vitb32_scene")
    if not ckpt.is_file():
        train_experiment(experiment, out / "vitb32_scene")
    if not ckpt.is_file():
        raise MissingResourceError(f"Could not build the ViT-B/32 timing checkpoint at {ckpt}.")
    return ckpt


def mc_dropout(cfg: DictConfig, vit_ckpt: Path) -> dict[str, Any]:
    """Head-only MC Dropout (one backbone pass, T head passes) vs T full stochastic passes vs one pass."""
    from emotune.models.components.heads import predictive
    from emotune.models.loading import load_phase_module

    T, batch = int(cfg.mc_dropout.samples), int(cfg.mc_dropout.batch)
    res = {}
    for name, ckpt in (("demo scene", best_checkpoint(Path(cfg.demo) / "scene")), ("ViT-B/32 scene", vit_ckpt)):
        m = load_phase_module(ckpt, "scene")
        size = int(m.data_config["input_size"])
        x = torch.rand(batch, 3, size, size)
        mode = m.hparams["uncertainty"]

        @torch.inference_mode()
        def single(m: SceneLitModule = m, x: torch.Tensor = x) -> torch.Tensor:
            return m.head(m.backbone(x))[0]

        @torch.inference_mode()
        def head_only(m: SceneLitModule = m, x: torch.Tensor = x, mode: Uncertainty = mode) -> tuple:
            return predictive(m.head, m.backbone(x), T, mode)

        @torch.inference_mode()
        def naive(m: SceneLitModule = m, x: torch.Tensor = x) -> torch.Tensor:
            m.train()  # dropout everywhere it exists, T full passes
            try:
                return torch.stack([m.head(m.backbone(x))[0] for _ in range(T)])
            finally:
                m.eval()

        t1, th, tn = timeit(single), timeit(head_only), timeit(naive, 2.0)
        res[name] = {
            "single_ms": 1e3 * t1,
            "head_only_ms": 1e3 * th,
            "naive_ms": 1e3 * tn,
            "speedup": tn / th,
            "overhead_pct": 100 * (th / t1 - 1),
            "batch": batch,
            "T": T,
        }
    return res


def matcher(cfg: DictConfig, catalog: Any) -> dict[str, Any]:
    """Seconds per station-gated k-NN query at the catalogue's size and at 10^6 songs."""
    import hydra

    from emotune.data.catalog import Catalog
    from emotune.pipeline.stations import Stations
    from emotune.utils.scales import REFERENCE

    stations = compose_config("infer", ["video=x"], Path(cfg.out)).matcher.stations  # conf/matcher's settings
    rng = np.random.default_rng(0)
    n = int(cfg.matcher.big_songs)
    centres = ([-0.5, -0.5], [0.5, 0.5], [-0.4, 0.5], [0.5, -0.3])
    va = np.clip(np.concatenate([rng.normal(c, 0.25, (n // 4, 2)) for c in centres]), -1, 1)
    big = Catalog(
        pd.DataFrame(
            {"song_id": np.arange(len(va)).astype(str), "valence": va[:, 0], "arousal": va[:, 1], "duration_s": 45.0}
        ),
        REFERENCE,
        name="synthetic-1e6",
    )
    targets = rng.uniform(-1, 1, (int(cfg.matcher.queries), 2))
    res = {}
    for name, cat in ((f"{len(catalog)} songs", catalog), (f"{len(big):,} songs", big)):
        t0 = time.perf_counter()
        k = int(cfg.matcher.big_stations) if len(cat) > 1e5 else None
        settings = hydra.utils.instantiate(stations, n_components=k, cache_dir=str(Path(cfg.out) / "cache"))
        st = Stations(cat.va_ref, cat.fingerprint(), settings)
        build = time.perf_counter() - t0
        exclude = {str(i) for i in range(5)}
        ids = cat.songs["song_id"].astype(str).to_numpy()
        q = targets if len(cat) < 1e5 else targets[: len(targets) // 4]

        def new(r: int, ids: np.ndarray = ids, exclude: set[str] = exclude) -> bool:
            return ids[r] not in exclude

        t0 = time.perf_counter()
        for tgt in q:
            st.query(tgt, new)
        per = (time.perf_counter() - t0) / len(q)
        res[name] = {"songs": len(cat), "stations": len(st), "query_us": 1e6 * per, "build_s": build}
    return res


def feature_cache(cfg: DictConfig) -> dict[str, Any]:
    """Training epoch time with a frozen ViT-B/32: epoch 1 fills the cache, epoch 2 reads it, vs no cache."""
    from emotune.utils.timing import EpochTimer

    res = {}
    n = int(cfg.feature_cache.images)
    for name, cache in (("feature cache", "true"), ("no cache", "false")):
        run = Path(cfg.out) / f"cache_{name.replace(' ', '_')}"
        objs = train_experiment(
            cfg.feature_cache.experiment, run, f"model.feature_cache={cache}", f"data.limit_per_split={n}"
        )
        res[name] = next(c for c in objs["trainer"].callbacks if isinstance(c, EpochTimer)).seconds
    cached, uncached = res["feature cache"][1], float(np.mean(res["no cache"]))
    return {
        "images": n,
        "epoch_seconds": res,
        "cached_epoch_s": cached,
        "uncached_epoch_s": uncached,
        "speedup": uncached / cached,
    }


def data_pipeline(cfg: DictConfig) -> dict[str, Any]:
    """Images per second through decode + resize + augment at real photo sizes, with 0, 1, 2 loader workers."""
    import cv2

    from emotune.data.transforms import build_transform
    from emotune.data.va_dataset import VADataset, collate

    s = cfg.data_pipeline
    rng = np.random.default_rng(0)
    res: dict[str, Any] = {"images": int(s.images), "size": f"{s.width}x{s.height}"}
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        for i in range(int(s.images)):  # photo-like JPEGs: smooth gradients plus texture (realistic file sizes)
            base = cv2.resize(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8), (int(s.width), int(s.height)))
            img = np.clip(base.astype(np.int16) + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
            cv2.imwrite(str(Path(tmp) / f"{i}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
            rows.append({"image_path": f"/{i}.jpg", "valence": 0, "arousal": 3})
        data_cfg = {
            "input_size": 224,
            "mean": [0.48, 0.46, 0.41],
            "std": [0.27, 0.26, 0.28],
            "interpolation": "bicubic",
        }
        tf = build_transform(data_cfg, train=True)
        ds = VADataset(pd.DataFrame(rows), Path(tmp), "scene", {}, tf, None, 0.0, "largest", in_memory=False)
        res["jpeg_kb"] = round(np.mean([f.stat().st_size for f in Path(tmp).glob("*.jpg")]) / 1024, 1)
        for w in s.workers:
            loader = torch.utils.data.DataLoader(
                ds, batch_size=int(s.batch_size), num_workers=int(w), collate_fn=collate
            )
            t0 = time.perf_counter()
            n = sum(len(b["va"]) for b in loader)
            res[f"workers_{w}_images_per_s"] = n / (time.perf_counter() - t0)
    return res


def feature_build(cfg: DictConfig, vit_ckpt: Path) -> dict[str, Any]:
    """The frozen-CLIP feature cache: seconds and megabytes per 1,000 images (ViT-B/32 forward on this machine)."""
    from emotune.models.components.feature_cache import FeatureCache
    from emotune.models.loading import load_phase_module

    m = load_phase_module(vit_ckpt, "scene")
    n, bs = int(cfg.feature_build.images), int(cfg.feature_build.batch_size)
    size = int(m.data_config["input_size"])
    with tempfile.TemporaryDirectory() as tmp:
        cache = FeatureCache(tmp, {"bench": True})
        t0 = time.perf_counter()
        for i in range(0, n, bs):
            x = torch.rand(min(bs, n - i), 3, size, size)
            cache.features(
                x,
                [f"/Run_2/query/image {j}.jpg|12345:1700000000000000000|scene" for j in range(i, i + len(x))],
                m.backbone,
            )
        seconds = time.perf_counter() - t0
        cache.save()
        mb = cache.path.stat().st_size / 2**20
    return {
        "images": n,
        "seconds_per_1000": 1000 * seconds / n,
        "mb_per_1000": 1000 * mb / n,
        "features": int(m.backbone.num_features),
    }


def _music_folder(cfg: DictConfig, folder: Path) -> str:
    """Fill ``folder`` with ``music.songs`` files: real 4Q clips (links) when ``music.real`` is there, else
    synthesised songs of ``music.excerpt_s`` seconds written as mp3 (decoding is part of what is timed)."""
    from emotune.audio.io import encode_audio
    from emotune.synthetic.music import synth_song

    n, real = int(cfg.music.songs), Path(str(cfg.music.real)) if cfg.music.get("real") else None
    clips = sorted(real.glob("Q*/*.mp3"))[:n] if real is not None and real.is_dir() else []
    if len(clips) == n:
        for i, c in enumerate(clips):
            (folder / f"{i:03d} {c.name}").symlink_to(c.resolve())
        return f"{n} real 4Q clips (about 30 s, mp3)"
    rng = np.random.default_rng(0)
    sr = 22050
    for i in range(n):
        audio = synth_song(rng.uniform(-1, 1), rng.uniform(-1, 1), seed=i, sr=sr, seconds=float(cfg.music.excerpt_s))
        encode_audio(folder / f"song {i:03d}.mp3", audio, sr)
    return f"{n} synthesised {float(cfg.music.excerpt_s):.0f} s songs written as mp3"


def music(cfg: DictConfig) -> dict[str, Any]:
    """``make library`` speed: songs per second on 30-second excerpts, decoding included, end to end (model load,
    worker start-up, tags, the catalogue), for the default labeller and, when present, the demo's log-mel model."""
    from emotune.runtime.library import label_folder

    workers = cfg.music.get("workers")
    res: dict[str, Any] = {
        "excerpt_s": float(cfg.music.excerpt_s),
        "workers": workers if workers is not None else "cores",
    }
    demo = best_checkpoint(Path(cfg.demo) / "music")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "music"
        folder.mkdir()
        res["files"] = _music_folder(cfg, folder)
        for name, ckpt in (("default", None), ("demo", demo if demo.is_file() else None)):
            if name == "demo" and ckpt is None:
                res["demo_skipped"] = f"no music checkpoint at {demo} (make demo trains it)"
                continue
            t0 = time.perf_counter()
            report = label_folder(folder, Path(tmp) / f"{name}.csv", ckpt, progress=False, workers=workers)
            seconds = time.perf_counter() - t0
            prefix = "" if name == "default" else "demo_"
            res[f"{prefix}songs"] = report["labelled"]
            res[f"{prefix}seconds"] = seconds
            res[f"{prefix}songs_per_s"] = report["labelled"] / seconds
    return res


def detection(cfg: DictConfig) -> dict[str, Any]:
    """Per detector: recall and false positives on the synthetic test images and on real photographs, and ms
    per analysed frame of the default clip, scanning every frame and looking near the last face first."""
    from emotune.bench.detection import detector_table

    try:
        return detector_table(cfg)
    except EmotuneError as exc:
        return {"skipped": str(exc)}
