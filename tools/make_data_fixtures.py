#!/usr/bin/env python3
"""Writes crates/model/tests/data/datasets: tiny files in the exact formats of the CIFAR-10
python batches and of SVHN's train_32x32.mat, and what torchvision reads from them.

- cifar10_py2_batch: a dict pickled with protocol 2 the way Python 2's cPickle wrote the real
  `data_batch_1` … (keys and the array's raw bytes as Python 2 `str`, i.e. BINSTRING opcodes):
  b'batch_label', b'labels' (a list of ints), b'data' (a uint8 numpy array [N, 3072]: the red,
  green and blue 32×32 planes, row-major) and b'filenames'.
- cifar10_py3_batch: the same dict re-pickled by Python 3 with protocol 2 (str keys; bytes are
  written as `_codecs.encode(str, 'latin1')` calls, protocol 2 having no bytes opcode).
- svhn_32x32.mat: `scipy.io.savemat(..., do_compression=True)` of X uint8 [32, 32, 3, N] and
  y uint8 [N, 1] with label 10 for the digit 0, as in SVHN's train_32x32.mat (MATLAB v5,
  compressed); svhn_plain.mat: the same, uncompressed, with y as MATLAB double;
  svhn_no_channels.mat (X of 0 channels) and svhn_complex_y.mat (complex labels), which
  the reader must refuse.
- expected.npz: what torchvision's CIFAR10 and SVHN datasets give, the uint8 images
  [N, 3, 32, 32] (`cifar_x`, `svhn_x`: SVHN's X transposed (3, 2, 0, 1)) that ToTensor divides
  by 255, int64 labels (`cifar_y`, `svhn_y`: 10 → 0), and `cifar_x_normalized`: torchvision's
  Normalize(NORM_MEAN, NORM_STD) of the first two CIFAR images after ToTensor,
  (x / 255 − mean_c) / std_c in float32.

Run once with numpy and scipy: `python tools/make_data_fixtures.py`.
"""

import io
import os
import pickle
import struct

import numpy as np
import scipy.io

OUT = os.path.join(os.path.dirname(__file__), "..", "crates/model/tests/data/datasets")
N = 4
NORM_MEAN = [0.4914, 0.4822, 0.4465]
NORM_STD = [0.2470, 0.2435, 0.2616]


class Python2Pickler(pickle._Pickler):
    """Protocol 2 as Python 2 wrote it: bytes and text both as Python 2 `str` (BINSTRING)."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        raw = obj if isinstance(obj, bytes) else obj.encode("latin1")
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[bytes] = save_py2_str
    dispatch[str] = save_py2_str


def cifar_batch(rng):
    data = rng.integers(0, 256, size=(N, 3072), dtype=np.uint8)
    labels = [3, 9, 0, 7]
    return data, labels


def main():
    os.makedirs(OUT, exist_ok=True)
    rng = np.random.default_rng(2019)

    data, labels = cifar_batch(rng)
    batch = {
        b"batch_label": b"training batch 1 of 5",
        b"labels": labels,
        b"data": data,
        b"filenames": [f"image_{i}.png".encode() for i in range(N)],
    }
    buffer = io.BytesIO()
    Python2Pickler(buffer, protocol=2).dump(batch)
    with open(os.path.join(OUT, "cifar10_py2_batch"), "wb") as f:
        f.write(buffer.getvalue())
    with open(os.path.join(OUT, "cifar10_py3_batch"), "wb") as f:
        pickle.dump({k.decode(): v for k, v in batch.items()}, f, protocol=2)
    # What every CIFAR-10 loader does with the real files.
    with open(os.path.join(OUT, "cifar10_py2_batch"), "rb") as f:
        back = pickle.load(f, encoding="bytes")
    assert back[b"labels"] == labels and np.array_equal(back[b"data"], data)

    X = rng.integers(0, 256, size=(32, 32, 3, N), dtype=np.uint8)
    y = np.array([[10], [1], [9], [10]], dtype=np.uint8)
    scipy.io.savemat(os.path.join(OUT, "svhn_32x32.mat"), {"X": X, "y": y}, do_compression=True)
    scipy.io.savemat(os.path.join(OUT, "svhn_plain.mat"), {"X": X, "y": y.astype(np.float64)})
    # Two files scipy writes that are no SVHN set: images of no channel, complex labels.
    scipy.io.savemat(
        os.path.join(OUT, "svhn_no_channels.mat"),
        {"X": np.zeros((32, 32, 0, N), np.uint8), "y": y},
    )
    scipy.io.savemat(
        os.path.join(OUT, "svhn_complex_y.mat"), {"X": X, "y": y.astype(np.float64) + 7j}
    )

    cifar_x = data.reshape(N, 3, 32, 32)
    to_tensor = cifar_x[:2].astype(np.float32) / np.float32(255)
    mean = np.array(NORM_MEAN, dtype=np.float32).reshape(1, 3, 1, 1)
    std = np.array(NORM_STD, dtype=np.float32).reshape(1, 3, 1, 1)
    svhn_y = y[:, 0].astype(np.int64)
    svhn_y[svhn_y == 10] = 0
    np.savez_compressed(
        os.path.join(OUT, "expected.npz"),
        cifar_x=cifar_x,
        cifar_y=np.array(labels, dtype=np.int64),
        cifar_x_normalized=(to_tensor - mean) / std,
        svhn_x=np.ascontiguousarray(np.transpose(X, (3, 2, 0, 1))),
        svhn_y=svhn_y,
    )


if __name__ == "__main__":
    main()
