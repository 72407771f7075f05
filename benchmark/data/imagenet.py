"""ImageNet (ILSVRC-2012) from its standard folder layout, decoded with PIL (torchvision is not needed).

Layout: ``ROOT/train/<wnid>/*.JPEG`` and ``ROOT/val/<wnid>/*.JPEG`` (validation images sorted into
class folders, as torchvision's ``ImageFolder`` expects). The SE-NAS search holds 50,000 training images
out for validation (Sec. 4.3, after SPOS): :func:`search_split`. Transforms are the standard ones:
random resized crop (scale 0.08-1, ratio 3/4-4/3), horizontal flip and, for DARTS-space retraining, colour
jitter for training; resize the shorter side to 256 and centre crop 224 for evaluation; both normalise
with the ImageNet mean and std.

Randomness of a training transform comes from ``random.Random((seed, epoch, index))``: an image gets
the same crop whatever the number of workers or processes, so a run is replayable after a resume and a
DDP run sees exactly the images of a one-process run (``tests/test_ddp.py``).
Unreadable images are skipped and counted (``ImageFolderDataset.skipped``), never a crash.
Decode speed per worker is measured by :func:`decode_throughput` (``docs/imagenet.md``).
"""

from __future__ import annotations

import math
import os
import random
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator, Sequence

import numpy as np
import torch
from PIL import Image, ImageEnhance
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info
from torch.utils.data.distributed import DistributedSampler

from benchmark.errors import NasBenchError

if TYPE_CHECKING:
    from benchmark.distributed import DistInfo

IMAGE_EXTENSIONS = (".jpeg", ".jpg", ".png")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MAX_WORKER_SLOTS = 256
Sample = tuple[str, int]
_LAYOUT = "expected ROOT/train/<wnid>/*.JPEG and ROOT/val/<wnid>/*.JPEG (ILSVRC-2012 layout)"


@dataclass(frozen=True)
class ImageNetIndex:
    """Class names (sorted wnids) and (absolute path, label) samples of the train and val folders."""

    classes: list[str]
    train: list[Sample]
    val: list[Sample]
    root: str = ""


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS)


def _scan_split(folder: Path) -> dict[str, list[str]]:
    """``{wnid: sorted image paths}`` of one split folder; a one-line error if it is not class folders."""
    classes: dict[str, list[str]] = {}
    loose = 0
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir():
                with os.scandir(entry.path) as files:
                    classes[entry.name] = sorted(f.path for f in files if f.is_file() and _is_image(f.name))
            elif _is_image(entry.name):
                loose += 1
    if loose and not classes:
        raise NasBenchError(f"{folder} holds {loose} images but no class folders",
                            "sort the validation images into val/<wnid>/ (e.g. with the ILSVRC valprep.sh script)")
    if not classes:
        raise NasBenchError(f"not an ImageNet folder: {folder} has no class folders", _LAYOUT)
    empty = sorted(c for c, files in classes.items() if not files)
    if empty:
        raise NasBenchError(f"{len(empty)} class folder(s) of {folder} hold no images (first: {empty[0]})",
                            "remove the empty folders or restore their .JPEG files")
    return classes


def scan_imagenet(root: str | os.PathLike) -> ImageNetIndex:
    """Index an ILSVRC-2012 folder; labels follow the sorted class names of ``train/``."""
    root = Path(root)
    if not root.is_dir():
        raise NasBenchError(f"ImageNet root {root} does not exist", f"pass an existing folder; {_LAYOUT}")
    for split in ("train", "val"):
        if not (root / split).is_dir():
            raise NasBenchError(f"not an ImageNet folder: {root / split} is missing", f"{_LAYOUT}; pass that ROOT")
    train, val = _scan_split(root / "train"), _scan_split(root / "val")
    if set(train) != set(val):
        only_train = sorted(set(train) - set(val))
        only_val = sorted(set(val) - set(train))
        raise NasBenchError(
            f"train/ and val/ have different classes ({len(only_train)} only in train, first "
            f"{only_train[:1]}; {len(only_val)} only in val, first {only_val[:1]})",
            "use the same class folders under train/ and val/")
    classes = sorted(train)
    label = {c: i for i, c in enumerate(classes)}
    return ImageNetIndex(
        classes=classes,
        train=[(p, label[c]) for c in classes for p in train[c]],
        val=[(p, label[c]) for c in classes for p in val[c]],
        root=str(root.resolve()),
    )


