"""``make bench``: realtime factor, time per stage, MC Dropout cost, matcher latency, detectors, feature cache,
data pipeline, music labelling, memory, the listener's session driver -> ``outputs/bench/bench.{json,md}``.

``python -m emotune.bench.run [key=value ...]`` (settings: ``conf/bench.yaml``). Everything is measured in
this one run on this machine, so ratios compare like with like; absolute times on shared machines are noisy.
"""

from __future__ import annotations

import logging
import os
import platform
import time
from pathlib import Path
from typing import Any

import hydra
import torch
from omegaconf import DictConfig

from emotune.bench import listener, realtime, sections
from emotune.bench.report import render
from emotune.models.loading import best_checkpoint
from emotune.runtime.compose import compose_config
from emotune.utils.command import command
from emotune.utils.errors import MissingResourceError
from emotune.utils.io import write_json_atomic, write_text_atomic

log = logging.getLogger("emotune.bench")


def machine() -> str:
    """CPU, torch, threads, GPU."""
    cpu = platform.processor() or platform.machine()
    gpu = f"CUDA {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "no GPU"
    return f"{os.cpu_count()} CPU cores ({cpu}), torch {torch.__version__}, {torch.get_num_threads()} threads, {gpu}"


def bench(cfg: DictConfig) -> dict[str, Any]:
    """Run every section, keep partial results, write ``bench.json`` and ``bench.md`` into ``cfg.out``."""
    out, demo = Path(cfg.out), Path(cfg.demo)
    for phase in ("scene", "face", "fusion"):
        if not best_checkpoint(demo / phase).is_file():
            raise MissingResourceError(f"demo={demo} lacks {phase}/checkpoints/best.ckpt; run `make demo` first.")
    if not Path(cfg.video).is_file():
        raise MissingResourceError(f"video={cfg.video} not found; run `make data` first.")
    t0 = time.perf_counter()
    vit = sections.vitb32_checkpoint(out, cfg.realtime.vitb32_experiment)
    catalog = hydra.utils.instantiate(compose_config("infer", ["video=x"], out).catalog)
    res: dict[str, Any] = {"machine": machine()}
    steps = [
        ("realtime", lambda: realtime.realtime(cfg, vit)),
        ("mc_dropout", lambda: sections.mc_dropout(cfg, vit)),
        ("matcher", lambda: sections.matcher(cfg, catalog)),
        ("detection", lambda: sections.detection(cfg)),
        ("feature_cache", lambda: sections.feature_cache(cfg)),
        ("data_pipeline", lambda: sections.data_pipeline(cfg)),
        ("feature_build", lambda: sections.feature_build(cfg, vit)),
        ("music", lambda: sections.music(cfg)),
        ("listener", lambda: listener.listener(cfg)),
    ]
    for name, fn in steps:
        print(f"bench: {name} ...", flush=True)
        res[name] = fn()
        write_json_atomic(out / "bench.partial.json", res)  # a crash later keeps what was measured
    res["seconds"] = time.perf_counter() - t0
    write_json_atomic(out / "bench.json", res)
    write_text_atomic(out / "bench.md", render(res, cfg))
    (out / "bench.partial.json").unlink(missing_ok=True)
    return res


@command("bench")
def main(cfg: DictConfig) -> None:
    """``python -m emotune.bench.run [key=value ...]``: every section, one report."""
    bench(cfg)
    print((Path(cfg.out) / "bench.md").read_text())
    print(f"Wrote {Path(cfg.out) / 'bench.json'} and bench.md")


if __name__ == "__main__":
    main()
