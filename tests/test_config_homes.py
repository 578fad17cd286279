"""One home for every setting: ``conf/``.

The rule (issue 25): YAML in ``conf/`` is where every user-facing setting lives. For each node with a ``_target_`` in
any YAML file (files with a defaults list are composed through Hydra, as ``train.py`` / ``infer.py`` compose them;
the others are read as written), the target is imported and its signature compared with the node:

(a) every key of the node is a parameter of the target (``**kwargs`` an emotune class passes to its parent are
    followed up the MRO; a third-party ``**kwargs`` accepts any key);
(b) no key the node sets has a Python default in an emotune target (a default there would be a second home that a
    Python caller silently gets; third-party signatures are not ours to change);
(c) every required parameter is set by the node, or is on :data:`INJECTED`, the short list of objects code passes.

Hydra's own nodes (``hydra:``) are left to Hydra, which checks them against each plugin's schema. The checker is
tested on deliberately wrong nodes too, so a pass means something.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hydra
import pytest
from omegaconf import OmegaConf

from emotune.models.loading import best_checkpoint, last_checkpoint
from emotune.runtime.compose import compose_config

from .conftest import ROOT

CONF = ROOT / "conf"
RESERVED = {"_target_", "_partial_", "_recursive_", "_convert_", "_args_"}
OWN = ("emotune.", "tests.")  # targets whose signatures follow rule (b)

# Required parameters no conf node sets, because code passes them at run time (rule c). Keyed by target prefix.
INJECTED: dict[str, set[str]] = {
    "torch.optim.lr_scheduler.": {"optimizer"},  # EmotuneModule.configure_optimizers completes the scheduler node
    "torch.optim.": {"params"},  # ... and the optimizer node, with the module's parameter groups
}

# The entry config each group is composed in (the rest are train.yaml's) and what every composition needs.
INFER_GROUPS = {"perceive", "stabilizer", "matcher", "catalog", "store"}
ENTRY_OVERRIDES = {"infer": ["video=x.mp4"]}
MUSIC_DATA = {"synthetic_audio", "deam_audio", "fourq", "pmemo"}
PHASES = ("scene", "face", "fusion", "music")


# ------------------------------------------------------------------------------------------------- the checker
@dataclass
class Signature:
    """What a target accepts: parameter name -> whether it has a default; ``open``: any other keyword too."""

    params: dict[str, bool]
    open: bool = False


def signature(target: Any) -> Signature:
    """The parameters of a function, a dataclass (its init fields) or a class (``__init__`` up the MRO while an
    emotune class passes ``**kwargs`` on to its parent)."""
    if isinstance(target, type) and dataclasses.is_dataclass(target):
        fields = [f for f in dataclasses.fields(target) if f.init]
        missing = dataclasses.MISSING
        return Signature({f.name: f.default is not missing or f.default_factory is not missing for f in fields})
    if not isinstance(target, type):
        return _from(inspect.signature(target), Signature({}))[0]
    sig = Signature({})
    for cls in target.__mro__:
        if cls is object or "__init__" not in vars(cls):
            continue
        sig, forwards = _from(inspect.signature(cls.__init__), sig, skip_self=True)
        if not forwards:
            return sig
        if not cls.__module__.startswith(OWN):  # a third-party **kwargs: where it goes is not ours to follow
            sig.open = True
            return sig
    return sig


def _from(sig: inspect.Signature, into: Signature, skip_self: bool = False) -> tuple[Signature, bool]:
    """Add ``sig``'s named parameters to ``into`` (a subclass's own entry wins); whether it has ``**kwargs``."""
    forwards = False
    for i, p in enumerate(sig.parameters.values()):
        if skip_self and i == 0:
            continue
        if p.kind is inspect.Parameter.VAR_KEYWORD:
            forwards = True
        elif p.kind is not inspect.Parameter.VAR_POSITIONAL:
            into.params.setdefault(p.name, p.default is not inspect.Parameter.empty)
    return into, forwards


def injected(target: str) -> set[str]:
    """The allow-listed parameters code passes to ``target``."""
    return set().union(*(names for prefix, names in INJECTED.items() if target.startswith(prefix)))


def check_node(node: Mapping[str, Any], where: str, own: Callable[[str], bool] | None = None) -> list[str]:
    """Rules (a)-(c) for one ``_target_`` node; one line per problem, naming the file, the node and the key."""
    target = str(node["_target_"])
    is_own = own(target) if own is not None else target.startswith(OWN)
    try:
        obj = hydra.utils.get_object(target)
    except Exception as exc:  # any import failure is the finding
        return [f"{where}: _target_ {target} does not import ({type(exc).__name__}: {exc})"]
    sig = signature(obj)
    keys = {str(k) for k in node} - RESERVED
    problems = []
    if not sig.open:
        problems += [f"{where}: {k} is not a parameter of {target}" for k in sorted(keys - set(sig.params))]
    if is_own:
        problems += [
            f"{where}: {k} is set here and also has a Python default in {target} (two homes; drop the default)"
            for k in sorted(keys & {p for p, has_default in sig.params.items() if has_default})
        ]
    required = {p for p, has_default in sig.params.items() if not has_default}
    problems += [
        f"{where}: {target} needs {p}, which this node does not set (set it here, or list it in INJECTED)"
        for p in sorted(required - keys - injected(target))
    ]
    return problems


def target_nodes(tree: Any, path: str = "") -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Every mapping with a ``_target_`` in a plain config tree, with its dotted path (``<top>`` for the tree
    itself; the top-level ``hydra:`` node is left out)."""
    if isinstance(tree, Mapping):
        if "_target_" in tree:
            yield path or "<top>", tree
        for k, v in tree.items():
            if not path and k == "hydra":
                continue
            yield from target_nodes(v, f"{path}.{k}" if path else str(k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from target_nodes(v, f"{path}[{i}]")


# ------------------------------------------------------------------------------------------------- conf/, walked
def yaml_files() -> list[Path]:
    return sorted(CONF.rglob("*.yaml"))


def composition(path: Path) -> tuple[str, list[str]] | None:
    """How ``train.py`` / ``infer.py`` compose a file (entry config, overrides); ``None``: read it as written."""
    if "defaults" not in (OmegaConf.load(path) or {}):
        return None
    parts = path.relative_to(CONF).with_suffix("").parts
    if len(parts) == 1:
        return parts[0], list(ENTRY_OVERRIDES.get(parts[0], []))
    group, option = "/".join(parts[:-1]), parts[-1]
    if group.split("/")[0] == "hydra":
        return None  # Hydra's own config (its plugins check it)
    entry = "infer" if group in INFER_GROUPS else "train"
    overrides = [*ENTRY_OVERRIDES.get(entry, []), f"{group}={option}"]
    if group == "experiment":
        overrides.append(f"phase={next(p for p in PHASES if p in option)}")  # named after their phase
    elif group == "data" and option in MUSIC_DATA:
        overrides.append("phase=music")
    return entry, overrides


def conf_nodes(out: Path) -> list[tuple[str, Mapping[str, Any]]]:
    """Every ``_target_`` node of every YAML file in ``conf/`` (each distinct node once, where it is first seen)."""
    seen: set[tuple[str, frozenset[str]]] = set()
    found = []
    for path in yaml_files():
        rel = path.relative_to(CONF)
        how = composition(path)
        if how is None:
            tree, label = OmegaConf.to_container(OmegaConf.load(path), resolve=False), f"conf/{rel}"
        else:
            entry, overrides = how
            cfg = compose_config(entry, overrides, out)
            tree = OmegaConf.to_container(cfg, resolve=False)
            label = f"conf/{rel} (composed: {entry}.yaml {' '.join(overrides)})".replace(" )", ")")
        for where, node in target_nodes(tree):
            key = (str(node["_target_"]), frozenset(map(str, node)))
            if key not in seen:
                seen.add(key)
                found.append((f"{label} {where}", node))
    return found


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Mapping[str, Any]]]:
    return conf_nodes(tmp_path_factory.mktemp("conf_homes"))