def search_split(index: ImageNetIndex, n_val: int = 50000, seed: int = 0) -> tuple[list[Sample], list[Sample]]:
    """The search's held-out split of the training images (SE-NAS Sec. 4.3, 50,000 images), seeded.

    Stratified: ``n_val // classes`` images of every class (50 on ImageNet), the remainder from randomly
    chosen classes. Both lists keep the index order. The caller saves the file lists with the run.
    """
    n_classes = len(index.classes)
    per_class: dict[int, list[int]] = {}
    for i, (_, y) in enumerate(index.train):
        per_class.setdefault(y, []).append(i)
    if not 0 < n_val < len(index.train):
        raise NasBenchError(f"cannot hold out n_val={n_val} of {len(index.train)} training images",
                            f"use 0 < n_val < {len(index.train)}")
    rng = np.random.default_rng(seed)
    take = {y: n_val // n_classes for y in per_class}
    for y in rng.choice(sorted(per_class), size=n_val % n_classes, replace=False):
        take[int(y)] += 1
    short = [index.classes[y] for y, ids in per_class.items() if take[y] >= len(ids)]
    if short:
        raise NasBenchError(f"holding out {n_val} images leaves class {short[0]} without training images",
                            "use a smaller n_val")
    held = set()
    for y in sorted(per_class):
        ids = per_class[y]
        held.update(ids[j] for j in rng.permutation(len(ids))[:take[y]])
    train = [s for i, s in enumerate(index.train) if i not in held]
    val = [s for i, s in enumerate(index.train) if i in held]
    return train, val


# ----------------------------------------------------------------------------------------- transforms
def _rgb(img: Image.Image) -> Image.Image:
    """The image in RGB (ImageNet holds a few greyscale and CMYK JPEGs)."""
    return img if img.mode == "RGB" else img.convert("RGB")


_MEAN_255 = torch.tensor(IMAGENET_MEAN).mul(255)[:, None, None]
_STD_255 = torch.tensor(IMAGENET_STD).mul(255)[:, None, None]


def _to_tensor(img: Image.Image) -> torch.Tensor:
    """HWC uint8 PIL image -> CHW float32, normalised with the ImageNet mean and std."""
    x = torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).float()
    return x.sub_(_MEAN_255).div_(_STD_255).contiguous()


@dataclass(frozen=True)
class ColorJitter:
    """Colour jitter as DARTS and P-DARTS retrain on ImageNet (``ColorJitter(0.4, 0.4, 0.4, 0.2)``), with
    the semantics of torchvision's PIL path: brightness, contrast and saturation factors uniform in
    ``[1 - s, 1 + s]``, a hue shift uniform in ``[-hue, hue]`` of a full turn, applied in random order.
    A strength of 0 skips that adjustment and draws nothing for it."""

    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.2

    def __post_init__(self) -> None:
        if min(self.brightness, self.contrast, self.saturation) < 0 or not 0 <= self.hue <= 0.5:
            raise NasBenchError(f"invalid colour jitter {self}",
                                "use brightness, contrast, saturation >= 0 and 0 <= hue <= 0.5")

    def __call__(self, img: Image.Image, rng: random.Random) -> Image.Image:
        steps = [(ImageEnhance.Brightness, self.brightness), (ImageEnhance.Contrast, self.contrast),
                 (ImageEnhance.Color, self.saturation), (None, self.hue)]
        rng.shuffle(steps)
        for enhance, strength in steps:
            if strength == 0:
                continue
            if enhance is None:
                img = _shift_hue(img, rng.uniform(-strength, strength))
            else:
                img = enhance(img).enhance(rng.uniform(max(0.0, 1 - strength), 1 + strength))
        return img


def _shift_hue(img: Image.Image, turn: float) -> Image.Image:
    """Rotate the hue of an RGB image by ``turn`` of a full circle (HSV hue wraps around at 256)."""
    h, s, v = img.convert("HSV").split()
    offset = round(turn * 255) % 256
    h = h.point(lambda p: (p + offset) % 256)
    return Image.merge("HSV", (h, s, v)).convert("RGB")


