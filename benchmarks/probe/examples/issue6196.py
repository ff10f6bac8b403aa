"""Lightning issue #6196, "Pure PyTorch vs Lightning is faster with CPU small toy example" (2021): an MNIST-sized
autoencoder (784-128-3-128-784, ReLU, MSE, Adam 1e-3) on dummy images in batches of 32, on CPU, with
`self.log("train_loss", loss)` in training_step. Re-typed small: the thread used pl_bolts' DummyDataset of
100,000 samples; here 6,400 random images (200 batches) made once from a seeded generator."""

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset


class LitAutoEncoder(pl.LightningModule):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(28 * 28, 128), nn.ReLU(), nn.Linear(128, 3))
        self.decoder = nn.Sequential(nn.Linear(3, 128), nn.ReLU(), nn.Linear(128, 28 * 28))

    def training_step(self, batch, batch_idx):
        x, _ = batch
        x = x.view(x.size(0), -1)
        x_hat = self.decoder(self.encoder(x))
        loss = F.mse_loss(x_hat, x)
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


def train_dataloader() -> DataLoader:
    g = torch.Generator().manual_seed(6196)
    images = torch.randn(6400, 1, 28, 28, generator=g)
    return DataLoader(TensorDataset(images, torch.zeros(6400, 1)), batch_size=32)
