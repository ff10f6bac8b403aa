#!/usr/bin/env bash
# One GPU lease's whole device check, as one command: the `run` tool's
#     command: bash benchmarks/clock/gpu_lease.sh    carry: [".whl"]    timeout_s: 600
# (docs/gpu.md, "A GPU lease, step by step"). The machine has no network and lacks nox and mlxtend: `nox -s
# gpu_wheels` puts them, as wheels, in .whl/ here first. Then, there: install the wheels into /tmp/site, run
# `nox --no-venv --no-install -s gpu_check` (or the nox session and arguments given to this script) under a time
# limit that leaves room to pack, and pack what came of it into $OUT, where the tool brings files back from:
#   gpu_lease.log      everything the check printed, with a time for each part;
#   results-cuda.tgz   results/cuda-*/ as it stands after the check (every part saved before a cut included).
# Back here: `tar xzf <files_at>/results-cuda.tgz`, then `nox -s report`, and commit results/ and README.md.
# Without CUDA (try it on the CPU: OUT=/tmp/lease PY=.nox/tests/bin/python bash benchmarks/clock/gpu_lease.sh)
# the check skips every CUDA part and writes nothing to results/; the script still packs and exits 0.
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${OUT:-$PWD/gpu-lease-out}
PY=${PY:-python3}
LIMIT=${GPU_LEASE_LIMIT:-560}  # seconds for the check; the rest of the tool's 600 s packs and sends the files
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
log="$OUT/gpu_lease.log"
start=$(date +%s)
(
  echo "gpu_lease: $(date -u +%FT%TZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown), limit ${LIMIT} s"
  if compgen -G ".whl/*.whl" >/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
      || { echo "gpu_lease: the wheels in .whl/ did not install"; exit 3; }
    export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
  else
    echo "gpu_lease: no .whl/ (run nox -s gpu_wheels here and carry .whl); using the nox already installed, if any"
  fi
  "$PY" -c "import nox" 2>/dev/null || { echo "gpu_lease: nox cannot be imported; carry .whl (nox -s gpu_wheels)"; exit 3; }
  if [ $# -eq 0 ]; then set -- gpu_check; fi
  # -k: the check's own finally blocks run and its finished parts stay saved; KILL only if it ignores TERM
  timeout -k 15 "$LIMIT" "$PY" -m nox --no-venv --no-install -s "$@"
  rc=$?
  [ $rc -eq 124 ] && echo "gpu_lease: cut at the ${LIMIT} s limit; every part saved before it is packed"
  echo "gpu_lease: nox -s $* exit $rc after $(( $(date +%s) - start )) s"
  exit $rc
) >"$log" 2>&1
rc=$?
cuda=$(compgen -G "results/cuda-*" | tr '\n' ' ')
if [ -n "$cuda" ]; then
  # shellcheck disable=SC2086
  tar czf "$OUT/results-cuda.tgz" $cuda
fi
tail -n 25 "$log"
echo "gpu_lease: packed into $OUT: $(ls "$OUT" | tr '\n' ' ')"
exit $rc