def test_every_target_node_and_its_signature_agree(nodes) -> None:
    problems = [p for where, node in nodes for p in check_node(node, where)]
    assert not problems, "\n".join(problems)
    built = {str(node["_target_"]) for _, node in nodes}
    assert len(built) >= 35 and "emotune.models.face_module.FaceLitModule" in built  # the walk saw conf/
    policies = {"emotune.pipeline.policies.ValidatePolicy", "emotune.pipeline.policies.GuidePolicy"}
    assert {"emotune.pipeline.stations.StationSettings", *policies} <= built


def test_the_four_settings_that_differed_live_in_conf_only() -> None:
    """Issue 25: a Python caller got other values than the CLI for these; now the signature has no default."""
    from emotune.data.va_datamodule import VADataModule
    from emotune.models.music_module import MusicLitModule

    music, data = signature(MusicLitModule).params, signature(VADataModule).params
    assert not music["backbone_lr_scale"] and not music["feature_cache"]  # conf/model/va_base.yaml, music.yaml
    assert not data["face_color_jitter"] and not data["in_memory"]  # conf/data/synthetic.yaml (+ findingemo, oasis)


def test_the_run_layout_has_one_home(tmp_path: Path) -> None:
    """The checkpoint callbacks write where ``best_checkpoint`` / ``last_checkpoint`` look (Python's one spelling of
    ``checkpoints/best.ckpt``), for the default callbacks and for the experiment that brings its own."""
    for overrides in ([], ["experiment=bench_scene_vitb32"]):
        cfg = compose_config("train", overrides, tmp_path)
        callbacks = OmegaConf.to_container(cfg.callbacks, resolve=True)
        written = {
            Path(c["dirpath"]) / f"{c['filename']}.ckpt"
            for c in callbacks.values()
            if isinstance(c, dict) and str(c.get("_target_", "")).endswith("ModelCheckpoint")
        }
        assert best_checkpoint(tmp_path) in written, (overrides, written)
        if not overrides:
            assert last_checkpoint(tmp_path) in written