class TrainTransform:
    """Random resized crop (area 8-100 %, aspect 3/4-4/3; 10 tries, then a centre crop) to ``size``,
    horizontal flip with probability 1/2, optional colour jitter (:class:`ColorJitter`), normalisation
    (the torchvision reference recipe)."""

    def __init__(self, size: int = 224, scale: tuple[float, float] = (0.08, 1.0),
                 ratio: tuple[float, float] = (3 / 4, 4 / 3), jitter: ColorJitter | None = None):
        self.size, self.scale, self.ratio, self.jitter = size, scale, ratio, jitter

    def crop_box(self, width: int, height: int, rng: random.Random) -> tuple[int, int, int, int]:
        """``(left, top, right, bottom)`` of the random crop of a ``width x height`` image."""
        area = width * height
        log_ratio = (math.log(self.ratio[0]), math.log(self.ratio[1]))
        for _ in range(10):
            target = area * rng.uniform(*self.scale)
            aspect = math.exp(rng.uniform(*log_ratio))
            w = round(math.sqrt(target * aspect))
            h = round(math.sqrt(target / aspect))
            if 0 < w <= width and 0 < h <= height:
                left, top = rng.randint(0, width - w), rng.randint(0, height - h)
                return left, top, left + w, top + h
        in_ratio = width / height
        if in_ratio < self.ratio[0]:
            w, h = width, round(width / self.ratio[0])
        elif in_ratio > self.ratio[1]:
            h, w = height, round(height * self.ratio[1])
        else:
            w, h = width, height
        left, top = (width - w) // 2, (height - h) // 2
        return left, top, left + w, top + h

    def __call__(self, img: Image.Image, rng: random.Random) -> torch.Tensor:
        img = _rgb(img)
        box = self.crop_box(*img.size, rng)
        img = img.resize((self.size, self.size), Image.BILINEAR, box=box)
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        if self.jitter is not None:
            img = self.jitter(img, rng)
        return _to_tensor(img)


class EvalTransform:
    """Resize the shorter side to ``resize`` and centre crop ``size`` (256 / 224), then normalise."""

    def __init__(self, size: int = 224, resize: int = 256):
        if size > resize:
            raise NasBenchError(f"centre crop {size} is larger than the resize {resize}", "use size <= resize")
        self.size, self.resize = size, resize

    def __call__(self, img: Image.Image, rng: random.Random | None = None) -> torch.Tensor:
        img.draft("RGB", (self.resize, self.resize))  # JPEG: decode at a reduced scale when it is big enough
        img = _rgb(img)
        w, h = img.size
        scale = self.resize / min(w, h)
        sw, sh = max(self.resize, round(w * scale)), max(self.resize, round(h * scale))
        left, top = (sw - self.size) // 2, (sh - self.size) // 2
        # resize and crop in one call: the box maps the crop back to source pixels
        box = (left / scale, top / scale, (left + self.size) / scale, (top + self.size) / scale)
        img = img.resize((self.size, self.size), Image.BILINEAR, box=box)
        return _to_tensor(img)


def train_transform(size: int = 224, jitter: ColorJitter | None = None) -> TrainTransform:
    return TrainTransform(size, jitter=jitter)


def eval_transform(size: int = 224, resize: int = 256) -> EvalTransform:
    return EvalTransform(size, resize)


Transform = Callable[[Image.Image, random.Random], torch.Tensor]


# ------------------------------------------------------------------------------------------- dataset
class ImageFolderDataset(Dataset):
    """(path, label) samples decoded with PIL and transformed (the transform receives the opened, not yet
    decoded image and the sample's random generator); an unreadable image yields ``None``
    (dropped by the loader's collate) and is counted in :attr:`skipped`, across worker processes."""

    def __init__(self, samples: Sequence[Sample], transform: Transform, seed: int = 0):
        self.samples = list(samples)
        self.transform = transform
        self.seed = seed
        self.epoch = 0
        # one counter per worker (slot 0: the main process), in shared memory: no lost updates
        self._skipped = torch.zeros(MAX_WORKER_SLOTS + 1, dtype=torch.int64).share_memory_()

    def __len__(self) -> int:
        return len(self.samples)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def skipped(self) -> int:
        """Unreadable images met so far (every attempt counts)."""
        return int(self._skipped.sum())

    def rng(self, index: int) -> random.Random:
        """The augmentation draws of sample ``index`` in the current epoch."""
        return random.Random(f"{self.seed}/{self.epoch}/{index}")

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int] | None:
        path, label = self.samples[index]
        try:
            with Image.open(path) as img:
                x = self.transform(img, self.rng(index))
        except (OSError, SyntaxError) as e:  # PIL: unreadable, truncated or not an image
            info = get_worker_info()
            slot = 0 if info is None else 1 + info.id % MAX_WORKER_SLOTS
            if int(self._skipped[slot]) == 0:
                warnings.warn(f"skipping unreadable image {path} ({type(e).__name__}: {e}); "
                              "further ones are counted silently", stacklevel=2)
            self._skipped[slot] += 1
            return None
        return x, label


