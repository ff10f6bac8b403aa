"""Lightning issue #8857, "Native PyTorch is faster than PyTorch Lightning (CPU) w/ Simple SGD Logistic
Regression" (2021): one linear layer and a sigmoid, binary cross-entropy, plain SGD, on CPU. Re-typed small, not
the thread's code: 20 features, 3,200 synthetic samples labelled by a fixed hyperplane, batches of 32 shuffled
with torch's global RNG (the probe replays one order on both sides), SGD at lr 0.1, the loss logged."""

import pytorch_lightning as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

FEATURES = 20


class LogisticRegression(pl.LightningModule):
    def __init__(self, input_dim: int = FEATURES, lr: float = 0.1):
        super().__init__()
        self.linear = nn.Linear(input_dim, 1)
        self.lr = lr

    def forward(self, x):
        return torch.sigmoid(self.linear(x))

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = F.binary_cross_entropy(self(x), y)
        self.log("loss", loss)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)


def train_dataloader() -> DataLoader:
    g = torch.Generator().manual_seed(8857)
    x = torch.randn(3200, FEATURES, generator=g)
    w = torch.randn(FEATURES, generator=g)
    y = (x @ w > 0).float().unsqueeze(1)
    return DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True)
