"""Read callgrind's output files: exclusive instruction counts per shared object and per function, and the
layer each belongs to (interpreter, torch's operators, MKL, torch's Python bindings, libc, other).

The format (valgrind's "Callgrind Format Specification"): header lines (`events:`, `summary:`/`totals:`),
then position specifications `ob=`, `fl=`/`fi=`/`fe=`, `fn=` (with name compression: `(id) name` defines
an id, `(id)` reuses it), cost lines `<position> <Ir>` (positions possibly relative: `+n`, `-n`, `*`), and
call specifications `cob=`/`cfi=`/`cfn=` then `calls=<count> <target>` followed by ONE cost line that is
the call's inclusive cost: it is skipped here, so every instruction is counted once, where it executed.
One inclusive cost is kept: the calls into CPython's cyclic garbage collector (GC_ENTRIES), which give what
its collections cost in all, wherever their instructions ran.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

# Layers, in the order the report shows them. A function is matched by its object file's name first,
# then (inside torch's own libraries, which carry MKL/oneDNN statically) by its name.
LAYERS = (
    "interpreter",  # CPython: the eval loop, objects, dicts, calls (libpython or the python binary)
    "torch operators",  # libtorch_cpu, libc10: ATen kernels, the dispatcher, autograd, torch's allocator
    "MKL and OpenMP",  # MKL's BLAS and vector-math kernels (linked into libtorch_cpu), OpenMP, oneDNN
    "torch Python bindings",  # libtorch_python: argument parsing, wrapping tensors as Python objects
    "libc and loader",  # libc (malloc, memset), libm, libstdc++, the dynamic loader (TLS lookups)
    "other native",  # numpy, extension modules, everything else
)
# CPython's cyclic garbage collector: one call per collection (3.11-3.12 `gc_collect_main`, 3.13+
# `gc_collect_region`), never nested (the collector refuses to start while it runs).
GC_ENTRIES = re.compile(r"^(gc_collect_main|gc_collect_region)(\.[a-z0-9.]+)?$")
_MKL_FN = re.compile(r"^(mkl_|MKL|v[sd][a-z]|sgemm|dgemm|cblas_|dnnl|mkldnn|openblas|__kmp|GOMP_|omp_)")


def layer_of(obj: str, fn: str) -> str:
    name = Path(obj).name
    if name.startswith(("libmkl", "libopenblas", "libgomp", "libiomp", "libdnnl", "libblas")):
        return "MKL and OpenMP"
    if name.startswith(("libtorch_cpu", "libc10", "libtorch.so", "libtorch_global_deps")):
        return "MKL and OpenMP" if _MKL_FN.match(fn) else "torch operators"
    if name.startswith("libtorch_python"):
        return "torch Python bindings"
    if name.startswith("libpython") or re.fullmatch(r"python3(\.\d+)?", name):
        return "interpreter"
    if name.startswith(("libc.so", "libc-", "libm.so", "libm-", "libstdc++", "libgcc_s", "ld-linux", "libpthread")):
        return "libc and loader"
    return "other native"


@dataclass
class Profile:
    """One callgrind dump: the total and the exclusive counts per (object, function)."""

    total: int
    by_function: Counter = field(default_factory=Counter)  # (object, function) -> instructions
    gc: int = 0  # instructions inside the cyclic garbage collector's collections (inclusive)

    def by_object(self) -> Counter:
        out: Counter = Counter()
        for (obj, _), n in self.by_function.items():
            out[obj] += n
        return out

    def by_layer(self) -> dict[str, int]:
        out = dict.fromkeys(LAYERS, 0)
        for (obj, fn), n in self.by_function.items():
            out[layer_of(obj, fn)] += n
        return out


_NAMED = re.compile(r"^\((\d+)\)(?: (.*))?$")


def _name(table: dict, spec: str) -> str:
    """Resolve callgrind's name compression: '(7) name' defines id 7, '(7)' refers to it."""
    m = _NAMED.match(spec)
    if not m:
        return spec
    if m.group(2) is not None:
        table[m.group(1)] = m.group(2)
    return table.get(m.group(1), f"({m.group(1)})")


def parse(path: Path) -> Profile:
    """Exclusive instruction counts of one callgrind output file (event Ir, the default and only event)."""
    names: dict[str, dict] = {"ob": {}, "fl": {}, "fn": {}}
    obj = fn = "?"
    total = None
    counts: Counter = Counter()
    skip_next_cost = in_gc = False
    callee = "?"
    gc = 0
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            head = line[0]
            if head.isdigit() or head in "+-*":
                if skip_next_cost:  # the inclusive cost of a call: counted where the callee ran
                    if in_gc:
                        gc += int(line.split()[-1])
                    skip_next_cost = in_gc = False
                    continue
                counts[(obj, fn)] += int(line.split()[-1])
                continue
            key, _, value = line.partition("=")
            if key == "ob":
                obj = _name(names["ob"], value)
            elif key == "fn":
                fn = _name(names["fn"], value)
            elif key in ("fl", "fi", "fe"):
                _name(names["fl"], value)
            elif key in ("cob", "cfi", "cfl", "cfn"):  # the callee of the next calls= line; defines names too
                name = _name(names[{"cob": "ob", "cfn": "fn"}.get(key, "fl")], value)
                if key == "cfn":
                    callee = name
            elif key == "calls":
                skip_next_cost = True
                in_gc = bool(GC_ENTRIES.match(callee)) and not GC_ENTRIES.match(fn)
                callee = "?"
            elif line.startswith(("summary:", "totals:")):
                total = int(line.split()[1])
    if total is None:
        total = sum(counts.values())
    return Profile(total=total, by_function=counts, gc=gc)