# ------------------------------------------------------------------------------------------------- it can fail
class Wrong:
    """A target with every kind of mismatch: a default for a configured key, a required key left unset."""

    def __init__(self, needed: int, configured: float = 0.5, *, left_to_code: object = None) -> None:
        self.needed, self.configured, self.left_to_code = needed, configured, left_to_code


class Child(Wrong):
    """Passes ``**kwargs`` on: the checker follows them to :class:`Wrong`."""

    def __init__(self, own: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.own = own


@dataclass(kw_only=True)
class Settings:
    set_here: int
    defaulted: float = 1.0


def test_the_checker_finds_each_kind_of_mismatch() -> None:
    wrong = {"_target_": f"{__name__}.Wrong", "configured": 0.7, "typo": 1}
    problems = check_node(wrong, "mem")
    assert any("typo is not a parameter" in p for p in problems)  # (a)
    assert any("configured is set here and also has a Python default" in p for p in problems)  # (b)
    assert any("needs needed" in p for p in problems)  # (c)
    assert not any("left_to_code" in p for p in problems)  # a defaulted parameter no node sets is code's
    assert len(problems) == 3
    child = check_node({"_target_": f"{__name__}.Child", "own": "x", "needed": 1}, "mem")
    assert child == []  # Wrong's parameters reached through **kwargs
    assert check_node({"_target_": f"{__name__}.Child", "needed": 1, "configured": 1.0}, "mem") == [
        f"mem: configured is set here and also has a Python default in {__name__}.Child (two homes; drop the default)",
        f"mem: {__name__}.Child needs own, which this node does not set (set it here, or list it in INJECTED)",
    ]
    dc = check_node({"_target_": f"{__name__}.Settings", "set_here": 1, "defaulted": 2.0}, "mem")
    assert len(dc) == 1 and "defaulted is set here" in dc[0]  # dataclass fields
    assert "does not import" in check_node({"_target_": "emotune.no_such_module.Thing"}, "mem")[0]


def test_the_checker_walks_lists_and_nested_nodes_and_allows_injected_objects() -> None:
    tree = {
        "model": {"_target_": f"{__name__}.Child", "own": "x", "needed": 1, "optimizer": {"_target_": "x.y"}},
        "trainer": {"plugins": [{"_target_": "torch.optim.AdamW", "lr": 1e-3}]},
        "hydra": {"sweeper": {"_target_": "not.checked"}},
    }
    found = dict(target_nodes(tree))
    assert set(found) == {"model", "model.optimizer", "trainer.plugins[0]"}
    assert check_node(found["trainer.plugins[0]"], "mem") == []  # params: passed by configure_optimizers
    assert check_node({"_target_": "torch.optim.AdamW"}, "mem") == []
    assert check_node({"_target_": "torch.optim.lr_scheduler.CosineAnnealingLR"}, "mem") == [
        "mem: torch.optim.lr_scheduler.CosineAnnealingLR needs T_max, which this node does not set "
        "(set it here, or list it in INJECTED)"
    ]
    assert dict(target_nodes({"_target_": "a.B", "x": 1})) == {"<top>": {"_target_": "a.B", "x": 1}}


def test_a_restated_default_in_conf_fails_the_rule(tmp_path: Path) -> None:
    """The real thing: give a real emotune target back a default for a key its conf node sets, and the walk of
    that node reports it (the check is on the signature, so a patched signature stands in for the edit)."""
    from emotune.pipeline.stabilizer import EMAStabilizer

    node = OmegaConf.to_container(OmegaConf.load(CONF / "stabilizer" / "ema.yaml"))
    assert check_node(node, "conf/stabilizer/ema.yaml") == []
    params = dict(inspect.signature(EMAStabilizer.__init__).parameters)
    params["window_s"] = params["window_s"].replace(default=4.0)
    patched = inspect.signature(EMAStabilizer.__init__).replace(parameters=list(params.values()))
    original = EMAStabilizer.__init__

    def init(self, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)

    init.__signature__ = patched  # type: ignore[attr-defined]
    EMAStabilizer.__init__ = init  # type: ignore[method-assign]
    try:
        problems = check_node(node, "conf/stabilizer/ema.yaml")
    finally:
        EMAStabilizer.__init__ = original  # type: ignore[method-assign]
    assert problems == [
        "conf/stabilizer/ema.yaml: window_s is set here and also has a Python default in "
        "emotune.pipeline.stabilizer.EMAStabilizer (two homes; drop the default)"
    ]
