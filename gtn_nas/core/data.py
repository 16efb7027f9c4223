"""MNIST: locating, verifying and loading the four IDX files, and the fixed splits.

The files are read straight from `.gz` (or uncompressed) IDX files wherever they lie, so a
read-only data folder is never written to. When no folder holds them, torchvision's downloader
fetches them into a cache directory (and checks their MD5 sums as it does).

Splits: the 60k training set is split once, with a fixed seed, into 50k `train` and 10k `val`;
the 10k test set is `test`, used only for final reporting.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import DataError

MEAN, STD = 0.1307, 0.3081  # students see (p - MEAN) / STD for a pixel p in [0, 1]
SPLIT_SEED = 20240501
N_VAL = 10_000

# name -> (md5 of the .gz file, md5 of the uncompressed file); the originals torchvision checks.
FILES = {
    "train-images-idx3-ubyte": ("f68b3c2dcbeaaa9fbdd348bbdeb94873", "6bbc9ace898e44ae57da46a324031adb"),
    "train-labels-idx1-ubyte": ("d53e105ee54ea40749a09fcbcd1e9432", "a25bea736e30d166cdddb491f175f624"),
    "t10k-images-idx3-ubyte": ("9fb629c4189551a2d022fa330f9573f3", "2646ac647ad5339dbf082846283269ea"),
    "t10k-labels-idx1-ubyte": ("ec29112dd5afa0611ce80d1b7f02629c", "27ae3e4e09519cfbb04c329615203637"),
}


def default_data_dir() -> Path:
    """`GTN_NAS_DATA` if set, else a per-user cache folder (where downloads go)."""
    env = os.environ.get("GTN_NAS_DATA")
    if env:
        return Path(env).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gtn-nas" / "mnist"


def _candidates(folder: Path, name: str) -> list[Path]:
    out = []
    for sub in (folder, folder / "MNIST" / "raw", folder / "raw"):
        out += [sub / (name + ".gz"), sub / name]
    return out


def locate(folder: Path) -> dict[str, Path] | None:
    """Paths of the four files under `folder` (flat or torchvision layout), or None if any is missing."""
    found = {}
    for name in FILES:
        hit = next((p for p in _candidates(folder, name) if p.is_file()), None)
        if hit is None:
            return None
        found[name] = hit
    return found


def _download(folder: Path) -> dict[str, Path] | None:
    """Fetch MNIST with torchvision (it checks MD5s); on failure remove what the attempt created."""
    created = [p for p in (folder / "MNIST", folder, *folder.parents) if not p.exists()]
    try:
        from torchvision.datasets import MNIST

        MNIST(root=str(folder), train=True, download=True)
        MNIST(root=str(folder), train=False, download=True)
    except Exception:  # no network, proxy, disk full: reported by the caller as one line
        if created:  # the outermost folder this attempt made, with everything below it
            shutil.rmtree(created[-1], ignore_errors=True)
        return None
    return locate(folder)


def _read_idx(path: Path, name: str) -> np.ndarray:
    """Parse one IDX file after checking its MD5; errors name the file."""
    try:
        raw = path.read_bytes()
        md5_gz, md5_raw = FILES[name]
        digest = hashlib.md5(raw).hexdigest()
        if path.suffix == ".gz":
            if digest != md5_gz:
                raise DataError(
                    f"{path}: checksum mismatch (MD5 {digest}, expected {md5_gz}); the file is truncated or corrupt"
                )
            raw = gzip.decompress(raw)
        elif digest != md5_raw:
            raise DataError(
                f"{path}: checksum mismatch (MD5 {digest}, expected {md5_raw}); the file is truncated or corrupt"
            )
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


@dataclass(frozen=True)
class Split:
    """Normalised images (N, 1, 28, 28) float32 and labels (N,) int64."""

    x: torch.Tensor
    y: torch.Tensor

    def __len__(self) -> int:
        return len(self.y)

    def to(self, device: torch.device | str) -> Split:
        return Split(self.x.to(device), self.y.to(device))

    def subset_indices(self, n: int, seed: int) -> torch.Tensor:
        """The indices `subset(n, seed)` takes."""
        g = torch.Generator().manual_seed(seed)
        return torch.randperm(len(self), generator=g)[:n].to(self.y.device)

    def subset(self, n: int, seed: int) -> Split:
        """A class-stratified-by-chance random subset of n examples, fixed by seed."""
        idx = self.subset_indices(n, seed)
        return Split(self.x[idx], self.y[idx])


@dataclass(frozen=True)
class MNIST:
    train: Split
    val: Split
    test: Split

    def to(self, device: torch.device | str) -> MNIST:
        return MNIST(self.train.to(device), self.val.to(device), self.test.to(device))


def _to_split(images: np.ndarray, labels: np.ndarray) -> Split:
    x = torch.from_numpy(images.astype(np.float32) / 255.0).sub_(MEAN).div_(STD).unsqueeze(1)
    return Split(x, torch.from_numpy(labels.astype(np.int64)))


def load_mnist(data_dir: str | Path | None = None, download: bool = True) -> MNIST:
    """Load MNIST with the fixed 50k/10k/10k train/val/test splits.

    Looks in `data_dir` (or `GTN_NAS_DATA`, or the cache folder); downloads into that folder when
    the files are missing, `download` is set and the network allows.
    """
    folder = Path(data_dir).expanduser() if data_dir else default_data_dir()
    paths = locate(folder) or (_download(folder) if download else None)
    if paths is None:
        raise DataError(
            f"MNIST not found in {folder} (looked for the four IDX files, .gz or not, flat or under MNIST/raw/) "
            "and could not be downloaded; pass --data-dir DIR or set GTN_NAS_DATA to a folder holding them"
        )
    arr = {name: _read_idx(p, name) for name, p in paths.items()}
    if arr["train-images-idx3-ubyte"].shape != (60000, 28, 28) or arr["t10k-images-idx3-ubyte"].shape != (
        10000,
        28,
        28,
    ):
        raise DataError(f"{folder}: MNIST image files have unexpected shapes")
    full = _to_split(arr["train-images-idx3-ubyte"], arr["train-labels-idx1-ubyte"])
    perm = torch.randperm(60000, generator=torch.Generator().manual_seed(SPLIT_SEED))
    train_idx, val_idx = perm[N_VAL:], perm[:N_VAL]
    return MNIST(
        train=Split(full.x[train_idx], full.y[train_idx]),
        val=Split(full.x[val_idx], full.y[val_idx]),
        test=_to_split(arr["t10k-images-idx3-ubyte"], arr["t10k-labels-idx1-ubyte"]),
    )
