"""Real photographs of people that ship inside installable packages, with the faces a person would mark.

No photograph is committed here. ``python -m emotune.detect.photos fetch DIR`` (``make photos``) takes
them from the packages' published archives (``pip download``), checks each file's SHA-256 and copies it
into ``DIR``; :func:`load_photos` returns the ones present, so tests and ``make bench`` use them when
they are there. Face boxes (``x1, y1, x2, y2`` in pixels) were marked by eye on each photograph,
independently of any detector; a detection counts as finding a face when its centre lies inside the
marked box, and as a false positive otherwise.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from emotune.detect.detectors import as_dets
from emotune.utils.cli import exit_on_user_error

# (package requirement, archive kind) -> the members we use.
PACKAGES = {
    "insightface==2.1": "sdist",  # MIT; data/images/ has a group photo and an aligned face
    "face_recognition==1.3.0": "sdist",  # MIT; tests/test_images/
    "scikit-image==0.26.0": "wheel",  # BSD-3; skimage/data/ (people and many photos without a face)
}


@dataclass(frozen=True)
class Photo:
    """One photograph: where it ships, its hash, and the faces in it (empty: none a person would mark)."""

    name: str
    package: str
    member: str  # path inside the archive (or, for ``installed:``, inside site-packages)
    sha256: str
    faces: tuple[tuple[int, int, int, int], ...] = ()
    note: str = ""


def _p(name: str, package: str, member: str, sha: str, *faces: tuple[int, int, int, int], note: str = "") -> Photo:
    return Photo(name, package, member, sha, tuple(faces), note)


IF, FR, SK = "insightface==2.1", "face_recognition==1.3.0", "scikit-image==0.26.0"
PHOTOS = [
    _p(
        "t1.jpg",
        IF,
        "insightface/data/images/t1.jpg",
        "47f682e945b659f93a9e490b9c9c4a2a864abe64dace9e1a2893845ddfd69489",
        (55, 262, 168, 400),
        (265, 148, 372, 272),
        (462, 262, 575, 410),
        (740, 342, 848, 480),
        (902, 55, 1018, 205),
        (1128, 272, 1232, 400),
        note="six people, frontal to three-quarter, 100-150 px",
    ),
    _p(
        "Tom_Hanks_54745.png",
        IF,
        "insightface/data/images/Tom_Hanks_54745.png",
        "8545da294e8c7c79911169c3915fed8528f1960cd0ed99b92453788ca4275083",
        (5, 5, 100, 112),
        note="an aligned 112 px face crop",
    ),
    _p(
        "biden.jpg",
        FR,
        "tests/test_images/biden.jpg",
        "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c",
        (410, 150, 720, 570),
    ),
    _p(
        "obama.jpg",
        FR,
        "tests/test_images/obama.jpg",
        "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6",
        (365, 70, 620, 420),
    ),
    _p(
        "obama2.jpg",
        FR,
        "tests/test_images/obama2.jpg",
        "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6",
        (190, 200, 485, 640),
    ),
    _p(
        "32bit.png",
        FR,
        "tests/test_images/32bit.png",
        "44dca895a7d635a4aedddd91a4f37af9a8a5b44e66154282a24645a757b5f627",
        (190, 200, 485, 640),
        note="obama2 as a 32-bit PNG (alpha channel)",
    ),
    _p(
        "obama3.jpg",
        FR,
        "tests/test_images/obama3.jpg",
        "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3",
        (610, 230, 930, 625),
    ),
    _p(
        "obama_partial_face.jpg",
        FR,
        "tests/test_images/obama_partial_face.jpg",
        "c2d1f09e7ef3042352b41e41286e6eb0522f64f88308be13886991b95db52117",
        (0, 80, 185, 425),
        note="half the face cut by the left border",
    ),
    _p(
        "obama_partial_face2.jpg",
        FR,
        "tests/test_images/obama_partial_face2.jpg",
        "9a812347f97633542b8cd9992de22def11b74f79d82056bc3ee830f13878e028",
        (385, 60, 551, 465),
        note="cut by the right border",
    ),
    _p(
        "astronaut.png",
        SK,
        "skimage/data/astronaut.png",
        "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5",
        (175, 60, 270, 175),
    ),
    _p(
        "camera.png",
        SK,
        "skimage/data/camera.png",
        "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a",
        (195, 115, 255, 195),
        note="grayscale, face turned down toward the camera",
    ),
    _p(
        "grace_hopper.jpg",
        "installed:matplotlib",
        "matplotlib/mpl-data/sample_data/grace_hopper.jpg",
        "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130",
        (160, 110, 360, 345),
    ),
    # No face a person would mark:
    *(
        _p(n, IF, f"insightface/data/images/{n}", h)
        for n, h in (
            ("mask_black.jpg", "d81c40c77a0e38717dc7e1d4ca994e2bc58efa804465ff8d09d915daeddf2c83"),
            ("mask_blue.jpg", "a55ec2b181de4143af27c441852ebb4bbd364fb0e0b9c46bb17631c59bc4c840"),
            ("mask_green.jpg", "79526b5a31ef75cb7fe51227abc69d589e4b7ba39dbbf51e79147da577a3f154"),
            ("mask_white.jpg", "3adee6ba6680d26197bbea95deb9d335252d01c2c51ead23e01af9784c310aa6"),
        )
    ),
    *(
        _p(n, SK, f"skimage/data/{n}", h)
        for n, h in (
            ("coins.png", "f8d773fc9cfa6f4d8e5942dc34d0a0788fcaed2a4fefbbed0aef5398d7ef4cba"),
            ("chelsea.png", "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
            ("coffee.png", "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
            ("rocket.jpg", "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"),
            ("motorcycle_left.png", "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179"),
            ("hubble_deep_field.jpg", "3a19c5dd8a927a9334bb1229a6d63711b1c0c767fb27e2286e7c84a3e2c2f5f4"),
            ("horse.png", "c7fb60789fe394c485f842291ea3b21e50d140f39d6dcb5fb9917cc178225455"),
            ("brick.png", "7966caf324f6ba843118d98f7a07746d22f6a343430add0233eca5f6eaaa8fcf"),
            ("grass.png", "b6b6022426b38936c43a4ac09635cd78af074e90f42ffa8227ac8b7452d39f89"),
            ("gravel.png", "c48615b451bf1e606fbd72c0aa9f8cc0f068ab7111ef7d93bb9b0f2586440c12"),
            ("page.png", "341a6f0a61557662b02734a9b6e56ec33a915b2c41886b97509dedf2a43b47a3"),
            ("text.png", "bd84aa3a6e3c9887850d45d606c96b2e59433fbef50338570b63c319e668e6d1"),
            ("moon.png", "78739619d11f7eb9c165bb5d2efd4772cee557812ec847532dbb1d92ef71f577"),
            ("retina.jpg", "38a07f36f27f095e818aea7b96d34202c05176d30253c66733f2e00379e9e0e6"),
            ("logo.png", "f2c57fe8af089f08b5ba523d95573c26e62904ac5967f4c8851b27d033690168"),
            ("color.png", "7d2df993de2b4fa2a78e04e5df8050f49a9c511aa75e59ab3bd56ac9c98aef7e"),
            ("clock_motion.png", "f029226b28b642e80113d86622e9b215ee067a0966feaf5e60604a1e05733955"),
        )
    ),
]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _members(archive: Path) -> dict[str, bytes]:
    """Files of an sdist (``.tar.gz``) or wheel (``.whl``), keyed by path without the sdist's top folder."""
    out = {}
    if archive.suffix == ".whl":
        with zipfile.ZipFile(archive) as z:
            for n in z.namelist():
                out[n] = z.read(n)
    else:
        with tarfile.open(archive) as t:
            for m in t.getmembers():
                if m.isfile():
                    out[m.name.split("/", 1)[1] if "/" in m.name else m.name] = t.extractfile(m).read()
    return out


