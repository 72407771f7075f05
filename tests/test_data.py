"""Data package: real CIFAR loaders, planted ImageNet16 files, splits, augmentation, batches, download."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmark.data import DataSplits, RawDataset, load_dataset
from benchmark.data.augment import normalize, random_crop_flip
from benchmark.data.cifar import load_cifar10, load_cifar100
from benchmark.data.download import download
from benchmark.data.imagenet16 import load_imagenet16_120
from benchmark.data.loader import TensorBatches
from benchmark.data.splits import split_nb201, split_senas
from benchmark.errors import NasBenchError
from benchmark.paths import data_root


def _shared(sub: str) -> Path:
    try:
        root = data_root()
    except NasBenchError:
        pytest.skip("no shared data root")
    if not (root / sub).is_dir():
        pytest.skip(f"shared data has no {sub}/")
    return root


def _batch_bytes(data: np.ndarray, labels: list[int], label_key: str = "labels") -> bytes:
    return pickle.dumps({"batch_label": "planted", label_key: labels, "data": data}, protocol=2)


def _write(path: Path, data: np.ndarray, labels: list[int], label_key: str = "labels") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_batch_bytes(data, labels, label_key))


def _planted_cifar10(folder: Path, n_train: int = 20, n_test: int = 6, batches=(1,)) -> None:
    rng = np.random.default_rng(0)
    for k in batches:
        _write(folder / f"data_batch_{k}", rng.integers(0, 256, (n_train, 3072), dtype=np.uint8),
               [i % 10 for i in range(n_train)])
    _write(folder / "test_batch", rng.integers(0, 256, (n_test, 3072), dtype=np.uint8),
           [i % 10 for i in range(n_test)])


def _indexed_raw(name: str, n_train: int, n_test: int) -> RawDataset:
    """Images whose first two pixels encode their index, so splits can be checked for overlap."""
    def imgs(n: int, offset: int) -> torch.Tensor:
        x = torch.zeros(n, 3, 32, 32, dtype=torch.uint8)
        ids = torch.arange(offset, offset + n)
        x[:, 0, 0, 0], x[:, 0, 0, 1] = (ids % 256).to(torch.uint8), (ids // 256).to(torch.uint8)
        return x
    return RawDataset(name, imgs(n_train, 0), torch.arange(n_train) % 10, imgs(n_test, n_train),
                      torch.arange(n_test) % 10, 10, (0.5,) * 3, (0.25,) * 3)


def _ids(x: torch.Tensor) -> set[int]:
    return set((x[:, 0, 0, 0].long() + 256 * x[:, 0, 0, 1].long()).tolist())


# ---------------------------------------------------------------- real CIFAR files

def test_cifar10_real_matches_readme():
    raw = load_cifar10(_shared("cifar10"))
    assert raw.train_x.shape == (10000, 3, 32, 32) and raw.train_x.dtype == torch.uint8
    assert raw.train_y.dtype == torch.int64 and raw.num_classes == 10
    assert raw.train_y[:10].tolist() == [6, 9, 9, 4, 1, 1, 2, 7, 8, 3]
    assert torch.bincount(raw.train_y).tolist() == [1005, 974, 1032, 1016, 999, 937, 1030, 1001, 1025, 981]
    assert raw.test_x.shape == (1000, 3, 32, 32)
    assert raw.test_y[:10].tolist() == [3, 8, 8, 0, 6, 6, 1, 6, 3, 1]
    assert torch.bincount(raw.test_y).tolist() == [103, 89, 100, 103, 90, 86, 112, 102, 106, 109]


def test_cifar100_real_fine_labels():
    raw = load_cifar100(_shared("cifar100"))
    assert raw.train_x.shape == (1117, 3, 32, 32) and raw.test_x.shape == (916, 3, 32, 32)
    assert raw.train_y[:10].tolist() == [19, 29, 0, 11, 1, 86, 90, 28, 23, 31]
    assert raw.test_y[:10].tolist() == [49, 33, 72, 51, 71, 92, 15, 14, 23, 0]
    counts = torch.bincount(raw.test_y, minlength=100)
    assert raw.num_classes == 100 and counts.min() >= 4 and counts.max() <= 15


def test_load_dataset_real_cifar10_senas_tiny():
    root = _shared("cifar10")
    a = load_dataset("cifar10", root, scheme="senas", seed=3, max_train=64, max_val=32)
    b = load_dataset("cifar10", root, scheme="senas", seed=3, max_train=64, max_val=32)
    assert isinstance(a, DataSplits) and a.scheme == "senas" and a.num_classes == 10
    assert a.train_x.shape == (64, 3, 32, 32) and a.val_x.shape == (32, 3, 32, 32) and len(a.test_y) == 1000
    assert torch.equal(a.train_x, b.train_x) and torch.equal(a.val_y, b.val_y)
    assert a.mean == pytest.approx((125.3 / 255, 123.0 / 255, 113.9 / 255))


def test_unknown_dataset_lists_valid_names(tmp_path):
    with pytest.raises(NasBenchError, match="cifar10, cifar100, imagenet16-120"):
        load_dataset("mnist", tmp_path)
    _planted_cifar10(tmp_path / "cifar10")
    with pytest.raises(NasBenchError, match="unknown split scheme 'darts' -- choose one of: nb201, senas"):
        load_dataset("cifar10", tmp_path, scheme="darts")


# ---------------------------------------------------------------- planted files, errors

def test_cifar10_loads_every_present_batch(tmp_path):
    _planted_cifar10(tmp_path / "cifar10", n_train=7, batches=(1, 3))
    raw = load_cifar10(tmp_path)
    assert raw.train_x.shape == (14, 3, 32, 32) and raw.test_x.shape == (6, 3, 32, 32)


def test_planar_rgb_layout(tmp_path):
    data = np.zeros((1, 3072), dtype=np.uint8)
    data[0, 1024 + 32 * 5 + 7] = 200  # green plane, row 5, column 7
    _write(tmp_path / "cifar10" / "data_batch_1", data, [3])
    _write(tmp_path / "cifar10" / "test_batch", data, [3])
    x = load_cifar10(tmp_path).train_x
    assert x[0, 1, 5, 7] == 200 and x.sum() == 200


def test_missing_files_name_the_fix(tmp_path):
    with pytest.raises(NasBenchError, match=r"data_batch_1 not found.*nasbench data download cifar10"):
        load_cifar10(tmp_path)
    with pytest.raises(NasBenchError, match=r"train not found at .*cifar100/train -- .*cifar-100-python/\*"):
        load_cifar100(tmp_path)
    with pytest.raises(NasBenchError, match=r"train_data_batch_1 not found.*val_data to .*ImageNet16/"):
        load_imagenet16_120(tmp_path)
    _planted_cifar10(tmp_path / "cifar10")
    (tmp_path / "cifar10" / "test_batch").unlink()
    with pytest.raises(NasBenchError, match="test_batch not found"):
        load_cifar10(tmp_path)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "wrong_width", "bad_label"])
def test_corrupt_files_raise(tmp_path, damage):
    folder = tmp_path / "cifar10"
    _planted_cifar10(folder)
    path = folder / "data_batch_1"
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:5000])
    elif damage == "garbage":
        path.write_bytes(b"not a pickle at all" * 100)
    elif damage == "wrong_width":
        _write(path, np.zeros((4, 1000), dtype=np.uint8), [0, 1, 2, 3])
    else:
        _write(path, np.zeros((2, 3072), dtype=np.uint8), [0, 10])
    with pytest.raises(NasBenchError, match="data_batch_1") as e:
        load_cifar10(tmp_path)
    assert "nasbench data download cifar10" in str(e.value)


def test_imagenet16_keeps_first_120_classes(tmp_path):
    folder = tmp_path / "ImageNet16"
    labels1, labels2 = [1, 500, 120, 121, 7], [1000, 60]
    data1 = np.arange(5 * 768).reshape(5, 768).astype(np.uint8)
    data2 = np.full((2, 768), 9, dtype=np.uint8)
    _write(folder / "train_data_batch_1", data1, labels1)
    _write(folder / "train_data_batch_2", data2, labels2)
    _write(folder / "val_data", np.zeros((4, 768), dtype=np.uint8), [2, 119, 200, 121])
    raw = load_imagenet16_120(tmp_path)
    assert raw.num_classes == 120 and raw.train_x.shape == (4, 3, 16, 16) and raw.train_x.dtype == torch.uint8
    assert raw.train_y.tolist() == [0, 119, 6, 59] and raw.train_y.dtype == torch.int64
    assert torch.equal(raw.train_x[1], torch.from_numpy(data1[2].reshape(3, 16, 16)))  # label 120, planar
    assert raw.test_y.tolist() == [1, 118]
    _write(folder / "val_data", np.zeros((1, 768), dtype=np.uint8), [0])  # 1-based: 0 is invalid
    with pytest.raises(NasBenchError, match="val_data has labels outside 1..1000"):
        load_imagenet16_120(tmp_path)


# ---------------------------------------------------------------- splits

def test_nb201_cifar10_halves_training_set():
    raw = _indexed_raw("cifar10", 101, 30)
    s = split_nb201(raw, seed=0)
    assert (len(s.train_y), len(s.val_y), len(s.test_y)) == (50, 51, 30)
    assert _ids(s.train_x).isdisjoint(_ids(s.val_x)) and _ids(s.train_x) | _ids(s.val_x) == set(range(101))
    assert torch.equal(s.test_x, raw.test_x)
    assert torch.equal(split_nb201(raw, seed=0).val_x, s.val_x)
    assert not torch.equal(split_nb201(raw, seed=1).val_x, s.val_x)


@pytest.mark.parametrize("name", ["cifar100", "imagenet16-120"])
def test_nb201_xvalid_halves_test_set(name):
    raw = _indexed_raw(name, 40, 31)
    s = split_nb201(raw, seed=0)
    assert torch.equal(s.train_x, raw.train_x) and (len(s.val_y), len(s.test_y)) == (15, 16)
    assert _ids(s.val_x).isdisjoint(_ids(s.test_x)) and _ids(s.val_x) | _ids(s.test_x) == set(range(40, 71))
    assert not torch.equal(split_nb201(raw, seed=1).val_x, s.val_x)


def _split_file(path: Path, first: str, second: str, a: list[int], b: list[int]) -> None:
    path.write_text(json.dumps({first: ["int", a], second: ["int", b]}))  # NB201's own layout


@pytest.mark.parametrize("name,file,first,second", [
    ("cifar10", "cifar-split.txt", "train", "valid"),
    ("cifar100", "cifar100-test-split.txt", "xvalid", "xtest"),
    ("imagenet16-120", "imagenet-16-120-test-split.txt", "xvalid", "xtest")])
def test_nb201_uses_the_official_split_file_when_present(tmp_path, name, file, first, second):
    raw = _indexed_raw(name, 12, 10)
    n = 12 if name == "cifar10" else 10
    a = [i for i in range(n) if i % 3 == 0]  # an uneven, interleaved split no permutation would give
    b = [i for i in range(n) if i % 3]
    _split_file(tmp_path / file, first, second, a, b)
    s = split_nb201(raw, seed=0, split_dir=tmp_path)
    assert s.source == str(tmp_path / file) and split_nb201(raw, seed=0).source == "seeded"
    offset = 0 if name == "cifar10" else 12
    first_part, second_part = (s.train_x, s.val_x) if name == "cifar10" else (s.val_x, s.test_x)
    assert sorted(_ids(first_part)) == [offset + i for i in a]
    assert sorted(_ids(second_part)) == [offset + i for i in b]
    assert torch.equal(split_nb201(raw, seed=1, split_dir=tmp_path).val_x, s.val_x)  # fixed, not seeded


def test_a_bad_official_split_file_is_a_one_line_error(tmp_path):
    raw = _indexed_raw("cifar10", 12, 4)
    (tmp_path / "cifar-split.txt").write_text("{not json")
    with pytest.raises(NasBenchError, match="is not an NB201 split file with 'train' and 'valid'"):
        split_nb201(raw, seed=0, split_dir=tmp_path)
    _split_file(tmp_path / "cifar-split.txt", "train", "valid", list(range(0, 50000, 2)), list(range(1, 50000, 2)))
    with pytest.raises(NasBenchError, match="but the cifar10 training set here has 12 images") as e:
        split_nb201(raw, seed=0, split_dir=tmp_path)
    assert "remove it to fall back to the seeded split" in e.value.fix


def test_senas_random_validation_from_training_set():
    raw = _indexed_raw("cifar10", 120, 10)
    s = split_senas(raw, seed=0, n_val=20)
    assert s.scheme == "senas" and (len(s.train_y), len(s.val_y), len(s.test_y)) == (100, 20, 10)
    assert _ids(s.train_x).isdisjoint(_ids(s.val_x)) and _ids(s.train_x) | _ids(s.val_x) == set(range(120))
    assert _ids(s.val_x) != set(range(20))  # random, not the first images
    assert torch.equal(split_senas(raw, 0, 20).val_x, s.val_x)
    assert not torch.equal(split_senas(raw, 1, 20).val_x, s.val_x)
    assert torch.equal(s.val_y, raw.train_y[s.val_x[:, 0, 0, 0].long()])  # labels follow their images
    with pytest.raises(NasBenchError, match="n_val=120 must be between 1 and 119"):
        split_senas(raw, 0, 120)


# ---------------------------------------------------------------- augmentation

def test_augment_is_deterministic_and_normalised():
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    a, b, c = (normalize(random_crop_flip(x, torch.Generator().manual_seed(s)), (0.5,) * 3, (0.25,) * 3)
               for s in (5, 5, 6))
    assert a.shape == (64, 3, 32, 32) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)
    v = normalize(torch.full((1, 3, 2, 2), 51, dtype=torch.uint8), (0.1, 0.2, 0.3), (0.5, 0.5, 0.5))
    assert torch.allclose(v[0, :, 0, 0], torch.tensor([0.2, 0.0, -0.2]), atol=1e-6)


def test_flip_really_flips():
    x = torch.randint(0, 256, (200, 3, 32, 32), dtype=torch.uint8)
    out = random_crop_flip(x, torch.Generator().manual_seed(0), padding=0)
    same = (out == x).flatten(1).all(1)
    flipped = (out == x.flip(-1)).flatten(1).all(1)
    assert bool((same | flipped).all()) and 60 < int(flipped.sum()) < 140


@pytest.mark.parametrize("side,pad", [(32, 4), (16, 2)])
def test_crop_is_a_shifted_window_with_zero_padding(side, pad):
    x = torch.randint(1, 256, (100, 3, side, side), dtype=torch.uint8)  # no zeros in the images
    out = random_crop_flip(x, torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
    shifts = set()
    for i in range(len(x)):
        windows = {(dy, dx): padded[i, :, dy:dy + side, dx:dx + side]
                   for dy in range(2 * pad + 1) for dx in range(2 * pad + 1)}
        hits = [k for k, w in windows.items() if torch.equal(out[i], w) or torch.equal(out[i], w.flip(-1))]
        assert hits, f"image {i} is not a crop of its padded image"
        shifts.add(hits[0])
    assert len(shifts) > 10 and (out == 0).any()  # many offsets, and zero padding shows


# ---------------------------------------------------------------- batches

def _epoch(batches: TensorBatches, epoch: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    batches.set_epoch(epoch)
    return list(batches)


def test_tensor_batches_reproducible_per_epoch():
    x = torch.randint(0, 256, (50, 3, 32, 32), dtype=torch.uint8)
    y = torch.arange(50)
    make = lambda **kw: TensorBatches(x, y, (0.5,) * 3, (0.25,) * 3, 16, seed=7, **kw)  # noqa: E731
    b = make(augment=True)
    assert len(b) == 4 and len(make(drop_last=True)) == 3
    e3 = _epoch(b, 3)
    assert sorted(torch.cat([yb for _, yb in e3]).tolist()) == list(range(50))
    assert [len(yb) for _, yb in e3] == [16, 16, 16, 2]
    _epoch(b, 4)
    resumed = _epoch(make(augment=True), 3)  # a fresh object, as after a resume
    assert all(torch.equal(xa, xb) and torch.equal(ya, yb) for (xa, ya), (xb, yb) in zip(e3, resumed))
    assert not torch.equal(_epoch(b, 4)[0][1], e3[0][1])
    plain = _epoch(make(shuffle=False, drop_last=True), 0)
    assert torch.cat([yb for _, yb in plain]).tolist() == list(range(48))
    assert torch.equal(plain[0][0], normalize(x[:16], (0.5,) * 3, (0.25,) * 3))


@pytest.mark.parametrize("drop_last,shuffle", [(False, True), (True, True), (False, False)])
def test_epoch_wide_draws_equal_per_batch_draws(drop_last, shuffle):
    """Drawing a whole epoch's crops and flips at once (one host-to-device copy) gives exactly the batches
    of the per-batch reference: the generator is consumed in the same order."""
    from benchmark.data.loader import epoch_generator

    x = torch.randint(0, 256, (70, 3, 16, 16), dtype=torch.uint8)
    y = torch.arange(70)
    mean, std = (0.5,) * 3, (0.25,) * 3
    batches = TensorBatches(x, y, mean, std, 32, augment=True, shuffle=shuffle, drop_last=drop_last, seed=3)
    g = epoch_generator(3, 5)
    order = torch.randperm(70, generator=g) if shuffle else torch.arange(70)
    reference = []
    for lo in range(0, 64 if drop_last else 70, 32):
        idx = order[lo:lo + 32]
        reference.append((normalize(random_crop_flip(x[idx], g), mean, std), y[idx]))
    got = _epoch(batches, 5)
    assert len(got) == len(reference) == (2 if drop_last else 3)
    assert all(torch.equal(a, c) and torch.equal(b, d) for (a, b), (c, d) in zip(got, reference))


# ---------------------------------------------------------------- download

def _official_style_tar(tmp_path: Path) -> tuple[str, str]:
    src = tmp_path / "src"
    _planted_cifar10(src / "cifar-10-batches-py", n_train=12, n_test=4)
    (src / "cifar-10-batches-py" / "batches.meta").write_bytes(pickle.dumps({"label_names": ["a"] * 10}))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        tar.add(src / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(buf.getvalue())
    return archive.as_uri(), hashlib.md5(buf.getvalue()).hexdigest()


def test_download_file_url_extracts_flat(tmp_path):
    url, md5 = _official_style_tar(tmp_path)
    root = tmp_path / "data"
    assert download("cifar10", root, url=url, md5=md5) == root / "cifar10"
    assert sorted(p.name for p in root.iterdir()) == ["cifar10"]
    assert (root / "cifar10" / "batches.meta").is_file()
    assert load_cifar10(root).train_x.shape == (12, 3, 32, 32)
    with pytest.raises(NasBenchError, match="already exists"):
        download("cifar10", root, url=url, md5=md5)


def test_download_bad_md5_or_unreachable_leaves_nothing(tmp_path):
    url, _ = _official_style_tar(tmp_path)
    root = tmp_path / "data"
    with pytest.raises(NasBenchError, match=r"expected 0{32}.*www.cs.toronto.edu/~kriz/cifar-10-python"):
        download("cifar10", root, url=url, md5="0" * 32)
    assert list(root.iterdir()) == []
    with pytest.raises(NasBenchError, match=r"could not download.*by hand.*cifar-100-python/\* into"):
        download("cifar100", root, url=(tmp_path / "absent.tar.gz").as_uri())
    assert list(root.iterdir()) == []
    with pytest.raises(NasBenchError, match="ImageNet16-120 cannot be downloaded.*ImageNet16/"):
        download("imagenet16-120", root)
