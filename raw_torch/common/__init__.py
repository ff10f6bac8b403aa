"""What both sides share: the run settings, the data, the model, the result record, checkpoint files,
the run state a checkpoint carries, and the command line.

Lightning trains plain PyTorch's model on plain PyTorch's data, so these live on the raw side; they are
not the lesson. The lesson, the hand-written loop a reader compares with Lightning, is the rest of
`raw_torch/`: `loop.py`, `minimal.py`, `autoencoder.py`, `evaluate.py`.

The import rule (tests/test_boundaries.py enforces it):
  raw_torch/common/   imports neither Lightning nor the lesson
  raw_torch/          the lesson: imports common/, never Lightning
  with_lightning/     imports common/, never the lesson
"""