def fetch(dest: str | Path, pip_args: list[str] | None = None) -> list[str]:
    """Download the packages (no install), copy the listed photographs into ``dest``; return what was written."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    wanted = [p for p in PHOTOS if not (dest / p.name).is_file()]
    written = []
    with tempfile.TemporaryDirectory() as tmp:
        for req, kind in PACKAGES.items():
            if not any(p.package == req for p in wanted):
                continue
            fmt = ["--no-binary", ":all:"] if kind == "sdist" else ["--only-binary", ":all:"]
            cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-d", tmp, *fmt, *(pip_args or []), req]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        archives = {a.name: a for a in Path(tmp).iterdir()}
        for req in PACKAGES:
            name = req.split("==")[0].replace("-", "_").lower()
            archive = next((a for n, a in archives.items() if n.lower().replace("-", "_").startswith(name)), None)
            files = _members(archive) if archive else {}
            for p in (p for p in wanted if p.package == req and p.member in files):
                if _sha(files[p.member]) == p.sha256:
                    (dest / p.name).write_bytes(files[p.member])
                    written.append(p.name)
    for p in (p for p in wanted if p.package.startswith("installed:")):
        src = Path(cv2.__file__).parents[1] / p.member  # site-packages
        if src.is_file() and _sha(src.read_bytes()) == p.sha256:
            shutil.copyfile(src, dest / p.name)
            written.append(p.name)
    return written


def score_detector(detector: object, photos: list[tuple[Photo, np.ndarray]]) -> dict[str, float]:
    """:func:`score` of ``detector.detect`` on the photographs present."""
    return score(
        [detector.detect(img) for _, img in photos], [p for p, _ in photos], [img.shape[:2] for _, img in photos]
    )


def load_photos(folder: str | Path) -> list[tuple[Photo, np.ndarray]]:
    """The photographs present in ``folder`` (hash-checked), decoded as BGR."""
    out = []
    for p in PHOTOS:
        f = Path(folder) / p.name
        if f.is_file():
            data = f.read_bytes()
            if _sha(data) == p.sha256:
                img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                if img is not None:
                    out.append((p, img))
    return out


def score(
    detections: list[np.ndarray], photos: list[Photo], sizes: list[tuple[int, int]] | None = None
) -> dict[str, float]:
    """Recall over marked faces and false positives per image: a detection whose centre lies inside a marked box
    finds it. Boxes reaching past the border (a face cut by it) are first clipped to the image (``sizes``: h, w)."""
    found = faces = fp = 0
    for i, (dets, p) in enumerate(zip(detections, photos)):
        marked = np.asarray(p.faces, float).reshape(-1, 4)
        hit = np.zeros(len(marked), bool)
        dets = as_dets(dets).astype(float)
        if sizes is not None:
            h, w = sizes[i]
            dets[:, [0, 2]] = dets[:, [0, 2]].clip(0, w)
            dets[:, [1, 3]] = dets[:, [1, 3]].clip(0, h)
        for d in dets:
            cx, cy = (d[0] + d[2]) / 2, (d[1] + d[3]) / 2
            inside = (marked[:, 0] <= cx) & (cx <= marked[:, 2]) & (marked[:, 1] <= cy) & (cy <= marked[:, 3])
            if inside.any():
                hit |= inside
            else:
                fp += 1
        found, faces = found + int(hit.sum()), faces + len(marked)
    n = max(1, len(photos))
    return {
        "images": len(photos),
        "faces": faces,
        "found": found,
        "recall": found / max(1, faces),
        "false_positives": fp,
        "false_positives_per_10_images": 10 * fp / n,
    }


@exit_on_user_error
def main(argv: list[str] | None = None) -> None:
    """``python -m emotune.detect.photos fetch DIR [pip args...]``."""
    ap = argparse.ArgumentParser(description="Fetch the real test photographs from their packages.")
    ap.add_argument("cmd", choices=["fetch"])
    ap.add_argument("dest")
    args, pip_args = ap.parse_known_args(argv)
    written = fetch(args.dest, pip_args)
    have = len(load_photos(args.dest))
    print(f"{len(written)} photographs fetched; {have}/{len(PHOTOS)} present in {args.dest}")


if __name__ == "__main__":
    main(sys.argv[1:])
