"""``make lint``: no import cycle between any two modules of a package (not only between layers).

The graph is grimp's (import-linter's own library) with every import counted: module level, inside functions and
under ``if TYPE_CHECKING:`` (a cycle hidden there is still two modules that need each other). Each strongly connected
set of modules is reported with one cycle through it; the exit status is 1 when there is any.

    python tools/check_import_cycles.py [PACKAGE ...]     (default: emotune)
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

import grimp

SRC = Path(__file__).resolve().parents[1] / "src"  # this checkout's emotune, whatever the environment installed


def strongly_connected(modules: Iterable[str], imports: dict[str, set[str]]) -> list[list[str]]:
    """The sets of two or more modules that import each other, directly or around a loop (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(modules):
        if root in index:
            continue
        work = [(root, iter(sorted(imports.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            w = next(children, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(imports.get(w, ())))))
                elif w in on_stack:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    x = stack.pop()
                    on_stack.discard(x)
                    comp.append(x)
                    if x == v:
                        break
                if len(comp) > 1 or v in imports.get(v, ()):
                    found.append(sorted(comp))
    return sorted(found)


def one_cycle(component: list[str], imports: dict[str, set[str]]) -> list[str]:
    """A shortest loop from the component's first module back to it, inside the component (breadth first)."""
    inside, start = set(component), component[0]
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(imports.get(v, ())):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(previous[path[-1]])
                    return [*reversed(path), start]
                if w in inside and w not in previous:
                    previous[w] = v
                    nxt.append(w)
        frontier = nxt
    return [start, start]


def cycles(package: str) -> list[list[str]]:
    """Every import cycle of ``package``: one loop per set of modules that import each other."""
    graph = grimp.build_graph(package, include_external_packages=False, cache_dir=None)
    imports = {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}
    return [one_cycle(c, imports) for c in strongly_connected(graph.modules, imports)]


def main(argv: list[str]) -> int:
    """Print each cycle of each package; 1 when there is any."""
    bad = 0
    if not argv:
        sys.path.insert(0, str(SRC))
    for package in argv or ["emotune"]:
        for loop in cycles(package):
            bad += 1
            print(f"import cycle: {' -> '.join(loop)}")
    if bad:
        print(f"{bad} import cycle(s): split the module that both sides need, or pass the dependency in (a Protocol).")
    else:
        print(f"no import cycles in {', '.join(argv or ['emotune'])}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
