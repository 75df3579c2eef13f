"""Where the bundled files live, and sha256 checks before anything is read.

Taught in notebook 01 (why a checkpoint is checked before it is loaded).
"""
from __future__ import annotations

import hashlib
import os
from pathlib import Path

MANIFEST = "SHA256SUMS"


class ChecksumError(ValueError):
    """A bundled file's sha256 does not match the manifest; the file was not used."""


def data_dir() -> Path:
    """The folder of bundled data and checkpoints.

    ``$SMUDGE_DATA`` if set; otherwise ``helpers/bundled`` in an installed wheel,
    or the repository's ``data/`` folder in a checkout (editable install).
    """
    env = os.environ.get("SMUDGE_DATA")
    if env:
        return Path(env)
    here = Path(__file__).resolve().parent
    for candidate in (here / "bundled", here.parent / "data"):
        if (candidate / MANIFEST).is_file():
            return candidate
    raise FileNotFoundError(
        f"no bundled data found (looked for {MANIFEST} in {here / 'bundled'} and {here.parent / 'data'}); "
        "set SMUDGE_DATA to the course's data/ folder"
    )


def read_manifest(folder: Path | None = None) -> dict[str, str]:
    """``{relative path: sha256}`` from the folder's SHA256SUMS file."""
    folder = Path(folder) if folder is not None else data_dir()
    entries = {}
    for line in (folder / MANIFEST).read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            entries[name.strip()] = digest.lower()
    return entries


def sha256_bytes(blob: bytes) -> str:
    return hashlib.sha256(blob).hexdigest()


def verified_bytes(name: str, folder: Path | None = None) -> bytes:
    """Read a bundled file and return its bytes only if its sha256 matches the manifest.

    Raises ``ChecksumError`` (a ``ValueError``) naming the file on a mismatch, and
    ``FileNotFoundError`` if the file or its manifest entry is missing. The bytes that
    were hashed are the bytes returned, so nothing can change in between.
    """
    folder = Path(folder) if folder is not None else data_dir()
    manifest = read_manifest(folder)
    if name not in manifest:
        raise FileNotFoundError(f"{name} is not listed in {folder / MANIFEST}")
    path = folder / name
    blob = path.read_bytes()
    digest = sha256_bytes(blob)
    if digest != manifest[name]:
        raise ChecksumError(
            f"{path}: sha256 {digest} does not match {manifest[name]} in {MANIFEST}; "
            "the file is corrupt or was changed, so it was not loaded"
        )
    return blob


def record(name: str, folder: Path | None = None) -> str:
    """Write the current sha256 of ``folder/name`` into the manifest; return it."""
    folder = Path(folder) if folder is not None else data_dir()
    digest = sha256_bytes((folder / name).read_bytes())
    entries = read_manifest(folder) if (folder / MANIFEST).exists() else {}
    entries[name] = digest
    (folder / MANIFEST).write_text("".join(f"{d}  {n}\n" for n, d in sorted(entries.items())))
    return digest
