"""Which part of the training stack a Python function belongs to, from the file (and for one file, the
function) that holds its code. The rules, in order; the first that matches wins:

  RULES below map a path fragment (or `path:function`) to a component (and the probe's `user_code` file
  to "model forward and loss"). The standard library,
  `lightning_utilities`, `typing_extensions`, nn.Module's `__getattr__`/`__setattr__` and torch's grad-mode
  decorators are neutral (_NEUTRAL): their work belongs to whoever called them (the nearest caller that is
  not neutral), so `contextlib.__enter__` under Lightning's profiler counts as the profiler, and Lightning
  reading its module's attributes counts as Lightning. What matches nothing is "other Python".
"""

from __future__ import annotations

import os
import sysconfig

# (path fragment, component), first match wins. Paths use "/" and are matched anywhere in the file name.
RULES = (
    ("/benchmarks/probe/plain.py", "raw loop"),  # the probe's plain loop (python -m benchmarks.probe)
    ("/benchmarks/probe/examples/", "model forward and loss"),  # the probe's shipped LightningModules
    ("/benchmarks/releases/bridge.py", "bridges to older Lightning releases' names"),  # nox -s releases
    ("/benchmarks/", "measurement (the window wrapper)"),
    ("/with_lightning/trainer.py", "our callbacks (History, RunState)"),
    ("/with_lightning/", "model forward and loss"),  # the LightningModule's steps
    ("/raw_torch/loop.py", "raw loop"),
    ("/raw_torch/common/", "raw loop"),  # run state, checks the raw loop calls inline
    ("/raw_torch/", "model forward and loss"),  # the workloads' compute_loss, the shared models
    ("/pytorch_lightning/core/module.py:log", "Lightning: self.log and results"),  # log, log_dict, logger
    ("/pytorch_lightning/core/module.py:__to_tensor", "Lightning: self.log and results"),
    ("/pytorch_lightning/core/module.py:__check_", "Lightning: self.log and results"),
    ("/pytorch_lightning/trainer/connectors/logger_connector/", "Lightning: self.log and results"),
    ("/pytorch_lightning/loops/optimization/", "Lightning: optimizer closure, strategy, precision"),
    ("/pytorch_lightning/core/optimizer.py", "Lightning: optimizer closure, strategy, precision"),
    ("/pytorch_lightning/strategies/", "Lightning: optimizer closure, strategy, precision"),
    ("/pytorch_lightning/plugins/", "Lightning: optimizer closure, strategy, precision"),
    ("/pytorch_lightning/accelerators/", "Lightning: optimizer closure, strategy, precision"),
    ("/lightning_fabric/strategies/", "Lightning: optimizer closure, strategy, precision"),
    ("/lightning_fabric/plugins/", "Lightning: optimizer closure, strategy, precision"),
    ("/lightning_fabric/accelerators/", "Lightning: optimizer closure, strategy, precision"),
    ("/pytorch_lightning/loops/fetchers.py", "Lightning: data fetcher"),
    ("/pytorch_lightning/utilities/combined_loader.py", "Lightning: data fetcher"),
    # where 1.x kept them (nox -s releases counts 1.9.5 with the same rules): the fetcher, the combined loader, the
    # running loss, progress counters, the trainer's state enums, the batch transfer
    ("/pytorch_lightning/utilities/fetching.py", "Lightning: data fetcher"),
    ("/pytorch_lightning/utilities/auto_restart.py", "Lightning: data fetcher"),
    ("/pytorch_lightning/trainer/supporters.py:append", "Lightning: loops and progress tracking"),
    ("/pytorch_lightning/trainer/supporters.py", "Lightning: data fetcher"),
    ("/pytorch_lightning/trainer/progress.py", "Lightning: loops and progress tracking"),
    ("/pytorch_lightning/trainer/states.py", "Lightning: Trainer state and properties"),
    ("/pytorch_lightning/utilities/apply_func.py", "Lightning: batch transfer to the device"),
    # the same in every release: small helpers the step calls, each to the part it serves
    ("/pytorch_lightning/trainer/connectors/data_connector.py", "Lightning: data fetcher"),
    ("/pytorch_lightning/core/module.py:trainer", "Lightning: Trainer state and properties"),
    ("/pytorch_lightning/utilities/enums.py", "Lightning: Trainer state and properties"),
    ("/pytorch_lightning/core/module.py:clip_gradients", "Lightning: optimizer closure, strategy, precision"),
    ("/pytorch_lightning/core/module.py:backward", "Lightning: optimizer closure, strategy, precision"),
    ("/pytorch_lightning/core/module.py:automatic_optimization", "Lightning: optimizer closure, strategy, precision"),
    ("/pytorch_lightning/utilities/memory.py:recursive_detach", "Lightning: optimizer closure, strategy, precision"),
    ("/pytorch_lightning/utilities/model_helpers.py:is_overridden", "Lightning: hook dispatch"),
    ("/pytorch_lightning/loops/", "Lightning: loops and progress tracking"),
    ("/pytorch_lightning/trainer/call.py", "Lightning: hook dispatch"),
    ("/pytorch_lightning/trainer/trainer.py:_call_", "Lightning: hook dispatch"),  # 1.x: trainer.py held them
    ("/pytorch_lightning/core/hooks.py", "Lightning: hook dispatch"),
    ("/pytorch_lightning/callbacks/callback.py", "Lightning: hook dispatch"),
    ("/pytorch_lightning/profilers/", "Lightning: profiler (PassThroughProfiler)"),
    ("/pytorch_lightning/utilities/signature_utils.py", "Lightning: hook signature checks (inspect)"),
    ("/lightning_fabric/utilities/apply_func.py", "Lightning: batch transfer to the device"),
    ("/pytorch_lightning/core/module.py:_apply_batch_transfer_handler", "Lightning: batch transfer to the device"),
    ("/pytorch_lightning/core/module.py:_call_batch_hook", "Lightning: batch transfer to the device"),
    ("/pytorch_lightning/trainer/trainer.py", "Lightning: Trainer state and properties"),
    ("/pytorch_lightning/callbacks/progress/", "progress bar"),
    ("/pytorch_lightning/callbacks/", "Lightning: other callbacks (checkpoint, summary)"),
    ("/pytorch_lightning/", "Lightning: other"),
    ("/lightning_fabric/", "Lightning: other"),
    ("/torchmetrics/", "Lightning: self.log and results"),  # self.log's results are torchmetrics Metrics
    ("/tqdm/", "progress bar"),
    ("/torch/cuda/__init__.py", "CUDA availability check (NVML, every optimizer step)"),
    ("/torch/accelerator/", "CUDA availability check (NVML, every optimizer step)"),
    ("/torch/utils/tensorboard/", "TensorBoard writer"),
    ("/tensorboard/", "TensorBoard writer"),
    ("/torch/utils/data/", "DataLoader"),
    ("/torch/nn/", "model forward and loss"),
    ("/torch/optim/", "optimizer and GradScaler (Python)"),
    ("/torch/amp/", "optimizer and GradScaler (Python)"),
    ("/torch/", "other torch Python (autograd, tensor methods)"),
)
COMPONENTS = tuple(dict.fromkeys(c for _, c in RULES)) + ("other Python",)

