"""Objects built from their config nodes, for tests.

``conf/`` is the one home of every setting (``tests/test_config_homes.py``): the classes its nodes build have no
Python defaults for what a node sets. A test that needs a detector, a stabilizer, a matcher, a perceiver, a model or a
datamodule builds it from its group option and changes only what the test is about::

    build("stabilizer", "ema", tau=0.3)                       # conf/stabilizer/ema.yaml, tau replaced
    build("matcher", catalog=cat, stations={"k": 3})          # conf/matcher/gmm.yaml (the default option)
    build("matcher.policy", None, "matcher/policy=guide", max_play_s=60.0)  # a nested group's option
    build("model", "face", "model/backbone=test_convnext_face", head={"kind": "mlp"})

Keyword arguments go through ``hydra.utils.instantiate`` (as the entry points call it: a user error raised inside
the object comes out as itself, not wrapped by Hydra): a dict is merged into the node's dict (its other keys
stay), anything else (an object, ``None``, a number) replaces the value. Positional strings are Hydra overrides of
the entry config (``train.yaml`` or ``infer.yaml``), for what only composition can change (another backbone option).
"""

from __future__ import annotations

import atexit
import functools
import shutil
import tempfile
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, ListConfig, OmegaConf

from emotune.runtime.compose import compose_config
from emotune.utils.instantiators import instantiate

# The entry config whose defaults list picks each group's option.
ENTRY = {
    "model": "train",
    "data": "train",
    "trainer": "train",
    "callbacks": "train",
    "logger": "train",
    "detector": "infer",
    "perceive": "infer",
    "stabilizer": "infer",
    "matcher": "infer",
    "catalog": "infer",
    "soundtrack": "infer",  # a node of infer.yaml itself (no options)
}


@functools.cache
def scratch() -> Path:
    """A folder for the caches and run dirs the composed nodes point at (removed at exit), never the repo's."""
    path = Path(tempfile.mkdtemp(prefix="emotune-conf-"))
    atexit.register(shutil.rmtree, path, True)
    return path


@functools.cache
def _resolved(key: str, option: str | None, overrides: tuple[str, ...]) -> DictConfig:
    """``key``'s node in its entry config, composed with ``<group>=<option>`` and ``overrides``, fully resolved."""
    group = key.split(".")[0]
    if group not in ENTRY:
        raise KeyError(f"{group!r} is not a config group with objects to build; one of: {', '.join(ENTRY)}")
    name = ENTRY[group]
    composed = [f"paths.cache_dir={scratch() / 'cache'}", *([f"{group}={option}"] if option else []), *overrides]
    if name == "infer":
        composed.insert(0, "video=unused")
    before = HydraConfig.instance().cfg  # compose_config sets Hydra's global config: put the caller's back
    try:
        cfg = compose_config(name, composed, scratch() / "run")
        node = OmegaConf.select(cfg, key)
        if not isinstance(node, DictConfig):
            raise KeyError(f"{key} is not a config node of {name}.yaml (with {group}={option})")
        resolved = OmegaConf.create(OmegaConf.to_container(node, resolve=True))
    finally:
        HydraConfig.instance().cfg = before
    OmegaConf.set_readonly(resolved, True)
    return resolved


def node(key: str, option: str | None = None, *overrides: str) -> DictConfig:
    """A copy of the resolved config node at ``key`` (``model``, ``matcher.stations``...) as its entry config
    composes it with ``<group>=<option>`` (``None``: the entry config's default option) and Hydra ``overrides``."""
    copy = OmegaConf.create(OmegaConf.to_container(_resolved(key, option, tuple(overrides))))
    assert isinstance(copy, DictConfig)
    return copy


def build(key: str, option: str | None = None, *overrides: str, **kwargs: Any) -> Any:
    """The object the node at ``key`` builds (see :func:`node`), with ``kwargs`` replacing or merging into its
    settings. Models are built as ``train.py`` builds them (``_recursive_=False``: the module completes its
    optimizer and scheduler nodes itself)."""
    if key.split(".")[0] == "model":
        kwargs.setdefault("_recursive_", False)
    cfg = _resolved(key, option, tuple(overrides))
    # Objects (a catalogue, trained models, a settings dataclass) are passed as they are: Hydra would merge a
    # dataclass into the node as a config. The node is built as a partial without them, then called with them.
    objects = {k: v for k, v in kwargs.items() if not _is_config_value(v)}
    if not objects:
        return instantiate(cfg, **kwargs)
    rest = OmegaConf.masked_copy(cfg, [k for k in cfg if k not in objects])
    plain = {k: v for k, v in kwargs.items() if k not in objects}
    return instantiate(rest, _partial_=True, **plain)(**objects)


def _is_config_value(value: Any) -> bool:
    """Plain data a config can hold (Hydra merges it into the node); anything else is an object to pass as is."""
    if isinstance(value, dict | list | tuple):
        return all(_is_config_value(v) for v in (value.values() if isinstance(value, dict) else value))
    return value is None or isinstance(value, str | int | float | bool | DictConfig | ListConfig)


def read_catalog(path: str | Path) -> Any:
    """A library CSV read as ``catalog=csv catalog.path=FILE`` reads it (``conf/catalog/csv.yaml``)."""
    return build("catalog", "csv", path=str(path))
