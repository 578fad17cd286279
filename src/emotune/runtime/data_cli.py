"""Data commands: ``python -m emotune.runtime.data_cli synthetic|video|findingemo|validate|deam``.

The Makefile wraps them (``make data``, ``make video``, ``make data-findingemo``).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from dataclasses import asdict
from pathlib import Path

from emotune.utils.cli import exit_on_user_error
from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.io import write_json_atomic

log = logging.getLogger("emotune.data")
SYNTHETIC_VERSION = 3  # bump when the generator changes, so `make data` rebuilds


def cmd_synthetic(args: argparse.Namespace) -> None:
    """Build the embedded benchmark: FindingEmo-format images, a DEAM-format catalogue with audio, a default clip,
    each detector's face cache and ``benchmark.json``."""
    from emotune.detect.cache import build_face_cache
    from emotune.runtime.compose import build_detector, compose_config
    from emotune.synthetic.benchmark import benchmark_stats, detector_rates_line
    from emotune.synthetic.findingemo_like import SyntheticSpec, generate, real_label_rows
    from emotune.synthetic.songs import write_deam_like
    from emotune.synthetic.video import VideoSpec, default_keyframes, render_video

    root = Path(args.root)
    fe_root, stamp = root / "findingemo", root / "BUILD.json"
    if args.n_images < 40 or args.n_shifted < 0:
        raise DataError(
            f"--n-images {args.n_images} --n-shifted {args.n_shifted}: need at least 40 images (and no "
            "negative count) for train/val/test splits."
        )
    if args.n_songs < 20:
        raise DataError(f"--n-songs {args.n_songs}: need at least 20 songs for the stations and the music splits.")
    spec = SyntheticSpec(n_images=args.n_images, n_shifted=args.n_shifted, seed=args.seed)
    wanted = {"spec": asdict(spec), "songs": args.n_songs, "version": SYNTHETIC_VERSION}
    if stamp.is_file() and not args.force and all(json.loads(stamp.read_text()).get(k) == v for k, v in wanted.items()):
        print(f"Synthetic data already built in {root} (use --force to rebuild).")
        return
    t0 = time.perf_counter()
    shutil.rmtree(root / "deam" / "DEAM_audio", ignore_errors=True)  # a rebuild: no stale songs
    real = real_label_rows()
    df = generate(fe_root, spec, label_rows=real)
    songs = write_deam_like(root / "deam", n=args.n_songs, seed=args.seed)
    kf = default_keyframes()
    (root / "videos").mkdir(parents=True, exist_ok=True)
    kf.to_csv(root / "videos" / "default_keyframes.csv", index=False)
    render_video(kf, root / "videos" / "default.mp4", VideoSpec(seed=args.seed))
    default = compose_config("train", [], root / ".compose").hydra.runtime.choices["detector"]
    detections = {}
    measured = df.loc[df["split"] == "test", "image_path"].tolist()  # training caches the rest on first use
    for name in dict.fromkeys([default, *args.detectors]):  # the same cache files training reads
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


def cmd_video(args: argparse.Namespace) -> None:
    """Render a clip from a keyframe trajectory."""
    from emotune.synthetic.video import VideoSpec, render_video

    spec = VideoSpec(
        fps=args.fps,
        width=args.width,
        height=args.height,
        head_motion=args.head_motion,
        lighting=args.lighting,
        noise=args.noise,
        seed=args.seed,
    )
    if spec.fps <= 0 or spec.width < 32 or spec.height < 32:
        raise DataError(f"fps={spec.fps}, size={spec.width}x{spec.height}: need fps > 0 and at least 32x32 pixels.")
    video, gt = render_video(args.traj, args.out, spec)
    print(f"Wrote {video} and {gt}")


def cmd_findingemo(args: argparse.Namespace) -> None:
    """Download the FindingEmo images with findingemo-light's downloader (needs internet)."""
    import socket

    target = Path(args.data_dir)
    try:
        socket.create_connection(("web.archive.org", 443), timeout=5).close()
    except OSError:
        raise MissingResourceError(
            f"No internet connection: cannot download FindingEmo into {target}. Run `make data-findingemo "
            "DATA_DIR=...` on a machine with internet and copy the folder here, then set data.root."
        ) from None
    from findingemo_light.paper.download_multi import download_data

    target.mkdir(parents=True, exist_ok=True)
    download_data(target_dir=str(target))
    print(f"Downloaded into {target}. Next: `python -m emotune.runtime.data_cli validate --root {target}`")


def cmd_validate(args: argparse.Namespace) -> None:
    """Count missing/unreadable images, write the manifest of usable rows, the counts and the split."""
    from emotune.data.validation import validate_download

    res = validate_download(args.root, args.annotations, args.image_root, seed=args.seed)
    print(f"Manifest: {Path(args.root) / 'manifest.csv'}; split: {res['splits']} -> {Path(args.root) / 'splits.csv'}")


def cmd_deam(args: argparse.Namespace) -> None:
    """Summarise a DEAM folder (checks the loader on a real download)."""
    from emotune.data.deam import load_deam

    cat = load_deam(args.root)
    va = cat.va
    print(
        f"{len(cat)} songs; valence {va[:, 0].min():.2f}..{va[:, 0].max():.2f}, "
        f"arousal {va[:, 1].min():.2f}..{va[:, 1].max():.2f}; dropped {cat.dropped}"
    )


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of the data commands."""
    p = argparse.ArgumentParser(prog="emotune-data", description=__doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("synthetic", help="build the embedded synthetic data set")
    s.add_argument("--root", default="data/synthetic")
    s.add_argument("--n-images", type=int, default=3000)
    s.add_argument("--n-shifted", type=int, default=400)
    s.add_argument("--n-songs", type=int, default=1802)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--force", action="store_true")
    s.add_argument("--detectors", nargs="*", default=["haar"], help="detectors besides the default to report")
    s.set_defaults(fn=cmd_synthetic)
    v = sub.add_parser("video", help="render a clip from keyframes (t_s,valence,arousal[,face])")
    v.add_argument("--traj", required=True)
    v.add_argument("--out", required=True)
    v.add_argument("--fps", type=float, default=24.0)
    v.add_argument("--width", type=int, default=640)
    v.add_argument("--height", type=int, default=360)
    v.add_argument("--head-motion", type=float, default=1.0)
    v.add_argument("--lighting", type=float, default=1.0)
    v.add_argument("--noise", type=float, default=4.0)
    v.add_argument("--seed", type=int, default=0)
    v.set_defaults(fn=cmd_video)
    f = sub.add_parser("findingemo", help="download FindingEmo images (needs internet)")
    f.add_argument("--data-dir", required=True)
    f.set_defaults(fn=cmd_findingemo)
    c = sub.add_parser("validate", help="validate a FindingEmo download; write manifest and split")
    c.add_argument("--root", required=True)
    c.add_argument("--image-root", default=None)
    c.add_argument("--annotations", default=None)
    c.add_argument("--seed", type=int, default=0)
    c.set_defaults(fn=cmd_validate)
    d = sub.add_parser("deam", help="summarise a DEAM folder")
    d.add_argument("--root", required=True)
    d.set_defaults(fn=cmd_deam)
    return p


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    """CLI entry point."""
    logging.basicConfig(level=logging.INFO, format="[%(name)s] %(message)s")
    args = build_parser().parse_args(argv)
    args.fn(args)


if __name__ == "__main__":
    main(sys.argv[1:])
