"""The README and the docs say only what exists: the README fits a screen or two, every command it shows is real (each
``make`` target is a rule that ``make help`` lists and takes the variables given; each ``python`` command composes its
Hydra config with the README's overrides, without running anything), every relative link resolves, and no page tells
the project's history (git holds it)."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MAKEFILE = ROOT / "Makefile"
DOCS = sorted((ROOT / "docs").rglob("*.md"))
MAX_LINES = 150
# Phrases that describe an earlier state of the project rather than the project as it is.
HISTORY = ("before this round", "what changed", "last round", "previous readme", "in this round", "was the rule")
# Inline paths the README names that must exist (generated folders such as outputs/ are not checked).
CHECKED_PREFIXES = ("src/", "conf/", "docs/", "tests/", "tools/", ".ci/")
COMPOSE_TIMEOUT_S = 60


def fenced_commands(text: str) -> list[str]:
    """Every command line of the ```bash blocks: continuations joined, comments and blank lines dropped."""
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.split(r"\s+#", line, maxsplit=1)[0].strip()
            if line and not line.startswith("#"):
                commands.append(line)
    return commands


def inline_spans(text: str) -> list[str]:
    """The inline code spans outside fenced blocks."""
    return re.findall(r"`([^`\n]+)`", re.sub(r"```.*?```", "", text, flags=re.S))


def readme_commands() -> list[str]:
    """The README's fenced commands, then the ``make ...`` / ``python ...`` commands it names inline (not patterns
    such as ``python -m emotune.*``)."""
    text = README.read_text()
    inline = [s for s in inline_spans(text) if re.match(r"(make|python) \S", s) and not re.search(r"[*<>]", s)]
    return list(dict.fromkeys([*fenced_commands(text), *inline]))


def help_targets() -> list[str]:
    """The targets ``make help`` lists: rules with a ``## description`` (as the help rule greps them)."""
    return re.findall(r"^([A-Za-z0-9_%.-]+):[^=\n]*?## ", MAKEFILE.read_text(), re.M)


def makefile_code() -> str:
    """The Makefile without its comment lines."""
    return "\n".join(ln for ln in MAKEFILE.read_text().splitlines() if not ln.lstrip().startswith("#"))


def make_problems(tokens: list[str]) -> list[str]:
    """What is wrong with ``make TARGET [VAR=value ...]``: an unlisted target, a variable the Makefile never reads."""
    problems = []
    targets = [t for t in tokens[1:] if not t.startswith("-") and "=" not in t]
    patterns = [re.compile("^" + re.escape(t).replace("%", ".+") + "$") for t in help_targets()]
    for target in targets:
        if not any(p.match(target) for p in patterns):
            problems.append(f"make {target}: no rule with a ## description (make help does not list it)")
    code = makefile_code()
    for var in (t.split("=", 1)[0] for t in tokens[1:] if "=" in t and not t.startswith("-")):
        if not re.search(rf"\b{re.escape(var)}\b", code):
            problems.append(f"make ... {var}=: the Makefile never reads {var}")
    if not targets:
        problems.append("make without a target")
    return problems


def expand(token: str, env: dict[str, str]) -> str:
    """``$VAR`` / ``${VAR}`` from ``env`` (a variable the block never set stays, and fails the check)."""
    return re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), token)


def single_run(args: list[str]) -> list[str]:
    """A multirun's arguments as one run: ``-m`` / ``--multirun`` dropped, each sweep ``k=a,b`` reduced to ``k=a``."""
    head, rest = (args[:2], args[2:]) if args[0] == "-m" else (args[:1], args[1:])
    out = []
    for a in rest:
        if a in ("-m", "--multirun"):
            continue
        key, eq, value = a.partition("=")
        if eq and "," in value and not value.startswith(("[", "{", "'", '"')):
            value = value.split(",")[0]
        out.append(f"{key}{eq}{value}")
    return [*head, *out]


