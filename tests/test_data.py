"""helpers.data: the bundled standard MNIST, the torchvision branch (offline), integrity, augmentation."""
from __future__ import annotations

import gzip
import hashlib
import socket
import struct

import numpy as np
import pytest
import torch

import helpers.data as data
from helpers.integrity import ChecksumError


@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    """Refuse any outbound connection (a torchvision download would fail loudly, not hang),
    and keep torchvision's default root out of ~/.cache."""

    def refuse(*args, **kwargs):
        raise OSError("network access is disabled in these tests")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("SMUDGE_TORCHVISION_ROOT", str(tmp_path / "torchvision-root"))


@pytest.fixture(scope="module")
def train_split():
    return data.load_dataset("mnist", "train", source="bundled", verbose=False)


def image_hashes(x: torch.Tensor) -> set[str]:
    """sha256 of each image's original bytes (x * 255 is exact for the bundled data)."""
    raw = (x * 255).round().to(torch.uint8).numpy()
    return {hashlib.sha256(img.tobytes()).hexdigest() for img in raw}


# --- shapes, dtypes, ranges, the split ---------------------------------------------------------


@pytest.mark.parametrize("split, size", [("train", 60000), ("test", 10000)])
def test_bundled_shapes_dtypes_range(split, size, train_split, test_split):
    x, y = train_split if split == "train" else test_split
    assert x.shape == (size, 1, 28, 28)
    assert x.dtype == torch.float32
    assert y.shape == (size,)
    assert y.dtype == torch.long
    assert x.min().item() == 0.0 and x.max().item() == 1.0  # real digits: black background, white strokes
    assert torch.equal(y.unique(), torch.arange(10))
    # values are k/255 exactly, as decoded from bytes
    assert torch.equal(x, (x * 255).round() / 255)


def test_bundled_is_deterministic(test_split):
    x, y = data.load_dataset("mnist", "test", source="bundled", verbose=False)
    assert torch.equal(x, test_split[0]) and torch.equal(y, test_split[1])


def test_train_and_test_are_disjoint(train_split, test_split):
    train, test = image_hashes(train_split[0]), image_hashes(test_split[0])
    assert len(test) == 10000  # no duplicate within the test split either
    assert train.isdisjoint(test)


@pytest.mark.parametrize("split, first, counts", [
    ("train", [5, 0, 4, 1, 9, 2, 1, 3, 1, 4], [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]),
    ("test", [7, 2, 1, 0, 4, 1, 4, 9, 5, 9], [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]),
])
def test_bundled_is_the_standard_mnist_in_its_order(split, first, counts, train_split, test_split):
    _, y = train_split if split == "train" else test_split
    assert y[:10].tolist() == first
    assert torch.bincount(y, minlength=10).tolist() == counts


def test_raw_sha256_table_matches_the_bundled_bytes():
    from helpers.integrity import verified_bytes

    for ours, theirs in (("train", "train"), ("test", "t10k")):
        for kind in ("images-idx3", "labels-idx1"):
            blob = gzip.decompress(verified_bytes(f"mnist/{ours}-{kind}-ubyte.gz"))
            assert hashlib.sha256(blob).hexdigest() == data.RAW_SHA256[f"{theirs}-{kind}-ubyte"]


def test_bundled_verbose_false_prints_nothing(capsys):
    data.load_dataset("mnist", "test", source="bundled", verbose=False)
    assert capsys.readouterr().out == ""


# --- bad arguments -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, param",
    [
        ({"name": "cifar10"}, "name"),
        ({"name": "MNIST"}, "name"),
        ({"split": "validation"}, "split"),
        ({"split": None}, "split"),
        ({"source": "internet"}, "source"),
    ],
)
def test_unknown_arguments_raise_value_error_naming_parameter(kwargs, param):
    with pytest.raises(ValueError, match=rf"^{param}="):
        data.load_dataset(**kwargs)


def test_unknown_split_lists_allowed_values():
    with pytest.raises(ValueError, match=r"'train', 'test'"):
        data.load_dataset("mnist", "val", source="bundled")


# --- torchvision and auto sources, offline -----------------------------------------------------


