"""tools/convert_mnist.py: the wheel's pickle decoded to the standard MNIST, refused when it is not."""
from __future__ import annotations

import gzip
import importlib.util
import io
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def convert():
    spec = importlib.util.spec_from_file_location("convert_mnist", ROOT / "tools" / "convert_mnist.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _wheel(path: Path, parts: object, *, raw: bytes | None = None) -> Path:
    blob = raw if raw is not None else pickle.dumps(parts, protocol=2)
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("mnist/data/mnist.pkl.gz", gzip.compress(blob))
    return path


def _parts(rng: np.random.Generator, sizes=(4, 2, 3)) -> tuple[list, list]:
    """Three (pixels k/256, labels) parts as the wheel stores them, and their bytes."""
    parts, raw = [], []
    for n in sizes:
        k = rng.integers(0, 256, size=(n, 784)).astype(np.uint8)
        labels = rng.integers(0, 10, size=n)
        parts.append((k.astype(np.float32) / 256, labels))
        raw.append((k.reshape(n, 28, 28), labels.astype(np.uint8)))
    return parts, raw


@pytest.fixture
def small(convert, monkeypatch, tmp_path):
    """A tiny wheel in the real one's layout; the script's sha256 and sizes set to match it."""
    parts, raw = _parts(np.random.default_rng(0))
    wheel = _wheel(tmp_path / convert.WHEEL, parts)
    monkeypatch.setattr(convert, "WHEEL_SHA256", convert.sha256_file(wheel))
    monkeypatch.setattr(convert, "SIZES", {"train": 6, "test": 3})
    monkeypatch.setattr(convert, "FIRST_LABELS", {"train": np.concatenate([raw[0][1], raw[1][1]]).tolist(),
                                                  "test": raw[2][1].tolist()})
    return wheel, raw


def test_read_wheel_gives_back_each_byte_train_is_train_plus_valid(convert, small):
    wheel, raw = small
    splits = convert.read_wheel(wheel)
    assert np.array_equal(splits["train"][0], np.concatenate([raw[0][0], raw[1][0]]))
    assert np.array_equal(splits["train"][1], np.concatenate([raw[0][1], raw[1][1]]))
    assert np.array_equal(splits["test"][0], raw[2][0]) and np.array_equal(splits["test"][1], raw[2][1])
    assert splits["train"][0].dtype == np.uint8


def test_wheel_with_another_sha256_is_refused_naming_it(convert, small, tmp_path):
    wheel, _ = small
    blob = bytearray(wheel.read_bytes())
    blob[-1] ^= 1
    other = tmp_path / "other" / convert.WHEEL
    other.parent.mkdir()
    other.write_bytes(bytes(blob))
    with pytest.raises(SystemExit, match=f"{convert.WHEEL} has sha256 .* refusing"):
        convert.read_wheel(other)


def test_pixels_that_are_not_bytes_over_256_are_refused(convert, small, monkeypatch, tmp_path):
    parts, _ = _parts(np.random.default_rng(1))
    parts[1] = (parts[1][0] + np.float32(1 / 1024), parts[1][1])
    wheel = _wheel(tmp_path / convert.WHEEL, parts)
    monkeypatch.setattr(convert, "WHEEL_SHA256", convert.sha256_file(wheel))
    with pytest.raises(SystemExit, match="valid pixels are not k/256"):
        convert.read_wheel(wheel)


def test_wrong_order_or_size_is_refused(convert, small, monkeypatch):
    wheel, _ = small
    monkeypatch.setattr(convert, "FIRST_LABELS", {"train": [9] * 6, "test": [9] * 3})
    with pytest.raises(SystemExit, match="train: 6 digits, labels begin"):
        convert.read_wheel(wheel)


def test_pickle_that_asks_for_anything_but_arrays_is_refused(convert, monkeypatch, tmp_path):
    wheel = _wheel(tmp_path / convert.WHEEL, None, raw=pickle.dumps(os.system, protocol=2))
    monkeypatch.setattr(convert, "WHEEL_SHA256", convert.sha256_file(wheel))
    with pytest.raises(pickle.UnpicklingError, match="not a numpy array"):
        convert.read_wheel(wheel)


def test_cross_check_passes_on_a_subset_and_fails_on_a_stranger(convert):
    train = np.random.default_rng(2).integers(0, 256, size=(20, 28, 28)).astype(np.uint8)
    assert convert.cross_check(train, train[[3, 7, 11]]) == 3
    stranger = train[[3]].copy()
    stranger[0, 14, 14] ^= 1
    with pytest.raises(SystemExit, match="only 1 of the 2 npm digits"):
        convert.cross_check(train, np.concatenate([train[[5]], stranger]))


def test_idx_bytes_round_trip_through_the_loader(convert):
    from helpers.data import parse_idx

    array = np.random.default_rng(3).integers(0, 256, size=(5, 28, 28)).astype(np.uint8)
    assert np.array_equal(parse_idx(convert.idx_bytes(array)), array)


def test_rebuild_is_byte_identical(convert, small, tmp_path):
    wheel, _ = small
    splits = convert.read_wheel(wheel)
    first = convert.write_idx(splits, tmp_path / "a" / "mnist")
    second = convert.write_idx(splits, tmp_path / "b" / "mnist")
    assert first == second and len(first) == 4
    assert (tmp_path / "a" / "SHA256SUMS").read_text() == (tmp_path / "b" / "SHA256SUMS").read_text()
