"""LightningModules the probe's tests put beside its plain loop (tests/test_probe.py): unlike the suite's twins,
and each with one thing the probe must handle or refuse."""

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, IterableDataset, TensorDataset


class Unlike(pl.LightningModule):
    """Dropout and a batch norm, a dict return, a step-interval scheduler of frequency 2, logged values."""

    def __init__(self, width: int = 16):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, width), nn.BatchNorm1d(width), nn.ReLU(), nn.Dropout(0.2),
                                 nn.Linear(width, 3))  # fmt: skip

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.cross_entropy(self.net(x), y)
        self.log("train_loss", loss, prog_bar=True)
        return {"loss": loss, "batch": batch_idx}

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=0.05, weight_decay=0.01)
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.7)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step", "frequency": 2}}


class Lists(Unlike):
    """The tuple of lists, an epoch-interval scheduler, and a training_step that skips (None) every fifth batch."""

    def training_step(self, batch, batch_idx):
        if batch_idx % 5 == 4:
            return None
        return super().training_step(batch, batch_idx)["loss"]

    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9)
        return [opt], [torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5)]


class Noisy(Unlike):
    """Non-deterministic: its loss adds noise from an RNG the probe's seed does not reach."""

    def __init__(self):
        super().__init__()
        self.own = torch.Generator()
        self.own.seed()  # a non-deterministic seed at every build

    def training_step(self, batch, batch_idx):
        x, y = batch
        noise = torch.randn(1, generator=self.own)
        return F.cross_entropy(self.net(x), y) + 1e-3 * noise[0]


class Manual(Unlike):
    def __init__(self):
        super().__init__()
        self.automatic_optimization = False


class TwoOptimizers(Unlike):
    def configure_optimizers(self):
        return [torch.optim.SGD(self.net[:2].parameters(), lr=0.1), torch.optim.SGD(self.net[2:].parameters(), lr=0.1)]


class Raises(Unlike):
    def training_step(self, batch, batch_idx):
        raise ValueError("shapes do not match")


class NotAModule(nn.Module):
    pass


def shuffled() -> DataLoader:
    """90 samples in batches of 8 (12 batches, the last of 2), shuffled with torch's global RNG."""
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(90, 8, generator=g), torch.randint(0, 3, (90,), generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)


def empty() -> DataLoader:
    return DataLoader(TensorDataset(torch.zeros(0, 8), torch.zeros(0, dtype=torch.long)), batch_size=8)


class Stream(IterableDataset):
    def __iter__(self):
        yield from ((torch.zeros(8), 0) for _ in range(4))


def stream() -> DataLoader:
    return DataLoader(Stream(), batch_size=2)


def not_a_loader():
    return [1, 2, 3]


class Data(pl.LightningDataModule):
    def setup(self, stage):
        self.loader = shuffled()

    def train_dataloader(self):
        return self.loader
