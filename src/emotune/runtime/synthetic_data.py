"""``make data`` (``python -m emotune.runtime.synthetic_data [key=value ...]``, settings
``conf/synthetic_data.yaml``): the embedded benchmark, built once and rebuilt only when its settings or the
generator change."""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict
from pathlib import Path

from omegaconf import DictConfig

from emotune.utils.command import command
from emotune.utils.errors import DataError
from emotune.utils.io import write_json_atomic

SYNTHETIC_VERSION = 3  # bump when the generator changes, so `make data` rebuilds


@command("synthetic_data")
def main(cfg: DictConfig) -> None:
    """Build the embedded benchmark: FindingEmo-format images, a DEAM-format catalogue with audio, a default clip,
    each detector's face cache and ``benchmark.json``."""
    from emotune.detect.cache import build_face_cache
    from emotune.runtime.compose import build_detector, compose_config
    from emotune.synthetic.benchmark import benchmark_stats, detector_rates_line
    from emotune.synthetic.findingemo_like import SyntheticSpec, generate, real_label_rows
    from emotune.synthetic.songs import write_deam_like
    from emotune.synthetic.video import VideoSpec, default_keyframes, render_video

    root = Path(str(cfg.root))
    fe_root, stamp = root / "findingemo", root / "BUILD.json"
    n_images, n_shifted, n_songs, seed = int(cfg.n_images), int(cfg.n_shifted), int(cfg.n_songs), int(cfg.seed)
    if n_images < 40 or n_shifted < 0:
        raise DataError(
            f"n_images={n_images} n_shifted={n_shifted}: need at least 40 images (and no negative count) for "
            "train/val/test splits."
        )
    if n_songs < 20:
        raise DataError(f"n_songs={n_songs}: need at least 20 songs for the stations and the music splits.")
    spec = SyntheticSpec(n_images=n_images, n_shifted=n_shifted, seed=seed)
    wanted = {"spec": asdict(spec), "songs": n_songs, "version": SYNTHETIC_VERSION}
    if stamp.is_file() and not cfg.force and all(json.loads(stamp.read_text()).get(k) == v for k, v in wanted.items()):
        print(f"Synthetic data already built in {root} (force=true rebuilds it).")
        return
    t0 = time.perf_counter()
    shutil.rmtree(root / "deam" / "DEAM_audio", ignore_errors=True)  # a rebuild: no stale songs
    real = real_label_rows()
    df = generate(fe_root, spec, label_rows=real)
    songs = write_deam_like(root / "deam", n=n_songs, seed=seed)
    kf = default_keyframes()
    (root / "videos").mkdir(parents=True, exist_ok=True)
    kf.to_csv(root / "videos" / "default_keyframes.csv", index=False)
    render_video(kf, root / "videos" / "default.mp4", VideoSpec(seed=seed))
    default = compose_config("train", [], root / ".compose").hydra.runtime.choices["detector"]
    detections = {}
    measured = df.loc[df["split"] == "test", "image_path"].tolist()  # training caches the rest on first use
    for name in dict.fromkeys([default, *cfg.detectors]):  # the same cache files training reads
        det = build_detector(name, root / ".compose")
        if isinstance(det, str):
            print(f"Detector {name} skipped: {det}")
            continue
        detections[name] = build_face_cache(measured, fe_root / "images", det, fe_root / "cache")
    stats = {**benchmark_stats(fe_root, real, detections, default), "detection_measured_on": "test split"}
    write_json_atomic(fe_root / "benchmark.json", stats)
    seconds = time.perf_counter() - t0
    counts = df["split"].value_counts().to_dict()
    write_json_atomic(stamp, {**wanted, "images": len(df), "splits": counts, "build_seconds": round(seconds, 1)})
    print(f"Synthetic FindingEmo: {len(df)} images {counts} -> {fe_root}")
    print(f"Synthetic DEAM catalogue: {len(songs)} songs with audio -> {root / 'deam'}")
    print(f"Default clip: {root / 'videos' / 'default.mp4'} (+ default.va.csv)")
    print(
        f"Benchmark ({fe_root / 'benchmark.json'}): face_detected_fraction {stats['face_detected_fraction']:.3f} "
        f"({default}, test split), label_js_divergence {stats['label_js_divergence']:.4f}, label_noise_sd "
        f"{stats['label_noise_sd']:.3f} (FindingEmo units)"
    )
    print(f"Detectors: {detector_rates_line(stats)}. Built in {seconds:.0f} s.")


if __name__ == "__main__":
    main()