@pytest.fixture(scope="module")
def torchvision_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("tv")
    data.write_torchvision_layout(root)
    return root


def test_torchvision_source_matches_bundled_exactly(torchvision_root, test_split):
    x, y = data.load_dataset("mnist", "test", source="torchvision", root=torchvision_root)
    assert x.dtype == torch.float32 and y.dtype == torch.long
    assert torch.equal(x, test_split[0])
    assert torch.equal(y, test_split[1])


def test_auto_uses_torchvision_when_present(torchvision_root, test_split, monkeypatch, capsys):
    def must_not_be_used(*args, **kwargs):
        raise AssertionError("auto fell back to the bundled copy although torchvision data exist")

    monkeypatch.setattr(data, "load_bundled", must_not_be_used)
    x, y = data.load_dataset("mnist", "test", source="auto", root=torchvision_root)
    assert torch.equal(x, test_split[0]) and torch.equal(y, test_split[1])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert "torchvision" in lines[0] and "bundled" not in lines[0]


def _mnist_unavailable(*args, **kwargs):
    raise RuntimeError("Error downloading train-images-idx3-ubyte.gz (simulated: offline)")


def _loader_unavailable(*args, **kwargs):
    raise OSError("simulated: no network")


@pytest.mark.parametrize(
    "target, fail, error",
    [
        ("torchvision.datasets.MNIST", _mnist_unavailable, "RuntimeError"),
        ("helpers.data.load_torchvision", _loader_unavailable, "OSError"),
    ],
)
def test_auto_falls_back_to_bundled_when_download_fails(target, fail, error, tmp_path, test_split, monkeypatch, capsys):
    monkeypatch.setattr(target, fail)
    x, y = data.load_dataset("mnist", "test", source="auto", root=tmp_path / "empty")
    assert torch.equal(x, test_split[0]) and torch.equal(y, test_split[1])
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert "bundled" in lines[0] and "10000" in lines[0]
    assert error in lines[0]  # says why torchvision was not used


def test_auto_fallback_is_quiet_when_not_verbose(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data, "load_torchvision", _loader_unavailable)
    data.load_dataset("mnist", "test", source="auto", root=tmp_path, verbose=False)
    assert capsys.readouterr().out == ""


def test_torchvision_source_does_not_fall_back(tmp_path, monkeypatch):
    monkeypatch.setattr("torchvision.datasets.MNIST", _mnist_unavailable)
    with pytest.raises(RuntimeError, match="simulated"):
        data.load_dataset("mnist", "test", source="torchvision", root=tmp_path)


def _torchvision_copy(torchvision_root, tmp_path):
    import shutil

    root = tmp_path / "tv-copy"
    shutil.copytree(torchvision_root, root)
    return root, root / "MNIST" / "raw"


def test_torchvision_folder_with_a_missing_file_is_refused(torchvision_root, tmp_path):
    root, raw = _torchvision_copy(torchvision_root, tmp_path)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises((FileNotFoundError, RuntimeError), match="t10k-labels-idx1-ubyte|not found|Error downloading"):
        data.load_dataset("mnist", "test", source="torchvision", root=root)
    with pytest.raises(FileNotFoundError, match="lacks t10k-labels-idx1-ubyte"):
        data.check_torchvision_files("test", root)


def test_torchvision_folder_with_other_digits_is_refused_naming_the_file(torchvision_root, tmp_path):
    root, raw = _torchvision_copy(torchvision_root, tmp_path)
    blob = bytearray((raw / "t10k-images-idx3-ubyte").read_bytes())
    blob[5000] ^= 0xFF  # one pixel of one digit changed
    (raw / "t10k-images-idx3-ubyte").write_bytes(bytes(blob))
    with pytest.raises(ValueError, match="t10k-images-idx3-ubyte.*differ|differ.*t10k-images-idx3-ubyte"):
        data.load_dataset("mnist", "test", source="torchvision", root=root)
    with pytest.raises(ValueError, match="differ from the standard MNIST: t10k-images-idx3-ubyte"):
        data.load_dataset("mnist", "test", source="auto", root=root)  # never a silent fallback
    # the labels file is untouched, so it is not named
    with pytest.raises(ValueError) as info:
        data.check_torchvision_files("test", root)
    assert "t10k-labels" not in str(info.value)


