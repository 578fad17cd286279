"""``make lint``'s own checks (``tools/``) find what they are for: process-wide state set outside start-up, and import
cycles between modules (type-checking imports included)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_tool(name: str, *args: str, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = None if pythonpath is None else {"PYTHONPATH": str(pythonpath), "PATH": "/usr/bin:/bin"}
    return subprocess.run([sys.executable, str(ROOT / "tools" / name), *args], capture_output=True, text=True,
                          env=env, timeout=120)  # fmt: skip


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(textwrap.dedent(text))


def test_the_repository_passes_both_checks() -> None:
    for tool in ("check_process_state.py", "check_import_cycles.py"):
        proc = run_tool(tool)
        assert proc.returncode == 0, proc.stdout + proc.stderr


def test_process_state_outside_start_up_is_found(tmp_path: Path) -> None:
    write(tmp_path, {
        "emotune/utils/io.py": "import os\n\ndef mask():\n    m = os.umask(0)\n    os.umask(m)\n",
        "emotune/detect/net.py": "import torch as t\n\ndef run():\n    t.set_num_threads(1)\n",
        "emotune/viz/fig.py": "import matplotlib\nmatplotlib.use('Agg')\nfrom matplotlib import pyplot as plt\n",
        "emotune/app/env.py": "import os\nos.environ['MPLBACKEND'] = 'Agg'\n",
        "emotune/eval/run.py": "from emotune.utils.process import start_up\n\ndef go():\n    start_up(1, 'k')\n",
        "emotune/utils/process.py": "import torch\n\ndef start_up(n, key):\n    torch.set_num_threads(n)\n",
        "emotune/runtime/entry.py": "from emotune.utils.process import start_up\nstart_up(None, 'k')\n",
    })  # fmt: skip
    proc = run_tool("check_process_state.py", str(tmp_path / "emotune"))
    assert proc.returncode == 1
    out = proc.stdout
    for expected in ("io.py:4: calls os.umask", "io.py:5: calls os.umask", "net.py:4: calls torch.set_num_threads",
                     "fig.py:2: calls matplotlib.use", "fig.py:3: imports matplotlib.pyplot",
                     "env.py:2: sets MPLBACKEND", "run.py:4: calls start_up"):  # fmt: skip
        assert expected in out, (expected, out)
    assert "process.py" not in out and "entry.py" not in out  # the one setter and a start-up place


def test_an_import_cycle_is_found_even_under_type_checking(tmp_path: Path) -> None:
    write(tmp_path, {
        "cyc/__init__.py": "",
        "cyc/a.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cyc.b import B\n",
        "cyc/b.py": "def f():\n    from cyc import c\n",
        "cyc/c.py": "import cyc.a\n",
        "cyc/d.py": "import cyc.a\n",
    })  # fmt: skip
    proc = run_tool("check_import_cycles.py", "cyc", pythonpath=tmp_path)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "import cycle: cyc.a -> cyc.b -> cyc.c -> cyc.a" in proc.stdout and "cyc.d" not in proc.stdout
    (tmp_path / "cyc" / "c.py").write_text("")
    assert run_tool("check_import_cycles.py", "cyc", pythonpath=tmp_path).returncode == 0
