"""Make ``reference.npz``: musicnn's TensorFlow outputs, computed once, for ``tests/test_musicnn.py``.

Run it in a throwaway virtualenv OUTSIDE the repo (TensorFlow is never a dependency of emotune)::

    python3 -m venv /tmp/tfvenv
    /tmp/tfvenv/bin/pip install "tensorflow-cpu==2.21.*" tf_keras librosa
    /tmp/tfvenv/bin/pip install --no-deps musicnn==0.1.0
    # 1. decode the real clips with emotune's own decoder (PyAV), in the project's venv:
    .venv/bin/python tests/assets/musicnn/make_reference.py decode ../shared/data/real/music4q /tmp/musicnn_audio.npz
    # 2. the references, with librosa and TensorFlow:
    TF_USE_LEGACY_KERAS=1 PYTHONPATH=. /tmp/tfvenv/bin/python tests/assets/musicnn/make_reference.py \
        reference /tmp/musicnn_audio.npz tests/assets/musicnn/reference.npz

Stored: librosa's Slaney filterbank (its non-zero entries), the network input of the synthesised signal of
``tests/helpers/musicnn_reference.py`` (librosa's mel, musicnn's float16 log; float32 where float16 overflows, as
the port does), and for that signal and for one real 4Q clip per quadrant, musicnn's (MSD_musicnn) tag
probabilities, penultimate features and pools, and MSD_vgg's tags and pool5, per 3-second patch, computed by
musicnn's own TensorFlow graph (``musicnn.models.define_model``) on librosa's input. For the real clips only the
outputs and the song ids are stored (no audio), with a hash of the decoded samples.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np


def decode(music4q: str, out: str) -> None:
    """Decode the first mp3 of each quadrant folder at 16 kHz with emotune (30 s around the middle)."""
    from tests.helpers.musicnn_reference import REAL_CLIPS

    from emotune.audio.io import decode_excerpt

    arrays = {}
    for q in REAL_CLIPS:
        path = sorted((Path(music4q) / q).glob("*.mp3"))[0]
        arrays[path.stem] = decode_excerpt(path, 16000, 30.0)
    np.savez(out, **arrays)


def _log_input(audio: np.ndarray) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=audio, sr=16000, hop_length=256, n_fft=512, n_mels=96).T
    m16 = mel.astype(np.float16)
    with np.errstate(over="ignore"):
        rep = np.log10(10000 * m16 + 1)  # musicnn/extractor.py's arithmetic
    over = ~np.isfinite(rep)
    rep[over] = np.log10(10000 * m16[over].astype(np.float32) + 1).astype(np.float16)
    return rep.astype(np.float32)


def _patches(rep: np.ndarray) -> np.ndarray:
    n = 187
    return np.stack([rep[s : s + n] for s in range(0, rep.shape[0] - n + 1, n)])


def _run(patches: np.ndarray) -> dict[str, np.ndarray]:
    import os

    import tensorflow as tf
    from musicnn import models

    tf.compat.v1.disable_eager_execution()
    out: dict[str, np.ndarray] = {}
    for model in ("MSD_musicnn", "MSD_vgg"):
        tf.compat.v1.reset_default_graph()
        with tf.name_scope("model"):
            x = tf.compat.v1.placeholder(tf.float32, [None, 187, 96])
            training = tf.compat.v1.placeholder(tf.bool)
            outs = models.define_model(x, training, model, 50)
        sess = tf.compat.v1.Session()
        tf.compat.v1.train.Saver().restore(sess, os.path.dirname(models.__file__) + "/" + model + "/")
        feed = {x: patches, training: False}
        if model == "MSD_vgg":
            tags, pool5 = sess.run([tf.nn.sigmoid(outs[0]), outs[5]], feed)
            out["vgg_tags"], out["vgg_pool5"] = tags, pool5.reshape(len(patches), -1)
        else:
            tags, mean, mx, pen = sess.run([tf.nn.sigmoid(outs[0]), outs[6], outs[7], outs[8]], feed)
            out.update(tags=tags, mean_pool=mean, max_pool=mx, penultimate=pen)
        sess.close()
    return out


def reference(audio_npz: str, out: str) -> None:
    """Compute and store the references (see the module doc)."""
    import librosa
    from tests.helpers.musicnn_reference import reference_signal

    fb = librosa.filters.mel(sr=16000, n_fft=512, n_mels=96)
    rows, cols = np.nonzero(fb)
    store: dict[str, np.ndarray] = {"fb_rows": rows.astype(np.int16), "fb_cols": cols.astype(np.int16),
                                    "fb_values": fb[rows, cols], "fb_shape": np.array(fb.shape)}  # fmt: skip
    rep = _log_input(reference_signal())
    store["synth_input"] = rep.astype(np.float16)  # exact: every value is a float16
    store.update({f"synth_{k}": v for k, v in _run(_patches(rep)).items()})
    clips = np.load(audio_npz)
    store["real_ids"] = np.array(sorted(clips.files))
    for sid in sorted(clips.files):
        audio = clips[sid]
        store[f"real_{sid}_audio_sha1"] = np.array(hashlib.sha1(audio.astype("<f4").tobytes()).hexdigest())
        for k, v in _run(_patches(_log_input(audio))).items():
            if k in ("tags", "penultimate", "vgg_tags"):
                store[f"real_{sid}_{k}"] = v
    np.savez_compressed(out, **store)


if __name__ == "__main__":
    {"decode": decode, "reference": reference}[sys.argv[1]](*sys.argv[2:])