# --- integrity ---------------------------------------------------------------------------------


def test_copy_of_data_loads_via_env(data_copy, monkeypatch, test_split):
    monkeypatch.setenv("SMUDGE_DATA", str(data_copy))
    x, y = data.load_dataset("mnist", "test", source="bundled", verbose=False)
    assert torch.equal(x, test_split[0]) and torch.equal(y, test_split[1])


@pytest.mark.parametrize("file", ["test-labels-idx1-ubyte.gz", "test-images-idx3-ubyte.gz"])
def test_tampered_idx_raises_checksum_error_via_env(file, data_copy, flip_byte, monkeypatch):
    flip_byte(data_copy / "mnist" / file)
    monkeypatch.setenv("SMUDGE_DATA", str(data_copy))
    with pytest.raises(ChecksumError, match=file):
        data.load_dataset("mnist", "test", source="bundled")
    # "auto" must not swallow it either: the fallback is checked too
    monkeypatch.setattr(data, "load_torchvision", _loader_unavailable)
    with pytest.raises(ChecksumError, match=file):
        data.load_dataset("mnist", "test", source="auto")
    # the other split is untouched and still loads
    x, _ = data.load_dataset("mnist", "train", source="bundled", verbose=False)
    assert x.shape == (60000, 1, 28, 28)


def test_tampered_idx_raises_checksum_error_via_folder(data_copy, flip_byte):
    flip_byte(data_copy / "mnist" / "train-labels-idx1-ubyte.gz", offset=0)
    with pytest.raises(ChecksumError, match="train-labels-idx1-ubyte.gz") as info:
        data.load_bundled("train", folder=data_copy)
    assert isinstance(info.value, ValueError)


# --- IDX format --------------------------------------------------------------------------------


def encode_idx(array: np.ndarray) -> bytes:
    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


@pytest.mark.parametrize("shape", [(7,), (3, 5, 4), (0, 28, 28)])
def test_parse_idx_round_trip(shape):
    array = np.random.default_rng(0).integers(0, 256, size=shape, dtype=np.uint8)
    parsed = data.parse_idx(encode_idx(array))
    assert parsed.dtype == np.uint8
    assert parsed.shape == shape
    assert np.array_equal(parsed, array)


def test_parse_idx_round_trip_on_bundled_file():
    from helpers.integrity import verified_bytes

    blob = gzip.decompress(verified_bytes("mnist/test-labels-idx1-ubyte.gz"))
    parsed = data.parse_idx(blob)
    assert parsed.shape == (10000,)
    assert encode_idx(parsed) == blob


def test_parse_idx_rejects_bad_input():
    good = encode_idx(np.zeros((2, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="IDX"):
        data.parse_idx(good[:-1])  # truncated
    with pytest.raises(ValueError, match="IDX"):
        data.parse_idx(good[:2] + b"\x0d" + good[3:])  # float32 type code


# --- augmentation ------------------------------------------------------------------------------


def test_random_affine_shape_range_and_determinism(test_split):
    x = test_split[0][:64]
    out1 = data.random_affine(x, torch.Generator().manual_seed(7))
    out2 = data.random_affine(x, torch.Generator().manual_seed(7))
    out3 = data.random_affine(x, torch.Generator().manual_seed(8))
    assert out1.shape == x.shape and out1.dtype == x.dtype
    assert out1.min() >= 0 and out1.max() <= 1
    assert torch.equal(out1, out2)
    assert not torch.equal(out1, out3)
    assert not torch.equal(out1, x)  # it really transforms
    assert torch.equal(x, test_split[0][:64])  # and leaves its input alone


def test_random_affine_without_movement_is_identity(test_split):
    x = test_split[0][:8]
    out = data.random_affine(x, torch.Generator().manual_seed(0), max_shift=0.0, max_degrees=0.0, scale=(1.0, 1.0))
    assert torch.allclose(out, x, atol=1e-5)
