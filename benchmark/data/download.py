"""Fetch the official CIFAR archives, check their md5 and unpack them flat into ``ROOT/cifar10`` or
``ROOT/cifar100``. The archive is downloaded and extracted inside a temporary folder under ROOT, and only
a verified, fully extracted folder is renamed into place, so a failure leaves nothing half-written.
"""

from __future__ import annotations

import hashlib
import os
import tarfile
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from benchmark.data.imagenet16 import how_to_get
from benchmark.errors import NasBenchError


@dataclass(frozen=True)
class Archive:
    url: str
    md5: str
    member: str  # top folder inside the archive
    folder: str  # folder under the data root


ARCHIVES = {
    "cifar10": Archive("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                       "c58f30108f718f92721af3b95e74349a", "cifar-10-batches-py", "cifar10"),
    "cifar100": Archive("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
                        "eb9058c3a382ffc7106e4002c42a8d85", "cifar-100-python", "cifar100"),
}


def _fetch(url: str, dest: Path, chunk: int = 1 << 20) -> str:
    """Stream ``url`` into ``dest``; return the md5 of the bytes."""
    md5 = hashlib.md5()
    with urllib.request.urlopen(url, timeout=60) as r, open(dest, "wb") as f:
        while block := r.read(chunk):
            md5.update(block)
            f.write(block)
    return md5.hexdigest()


def download(dataset: str, root: Path, url: str | None = None, md5: str | None = None) -> Path:
    """Download ``dataset`` ('cifar10' or 'cifar100') into ``root/<dataset>`` and return that folder.

    ``url`` replaces the official URL (a mirror, or a ``file://`` archive) and ``md5`` its checksum.
    """
    root = Path(root)
    if dataset == "imagenet16-120":
        raise NasBenchError(
            "ImageNet16-120 cannot be downloaded automatically", how_to_get(root / "ImageNet16")
        )
    if dataset not in ARCHIVES:
        raise NasBenchError(f"no download for dataset {dataset!r}", f"choose one of: {', '.join(ARCHIVES)}")
    arc = ARCHIVES[dataset]
    target = root / arc.folder
    if target.exists():
        raise NasBenchError(f"{target} already exists", "move it away to download a fresh copy")
    url, md5 = url or arc.url, md5 or arc.md5
    manual = f"download {arc.url} (md5 {arc.md5}) by hand and extract its {arc.member}/* into {target}/"
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{arc.folder}-download-", dir=root) as tmp:
        archive = Path(tmp) / Path(arc.url).name
        try:
            got = _fetch(url, archive)
        except (OSError, ValueError) as e:  # URLError, timeouts and bad URLs
            raise NasBenchError(f"could not download {url} ({e})", manual) from None
        if got != md5:
            raise NasBenchError(f"{url} has md5 {got}, expected {md5} (incomplete or wrong file)", manual)
        try:
            with tarfile.open(archive, "r:gz") as tar:
                tar.extractall(Path(tmp) / "x", filter="data")
        except (tarfile.TarError, OSError, EOFError) as e:
            raise NasBenchError(f"could not extract {url} ({e})", manual) from None
        src = Path(tmp) / "x" / arc.member
        if not src.is_dir():
            raise NasBenchError(f"{url} has no {arc.member}/ folder", manual)
        os.replace(src, target)
    return target
