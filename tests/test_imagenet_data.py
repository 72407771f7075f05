"""ImageNet folder layout, the search split, PIL transforms, skipped images and loader sharding."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from benchmark.data.imagenet import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ImageFolderDataset,
    decode_throughput,
    eval_transform,
    make_loader,
    scan_imagenet,
    search_split,
    set_epoch,
    train_transform,
    write_fake_imagenet,
)
from benchmark.distributed import DistInfo, check_batch
from benchmark.errors import NasBenchError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def fake(tmp_path_factory) -> Path:
    return write_fake_imagenet(tmp_path_factory.mktemp("imagenet"), classes=3, train_per_class=6, val_per_class=2)


def test_scan_reads_the_ilsvrc_layout(fake):
    index = scan_imagenet(fake)
    assert index.classes == sorted(index.classes) and len(index.classes) == 3
    assert len(index.train) == 18 and len(index.val) == 6
    for path, label in index.train + index.val:
        assert Path(path).parent.name == index.classes[label]


def test_not_an_imagenet_folder_is_one_line_error(tmp_path, fake):
    (tmp_path / "train").mkdir()
    with pytest.raises(NasBenchError, match="val is missing") as e:
        scan_imagenet(tmp_path)
    assert "\n" not in str(e.value) and "train/<wnid>" in str(e.value)
    flat = tmp_path / "flat"
    shutil.copytree(fake / "train", flat / "train")
    (flat / "val").mkdir()
    shutil.copy(next((fake / "val").rglob("*.JPEG")), flat / "val" / "ILSVRC2012_val_00000001.JPEG")
    with pytest.raises(NasBenchError, match="no class folders -- sort the validation images"):
        scan_imagenet(flat)


def test_class_mismatch_between_train_and_val(tmp_path, fake):
    shutil.copytree(fake, tmp_path / "x")
    shutil.rmtree(next((tmp_path / "x" / "val").iterdir()))
    with pytest.raises(NasBenchError, match="different classes .1 only in train"):
        scan_imagenet(tmp_path / "x")


def test_search_split_is_stratified_seeded_and_disjoint(fake):
    index = scan_imagenet(fake)
    train, val = search_split(index, n_val=4, seed=0)
    assert len(val) == 4 and len(train) == 14
    assert sorted(train + val) == sorted(index.train)
    counts = np.bincount([y for _, y in val], minlength=3)
    assert counts.min() >= 1 and counts.max() <= 2  # 4 // 3 per class plus one extra
    assert search_split(index, n_val=4, seed=0) == (train, val)
    assert any(search_split(index, n_val=4, seed=s)[1] != val for s in range(1, 5))
    with pytest.raises(NasBenchError, match="leaves class"):
        search_split(index, n_val=17, seed=0)


def test_transforms_shapes_determinism_and_normalisation():
    img = Image.fromarray(np.full((60, 80, 3), (200, 100, 50), dtype=np.uint8))
    x = train_transform(32)(img, random.Random(1))
    assert x.shape == (3, 32, 32)
    assert torch.equal(x, train_transform(32)(img, random.Random(1)))
    expected = (torch.tensor([200, 100, 50]) / 255 - torch.tensor(IMAGENET_MEAN)) / torch.tensor(IMAGENET_STD)
    torch.testing.assert_close(x.mean((1, 2)), expected, atol=1e-4, rtol=0)
    y = eval_transform(224, 256)(img)
    assert y.shape == (3, 224, 224)


def test_random_resized_crop_stays_inside_and_varies():
    t = train_transform(224)
    rng = random.Random(0)
    boxes = {t.crop_box(500, 375, rng) for _ in range(200)}
    assert len(boxes) > 150
    for left, top, right, bottom in boxes:
        assert 0 <= left < right <= 500 and 0 <= top < bottom <= 375
        assert 0.08 * 500 * 375 * 0.9 <= (right - left) * (bottom - top)


def test_eval_transform_is_a_centre_crop():
    """A horizontal gradient: after resize-256 / crop-224 the centre column keeps the middle value."""
    row = np.linspace(0, 255, 512).astype(np.uint8)
    img = Image.fromarray(np.repeat(np.repeat(row[None, :, None], 256, 0), 3, 2))
    x = eval_transform(224, 256)(img)
    value = x[0, 112, 112] * IMAGENET_STD[0] + IMAGENET_MEAN[0]
    assert abs(float(value) - 0.5) < 0.01
    left = x[0, 112, 0] * IMAGENET_STD[0] + IMAGENET_MEAN[0]
    assert abs(float(left) - (256 - 112) / 512) < 0.01  # the crop starts 144 px (of 512) from the left


def test_unreadable_images_are_skipped_and_counted_across_workers(tmp_path):
    root = write_fake_imagenet(tmp_path, classes=2, train_per_class=5, val_per_class=1, corrupt=2)
    index = scan_imagenet(root)
    dataset = ImageFolderDataset(index.train, train_transform(16))
    loader = make_loader(dataset, 4, train=False, workers=2, seed=0)  # counted in two worker processes
    images = sum(len(y) for _, y in loader)
    assert images == 8 and dataset.skipped == 2


def test_training_shards_cover_the_one_process_batches(fake):
    """Rank r of W reads its 1/W of every global batch: the union over ranks is the one-process batch,
    augmentation included (it is drawn per image, not per process)."""
    index = scan_imagenet(fake)
    cpu = torch.device("cpu")

    def loader(batch: int, rank: int = 0, world: int = 1):
        out = make_loader(ImageFolderDataset(index.train, train_transform(16), seed=3), batch, train=True,
                          workers=0, seed=3, dist=DistInfo(rank, world, rank, cpu))
        set_epoch(out, 1)
        return list(out)

    single, shards = loader(6), [loader(3, r, 2) for r in range(2)]
    assert len(single) == len(shards[0]) == len(shards[1]) == 3
    for (x, y), (x0, y0), (x1, y1) in zip(single, *shards):
        merged = sorted(zip(torch.cat([x0, x1]).flatten(1).tolist(), torch.cat([y0, y1]).tolist()))
        assert merged == sorted(zip(x.flatten(1).tolist(), y.tolist()))


def test_augmentation_replays_per_epoch(fake):
    index = scan_imagenet(fake)
    loader = make_loader(ImageFolderDataset(index.train, train_transform(16), seed=1), 6, train=True,
                         workers=0, seed=1)
    set_epoch(loader, 4)
    first = [x for x, _ in loader]
    set_epoch(loader, 4)
    again = [x for x, _ in loader]
    set_epoch(loader, 5)
    other = [x for x, _ in loader]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert not all(torch.equal(a, b) for a, b in zip(first, other))


def test_world_size_must_divide_the_batch():
    assert check_batch(1024, 8) == 128
    with pytest.raises(NasBenchError, match="not divisible by the world size 3"):
        check_batch(1024, 3)


def test_decode_throughput_is_measured(fake):
    index = scan_imagenet(fake)
    speed = decode_throughput(index.train, train_transform(32), seconds=0.2)
    assert speed["images"] > 0 and speed["images_per_s"] > 0


def test_colour_jitter_follows_torchvision_semantics():
    """Strength 0 is the identity; brightness scales pixels; a hue turn of 1/3 maps red to green; the
    draws come from the image's own generator, so a jittered crop is replayable."""
    from benchmark.data.imagenet import ColorJitter

    red = Image.fromarray(np.full((8, 8, 3), (200, 0, 0), dtype=np.uint8))
    assert np.array_equal(np.array(ColorJitter(0, 0, 0, 0)(red, random.Random(0))), np.array(red))
    brighter = np.array(ColorJitter(0.5, 0, 0, 0)(red, random.Random(3)))
    factor = brighter[0, 0, 0] / 200
    assert 0.5 <= factor <= 1.5 and factor != 1 and brighter[0, 0, 1] == 0
    turned = np.array(ColorJitter(0, 0, 0, 0.5)(red, _FixedDraw(1 / 3)))
    assert turned[0, 0, 1] > 150 and turned[0, 0, 0] < 50  # red -> green
    grey = np.array(ColorJitter(0, 0, 0.5, 0)(red, _FixedDraw(0.0)))  # saturation factor 1 - 0.5 = 0.5
    assert 0 < grey[0, 0, 1] < grey[0, 0, 0] < 200
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8))
    jittered = train_transform(32, jitter=ColorJitter())
    assert torch.equal(jittered(img, random.Random(5)), jittered(img, random.Random(5)))
    assert not torch.equal(jittered(img, random.Random(5)), train_transform(32)(img, random.Random(5)))
    with pytest.raises(NasBenchError, match="invalid colour jitter"):
        ColorJitter(hue=0.7)


class _FixedDraw(random.Random):
    """A generator whose uniform draws all return the low end plus ``at`` of the range (``at`` in
    [-1/2, 1/2] of a hue turn, or its lower bound for factors), with no shuffling."""

    def __init__(self, at: float):
        super().__init__(0)
        self.at = at

    def uniform(self, a: float, b: float) -> float:
        return self.at if a < 0 else a

    def shuffle(self, x) -> None:
        return None