_STDLIB = tuple(
    os.path.normpath(p) + os.sep for p in {sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"]}
)
# Neutral too: nn.Module's attribute machinery (Lightning reads and sets its own module's attributes through
# it all the time: `_current_fx_name` at every hook call, which asks Parameter's Python metaclass whether the
# value is a Parameter), and torch's grad-mode decorators, which belong to the function they wrap.
_NEUTRAL = (
    "/lightning_utilities/",
    "/typing_extensions.py",
    "<frozen ",
    "<string>",
    "/torch/nn/modules/module.py:__getattr__",
    "/torch/nn/modules/module.py:__setattr__",
    "/torch/nn/parameter.py:__instancecheck__",  # nn.Module.__setattr__ asks isinstance(value, Parameter)
    "/torch/utils/_contextlib.py",
    "/torch/autograd/grad_mode.py",
)
_cache: dict = {}
_user_files: set[str] = set()


def user_code(filename: str) -> None:
    """The probe's user module: its file counts as "model forward and loss", wherever it lives."""
    _user_files.add(os.path.realpath(filename))
    _cache.clear()


def classify(filename: str, function: str) -> str | None:
    """The component of one function's code, or None if it is neutral (belongs to its caller)."""
    if _user_files and os.path.realpath(filename) in _user_files:
        return "model forward and loss"
    path = filename.replace(os.sep, "/")
    where = f"{path}:{function}"
    if "/site-packages/" not in path and (filename.startswith(_STDLIB) or path.startswith("<frozen ")):
        return None
    if any(n in where for n in _NEUTRAL):
        return None
    for fragment, component in RULES:
        if fragment in where:
            return component
    return "other Python"


def component_of(frame) -> str:
    """The component that one executing frame's work is charged to (walking up past neutral code)."""
    while frame is not None:
        code = frame.f_code
        found = _cache.get(code, 0)
        if found == 0:
            found = _cache[code] = classify(code.co_filename, code.co_name)
        if found is not None:
            return found
        frame = frame.f_back
    return "other Python"
