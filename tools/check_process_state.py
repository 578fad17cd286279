"""``make lint``: no module changes process-wide state outside start-up.

A web server runs many requests in one process: a function that sets the umask, torch's thread count or matplotlib's
backend around its own work races with every other thread. Such settings are made once, by
``emotune.utils.process.start_up``, called from the programs' start-up (:data:`START_UP`). This check reads every
module's source (no import) and reports, by file and line:

* ``os.umask(...)`` anywhere (files are created with mode 0o666 and masked by the kernel: the umask is never needed);
* ``torch.set_num_threads`` / ``torch.set_num_interop_threads``, ``matplotlib.use``, an import of
  ``matplotlib.pyplot`` (draw on ``matplotlib.figure.Figure``) or the ``MPLBACKEND`` variable outside
  :data:`PROCESS` (the one module that sets them);
* a call of ``start_up`` outside :data:`START_UP`.

:data:`PENDING` lists modules known to break the rule whose fix belongs to other work; an entry that no longer breaks
it is reported too, so the list only shrinks.

    python tools/check_process_state.py [ROOT ...]     (default: src/emotune train.py infer.py)
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROCESS = {"emotune/utils/process.py"}  # sets torch's threads and MPLBACKEND, once, for the callers below
START_UP = {  # the programs' start-up: the only callers of start_up
    "emotune/runtime/entry.py",  # train.py and infer.py (extras.torch_threads)
    "emotune/app/__main__.py",  # the page (server.torch_threads)
    "emotune/bench/child.py",  # one timed run in its own process (extras.torch_threads)
    "emotune/runtime/library.py",  # make library (threads)
    "emotune/runtime/music_head.py",  # make music-head (threads)
    "emotune/eval/music.py",  # make eval-music (threads)
}
PENDING: dict[str, str] = {}  # known breaks whose fix belongs to other work (module -> what it sets)
SETTERS = {"torch.set_num_threads", "torch.set_num_interop_threads", "matplotlib.use"}


def dotted(node: ast.AST, aliases: dict[str, str]) -> str | None:
    """``a.b.c`` for a name or attribute chain, its first part replaced by what it was imported as."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(aliases.get(node.id, node.id))
    return ".".join(reversed(parts))


def findings(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """``(line, what)`` for every process-wide setting in a module (all of them, allowed or not)."""
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                aliases[a.asname or a.name.split(".")[0]] = a.name if a.asname else a.name.split(".")[0]
                if a.name == "matplotlib.pyplot":
                    yield node.lineno, "imports matplotlib.pyplot"
        elif isinstance(node, ast.ImportFrom) and node.module:
            for a in node.names:
                aliases[a.asname or a.name] = f"{node.module}.{a.name}"
                full = f"{node.module}.{a.name}"
                if full == "matplotlib.pyplot" or node.module == "matplotlib.pyplot":
                    yield node.lineno, "imports matplotlib.pyplot"
                if full in SETTERS or full == "os.umask":
                    yield node.lineno, f"imports {full}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = dotted(node.func, aliases)
            if name == "os.umask":
                yield node.lineno, "calls os.umask"
            elif name in SETTERS:
                yield node.lineno, f"calls {name}"
            elif name is not None and name.split(".")[-1] == "start_up":
                yield node.lineno, "calls start_up"
        elif isinstance(node, ast.Constant) and node.value == "MPLBACKEND":
            yield node.lineno, "sets MPLBACKEND"


def allowed(rel: str, what: str) -> bool:
    """Whether the module ``rel`` (``emotune/...``) may do ``what``."""
    if what == "calls start_up":
        return rel in START_UP
    if what == "calls os.umask" or what == "imports os.umask":
        return False
    return rel in PROCESS


def check(paths: list[Path]) -> list[str]:
    """Every finding not allowed, and every :data:`PENDING` module scanned that has become clean."""
    problems: list[str] = []
    for path in paths:
        for f in sorted(path.rglob("*.py")) if path.is_dir() else [path]:
            rel = f.relative_to(path.parent).as_posix()
            bad = [(line, what) for line, what in findings(ast.parse(f.read_text(), str(f))) if not allowed(rel, what)]
            if rel in PENDING:
                if not bad:
                    problems.append(f"{f}: on PENDING but sets no process-wide state any more; remove it from the list")
                continue
            problems += [f"{f}:{line}: {what} outside start-up" for line, what in sorted(bad)]
    return problems


def main(argv: list[str]) -> int:
    """Print every problem; 1 when there is any."""
    roots = [Path(a) for a in argv] or [REPO / "src" / "emotune", REPO / "train.py", REPO / "infer.py"]
    problems = check(roots)
    for p in problems:
        print(p)
    if problems:
        print(
            f"{len(problems)} problem(s): set process-wide state once, in emotune.utils.process.start_up, "
            "called from a program's start-up (tools/check_process_state.py lists them)."
        )
        return 1
    print(f"no process-wide state set outside start-up ({', '.join(str(r.name) for r in roots)})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