def compose(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``python ARGS --cfg job --resolve``: composes and resolves the config (every key, group and value checked) and
    prints it; nothing runs."""
    return subprocess.run(
        [sys.executable, *single_run(args), "--cfg", "job", "--resolve"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=COMPOSE_TIMEOUT_S,
    )


def base_env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "EMOTUNE_ROOT": str(ROOT), "HYDRA_FULL_ERROR": "0"}


def check_commands(commands: list[str]) -> list[str]:
    """Every problem with ``commands``, run in order as one shell session would (``export`` sets later ones' env)."""
    env, problems = base_env(), []
    for cmd in commands:
        tokens = [expand(t, env) for t in shlex.split(cmd)]
        if tokens[0] == "export":
            env.update(t.split("=", 1) for t in tokens[1:])  # type: ignore[arg-type]
        elif tokens[0] == "make":
            problems += make_problems(tokens)
        elif tokens[0] == "python":
            left = [t for t in tokens if "$" in t]
            if left:
                problems.append(f"{cmd}: {left} names a variable the block never sets")
                continue
            proc = compose(tokens[1:], env)
            if proc.returncode != 0:
                problems.append(f"{cmd}: exit {proc.returncode}\n{proc.stderr[-1500:]}")
        else:
            problems.append(f"{cmd}: not a make, python or export line, so nothing checks it")
    return problems


def test_readme_fits_a_screen_or_two() -> None:
    lines = README.read_text().splitlines()
    assert len(lines) <= MAX_LINES, f"README.md has {len(lines)} lines (at most {MAX_LINES}); move detail to docs/"


def test_every_readme_command_exists() -> None:
    """Each fenced (and inline) ``make`` / ``python`` command: its target and variables, or its Hydra overrides."""
    commands = readme_commands()
    assert any(c.startswith("python ") for c in commands) and any(c.startswith("make ") for c in commands)
    problems = check_commands(commands)
    assert not problems, "\n".join(problems)


def test_the_command_check_fails_on_what_does_not_exist() -> None:
    """The checks above can fail: an unknown setting, an unknown target, a variable make never reads."""
    problems = check_commands(
        ["python infer.py video=0 no_such_setting=1", "make no-such-target", "make demo NO_SUCH_VARIABLE=1"]
    )
    assert len(problems) == 3, problems
    assert "no_such_setting" in problems[0] and "no-such-target" in problems[1] and "NO_SUCH_VARIABLE" in problems[2]


def test_every_target_the_readme_names_is_in_make_help() -> None:
    out = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60, env=base_env())
    assert out.returncode == 0, out.stderr
    listed = set(re.findall(r"^\s+(?:\x1b\[\d+m)?([A-Za-z0-9_%.-]+)", out.stdout, re.M))
    named = {t for c in readme_commands() if c.startswith("make ") for t in shlex.split(c)[1:2]}
    named |= {m for m in re.findall(r"`make ([a-z][a-z0-9-]*)", README.read_text())}
    missing = {
        t for t in named if t not in listed and not any(p.endswith("%") and t.startswith(p[:-1]) for p in listed)
    }
    assert not missing, f"targets the README names that make help does not list: {sorted(missing)}"


def test_every_path_the_readme_names_exists() -> None:
    spans = [s for s in inline_spans(README.read_text()) if s.startswith(CHECKED_PREFIXES) and " " not in s]
    missing = [s for s in spans if not (ROOT / s.split("#")[0]).exists()]
    assert spans and not missing, f"README.md names paths that do not exist: {missing}"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    links = re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", page.read_text())
    local = [u.split("#")[0] for u in links if not re.match(r"[a-z]+:", u) and not u.startswith("#")]
    broken = [u for u in local if u and not (page.parent / u).exists()]
    assert not broken, f"{page.relative_to(ROOT)} links to missing files: {broken}"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: str(p.relative_to(ROOT)))
def test_no_page_tells_history(page: Path) -> None:
    text = page.read_text().lower()
    found = [h for h in HISTORY if h in text]
    assert not found, f"{page.relative_to(ROOT)} describes an earlier state of the project: {found}"
