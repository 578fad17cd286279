"""The page's settings (``conf/app.yaml``) and one run's choices, as the ``conf/infer.yaml`` overrides they mean."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from emotune.models.loading import best_checkpoint
from emotune.pipeline.policies import MODES
from emotune.runtime.compose import resolved
from emotune.store.engine import StoreSettings
from emotune.utils.errors import ConfigError, DataError, MissingResourceError, check_choice, check_range

CATALOGS = ("synthetic", "deam", "csv")
STABILIZERS = ("ema", "kalman", "none")
PHASES = ("fusion", "scene", "face")  # a folder holding any of these checkpoints is a model set


@dataclass(frozen=True)
class AppSettings:
    """``conf/app.yaml`` as typed values (every value comes from the YAML: no defaults here)."""

    host: str
    port: int
    max_upload_mb: float
    concurrency: int
    queue_size: int
    preload: bool
    torch_threads: int | None
    runs_dir: Path
    cache_dir: Path
    cache_every_s: int
    cache_max_age_s: int
    models_default: str
    models_search: Path
    catalog_default: str
    deam_root: str
    csv_path: str
    matcher_mode: str
    stabilizer: str
    render: bool
    infer: tuple[str, ...]
    players: int
    stream_every_s: float
    stream_time_limit_s: int
    streams: int
    idle_s: float
    trail_s: float
    manual_horizon_s: float
    manual_step_s: float
    store: StoreSettings  # the listener store (conf/store/), shared with every run's conf/infer.yaml

    @classmethod
    def from_cfg(cls, cfg: DictConfig) -> AppSettings:
        """Read and check ``conf/app.yaml`` (composed)."""
        c: Any = resolved(cfg)
        s, w, m = c["server"], c["webcam"], c["manual"]
        out = cls(
            host=str(s["host"]),
            port=int(check_range("server.port", s["port"], 1, 65535)),
            max_upload_mb=check_range("server.max_upload_mb", s["max_upload_mb"], 0, None, low_inclusive=False),
            concurrency=int(check_range("server.concurrency", s["concurrency"], 1)),
            queue_size=int(check_range("server.queue_size", s["queue_size"], 1)),
            preload=bool(s["preload"]),
            torch_threads=None
            if s["torch_threads"] is None
            else int(check_range("server.torch_threads", s["torch_threads"], 1)),
            runs_dir=Path(c["runs_dir"]).resolve(),
            cache_dir=Path(c["cache_dir"]).resolve(),
            cache_every_s=int(check_range("cache_clean.every_s", c["cache_clean"]["every_s"], 1)),
            cache_max_age_s=int(check_range("cache_clean.max_age_s", c["cache_clean"]["max_age_s"], 1)),
            models_default=str(c["models"]["default"]),
            models_search=Path(c["models"]["search"]),
            catalog_default=check_choice("catalog.default", c["catalog"]["default"], CATALOGS),
            deam_root=str(c["catalog"]["deam_root"]),
            csv_path=str(c["catalog"]["csv_path"]),
            matcher_mode=check_choice("matcher_mode", c["matcher_mode"], MODES),
            stabilizer=check_choice("stabilizer", c["stabilizer"], STABILIZERS),
            render=bool(c["render"]),
            infer=tuple(str(o) for o in c["infer"] or ()),
            players=int(check_range("players", c["players"], 0)),
            stream_every_s=check_range("webcam.stream_every_s", w["stream_every_s"], 0.05, 10),
            stream_time_limit_s=int(check_range("webcam.time_limit_s", w["time_limit_s"], 1)),
            streams=int(check_range("webcam.streams", w["streams"], 1)),
            idle_s=check_range("webcam.idle_s", w["idle_s"], 1),
            trail_s=check_range("webcam.trail_s", w["trail_s"], 0),
            manual_horizon_s=check_range("manual.horizon_s", m["horizon_s"], 0, None, low_inclusive=False),
            manual_step_s=check_range("manual.step_s", m["step_s"], 0, None, low_inclusive=False),
            store=StoreSettings(**{k: v for k, v in c["store"].items() if k != "_target_"}),
        )
        return out

    @property
    def max_upload_bytes(self) -> int:
        """The upload limit in bytes (1 MB = 10^6 bytes)."""
        return int(self.max_upload_mb * 1_000_000)


def quote(value: str) -> str:
    """A Hydra override value in single quotes (paths with spaces, ``=`` or commas stay one value)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class RunChoice:
    """What the page asks of one run: the model set, the catalogue, the matcher mode and the stabilizer."""

    models: str
    catalog: str
    catalog_path: str
    mode: str
    stabilizer: str

    def check(self) -> RunChoice:
        """Refuse a choice that cannot work, with the fix, before anything is loaded."""
        check_choice("catalogue", self.catalog, CATALOGS)
        check_choice("mode", self.mode, MODES)
        check_choice("stabilizer", self.stabilizer, STABILIZERS)
        if not self.models.strip():
            raise ConfigError("model set is empty; choose one (e.g. outputs/real or outputs/demo after `make demo`).")
        folder = Path(self.models.strip())
        if not folder.is_dir():
            raise MissingResourceError(
                f"model set folder not found: {folder}; choose one from the list or train it (`make demo-models`)."
            )
        if not any(best_checkpoint(folder / p).is_file() for p in PHASES):
            raise MissingResourceError(
                f"model set {folder} holds no scene/, face/ or fusion/ checkpoints/best.ckpt; "
                "choose a folder that `make demo-models` (or train.py) wrote."
            )
        if self.catalog != "synthetic":
            what = "DEAM folder" if self.catalog == "deam" else "library CSV (`make library`)"
            if not self.catalog_path.strip():
                raise DataError(f"catalogue {self.catalog} needs a path: type the {what}.")
            path = Path(self.catalog_path.strip())
            ok = path.is_dir() if self.catalog == "deam" else path.is_file()
            if not ok:
                raise MissingResourceError(f"catalogue path not found: {path}; type the {what}.")
        return self

    def overrides(self) -> tuple[str, ...]:
        """The ``conf/infer.yaml`` overrides of this choice (the pipeline's config groups)."""
        out = [
            f"ckpt.dir={quote(self.models.strip())}",
            f"catalog={self.catalog}",
            f"matcher/policy={self.mode}",
            f"stabilizer={self.stabilizer}",
        ]
        if self.catalog == "deam":
            out.append(f"catalog.root={quote(self.catalog_path.strip())}")
        elif self.catalog == "csv":
            out.append(f"catalog.path={quote(self.catalog_path.strip())}")
        return tuple(out)


def list_model_sets(search: Path, default: str = "") -> list[str]:
    """The folders directly under ``search`` that hold a trained phase (plus ``default`` when it does)."""
    found: list[str] = []
    if Path(search).is_dir():
        for d in sorted(Path(search).iterdir()):
            if d.is_dir() and any(best_checkpoint(d / p).is_file() for p in PHASES):
                found.append(str(d))
    if default and default not in found and Path(default).is_dir():
        found.insert(0, default)
    return found