def collate_skipping(batch: list[tuple[torch.Tensor, int] | None]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack a batch, leaving out unreadable images (``None``); an all-unreadable batch is empty."""
    kept = [b for b in batch if b is not None]
    if not kept:
        return torch.zeros(0), torch.zeros(0, dtype=torch.long)
    return torch.stack([x for x, _ in kept]), torch.tensor([y for _, y in kept], dtype=torch.long)


class ShardSampler(Sampler[int]):
    """Evaluation sharding: rank r reads indices r, r + W, r + 2W, ... (no padding, nothing twice)."""

    def __init__(self, n: int, rank: int, world_size: int):
        self.n, self.rank, self.world_size = n, rank, world_size

    def __iter__(self) -> Iterator[int]:
        return iter(range(self.rank, self.n, self.world_size))

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world_size))

    def set_epoch(self, epoch: int) -> None:
        """Evaluation order never changes."""


def make_loader(dataset: ImageFolderDataset, batch_size: int, *, train: bool, workers: int, seed: int,
                dist: DistInfo | None = None) -> DataLoader:
    """A loader of ``batch_size`` images *per process*.

    Training: every process shuffles with the same ``(seed, epoch)`` permutation
    (``DistributedSampler``, also for one process) and reads its 1/W share; incomplete batches are
    dropped. Evaluation: :class:`ShardSampler`, every image read exactly once over all processes.
    Call :func:`set_epoch` before each epoch.
    """
    rank, world = (0, 1) if dist is None else (dist.rank, dist.world_size)
    if train:
        sampler: Sampler[int] = DistributedSampler(dataset, num_replicas=world, rank=rank, shuffle=True,
                                                   seed=seed, drop_last=True)
    else:
        sampler = ShardSampler(len(dataset), rank, world)
    cuda = dist is not None and dist.device.type == "cuda"
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, num_workers=workers,
                      collate_fn=collate_skipping, pin_memory=cuda, drop_last=train,
                      persistent_workers=False, prefetch_factor=4 if workers > 0 else None)


def set_epoch(loader: DataLoader, epoch: int) -> None:
    """Select epoch ``epoch``'s shuffle and augmentation draws (before iterating the loader)."""
    loader.sampler.set_epoch(epoch)
    loader.dataset.set_epoch(epoch)


# ---------------------------------------------------------------------------------- fake data, speed
def write_fake_imagenet(root: str | os.PathLike, classes: int = 3, train_per_class: int = 6,
                        val_per_class: int = 2, size: tuple[int, int] = (40, 48), seed: int = 0,
                        corrupt: int = 0) -> Path:
    """Write a tiny ImageNet-shaped folder of random JPEGs (``size`` = width, height) for tests.

    Each class has its own mean colour, so a network can learn it. ``corrupt`` training images
    (of the first class) are replaced by bytes that are not an image.
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    wnids = [f"n{10000000 + 1111 * i:08d}" for i in range(classes)]
    for c, wnid in enumerate(wnids):
        colour = rng.integers(0, 256, size=3)
        for split, n in (("train", train_per_class), ("val", val_per_class)):
            folder = root / split / wnid
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(n):
                noise = rng.normal(0, 40, size=(size[1], size[0], 3))
                pixels = np.clip(colour + noise, 0, 255).astype(np.uint8)
                Image.fromarray(pixels).save(folder / f"{wnid}_{split}_{k:05d}.JPEG", quality=90)
    for k in range(corrupt):
        (root / "train" / wnids[0] / f"{wnids[0]}_train_{k:05d}.JPEG").write_bytes(b"not a jpeg" * 10)
    return root


def decode_throughput(samples: Sequence[Sample], transform: Transform, seconds: float = 5.0) -> dict[str, float]:
    """Images per second one process (one loader worker) decodes and transforms, over ``samples``: per
    wall-clock second and per CPU second of this process (the latter does not drop on a busy machine)."""
    dataset = ImageFolderDataset(samples, transform)
    n, start, cpu = 0, time.perf_counter(), time.process_time()
    while time.perf_counter() - start < seconds:
        dataset[n % len(dataset)]
        n += 1
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"images": n, "seconds": elapsed, "images_per_s": n / elapsed, "images_per_cpu_s": n / max(cpu, 1e-9)}
