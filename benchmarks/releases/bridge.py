"""Three names the twins use that older Lightning releases spell otherwise, bridged from outside, before the twin is
imported, so that `with_lightning/` stays the lesson written for today's Lightning:

  * `pytorch_lightning.plugins.MixedPrecision` (2.0 calls it `MixedPrecisionPlugin`, same arguments);
  * `pytorch_lightning.seed_everything(..., verbose=False)` (before 2.4 no `verbose`: it only quiets a log line);
  * `Trainer.fit/validate/test(..., weights_only=...)` (before 2.6: no such argument; the benchmarks never resume,
    so no checkpoint is loaded and the argument has nothing to do).
1.9 needs two more (`_one_x`): its precision names, and 2.0's `SIGTERMException`.

Each is called once per run, before the first step or after the last: none runs inside a counted window (the
session's opcode pass charges this file's code to its own component, "bridges", and reports it per step).
"""

from __future__ import annotations

import functools
import inspect

APPLIED: list[str] = []


def apply() -> list[str]:
    """Bridge what this process's Lightning lacks; the list of what was bridged (empty on 2.6)."""
    if APPLIED:
        return APPLIED
    import pytorch_lightning as pl
    import pytorch_lightning.plugins as plugins

    if pl.__version__.startswith("1."):
        _one_x(pl, plugins)
    if not hasattr(plugins, "MixedPrecision") and hasattr(plugins, "MixedPrecisionPlugin"):
        plugins.MixedPrecision = plugins.MixedPrecisionPlugin
        APPLIED.append("pytorch_lightning.plugins.MixedPrecision = MixedPrecisionPlugin")
    if "verbose" not in inspect.signature(pl.seed_everything).parameters:
        seed = pl.seed_everything

        @functools.wraps(seed)
        def seed_everything(seed_value=None, workers=False, verbose=True):
            return seed(seed_value, workers)

        pl.seed_everything = seed_everything
        APPLIED.append("pytorch_lightning.seed_everything(verbose=...) dropped")
    for name in ("fit", "validate", "test"):
        method = getattr(pl.Trainer, name)
        if "weights_only" not in inspect.signature(method).parameters:
            setattr(pl.Trainer, name, _without_weights_only(method))
            APPLIED.append(f"Trainer.{name}(weights_only=...) dropped")
    return APPLIED


PRECISION_1X = {"32-true": 32, "16-mixed": 16, "bf16-mixed": "bf16"}  # 1.x's names for the suite's precisions


def _one_x(pl, plugins) -> None:
    """The note's generation (1.9): its precision names, and 2.0's renamed exception."""
    import pytorch_lightning.utilities.exceptions as exceptions

    if not hasattr(exceptions, "SIGTERMException"):
        exceptions.SIGTERMException = exceptions.ExitGracefullyException
        APPLIED.append("pytorch_lightning.utilities.exceptions.SIGTERMException = ExitGracefullyException")
    init = pl.Trainer.__init__

    @functools.wraps(init)
    def trainer_init(self, *args, precision=32, plugins=None, **kwargs):
        return init(self, *args, precision=PRECISION_1X.get(precision, precision), plugins=plugins, **kwargs)

    pl.Trainer.__init__ = trainer_init
    APPLIED.append("Trainer(precision='32-true' | '16-mixed' | 'bf16-mixed') as 32 | 16 | 'bf16'")
    mixed = plugins.MixedPrecisionPlugin

    class MixedPrecision(mixed):
        def __init__(self, precision, device, scaler=None):
            super().__init__(PRECISION_1X.get(precision, precision), device, scaler)

    plugins.MixedPrecision = MixedPrecision
    APPLIED.append("pytorch_lightning.plugins.MixedPrecision('16-mixed', ...) as MixedPrecisionPlugin(16, ...)")


def _without_weights_only(method):
    @functools.wraps(method)
    def call(self, *args, weights_only=None, **kwargs):
        return method(self, *args, **kwargs)

    return call
