"""Two hosts without a cluster: two network namespaces on this machine, joined by a veth pair, one `torchrun
--nnodes 2` in each, meeting at a c10d rendezvous on the first one's address. Each side's run across the two
"hosts" writes the same metrics.json as the same job on one host (tests/test_ddp.py), to the last bit.

Needs root and `ip` (iproute2); where creating a namespace is not permitted, the test skips with the reason.
The namespaces (and with them the veth pair) are removed on exit, after a failure too. `nox -s two_hosts`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import child_env
from test_ddp import ROOT, TIMEOUT, TINY, run_pair

pytestmark = pytest.mark.ddp


def ip(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", *args], capture_output=True, text=True)


@contextlib.contextmanager
def two_hosts():
    """Two namespaces, their veth ends at 10.77.0.1 and 10.77.0.2: [(namespace, interface, address)] x 2."""
    if shutil.which("ip") is None:
        pytest.skip("needs the ip command (Debian: apt-get install iproute2)")
    tag = f"{os.getpid() % 100000}"
    hosts = [(f"paired-a{tag}", f"pa{tag}", "10.77.0.1"), (f"paired-b{tag}", f"pb{tag}", "10.77.0.2")]
    made = []
    try:
        for ns, _, _ in hosts:
            done = ip("netns", "add", ns)
            if done.returncode != 0:
                pytest.skip(f"cannot create a network namespace here: {done.stderr.strip()}")
            made.append(ns)
        (a_ns, a_if, _), (b_ns, b_if, _) = hosts
        steps = [
            ("link", "add", a_if, "type", "veth", "peer", "name", b_if),
            ("link", "set", a_if, "netns", a_ns),
            ("link", "set", b_if, "netns", b_ns),
        ]
        for ns, iface, addr in hosts:
            steps += [("-n", ns, "addr", "add", f"{addr}/24", "dev", iface), ("-n", ns, "link", "set", iface, "up"),
                      ("-n", ns, "link", "set", "lo", "up")]  # fmt: skip
        for step in steps:
            done = ip(*step)
            assert done.returncode == 0, f"ip {' '.join(step)}: {done.stderr.strip()}"
        yield hosts
    finally:
        for ns in made:  # removing a namespace removes its end of the veth pair, and so the pair
            ip("netns", "del", ns)


def across(hosts, package: str, workload: str, args: list[str], out: Path) -> None:
    """One torchrun per namespace, one process each; the c10d rendezvous store on the first host."""
    endpoint = f"{hosts[0][2]}:29400"
    procs = []
    for i, (ns, iface, addr) in enumerate(hosts):
        cmd = ["ip", "netns", "exec", ns, sys.executable, "-m", "torch.distributed.run", "--nnodes", "2",
               "--nproc-per-node", "1", "--rdzv-backend", "c10d", "--rdzv-endpoint", endpoint, "--rdzv-id",
               f"paired-{package}", "--rdzv-conf", f"is_host={str(i == 0).lower()}", "--local-addr", addr,
               "-m", f"{package}.{workload}", *args, "--no-progress-bar", "--out", str(out)]  # fmt: skip
        env = child_env(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", GLOO_SOCKET_IFNAME=iface)
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env))
    try:
        errors = [proc.communicate(timeout=TIMEOUT)[1] for proc in procs]  # both hosts, to the end
    finally:  # a hang or a failed assertion above: no torchrun is left behind
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for proc, err in zip(procs, errors, strict=True):
        assert proc.returncode == 0, err[-3000:]


def test_two_hosts_match_one_host(tmp_path):
    """The autoencoder, 32-true, 2 epochs of 4 steps on each of 2 ranks: on two "hosts", then on one."""
    one_raw, one_lit = run_pair(tmp_path / "one-host", "autoencoder", TINY)
    with two_hosts() as hosts:
        for package, impl, one in (("raw_torch", "raw", one_raw), ("with_lightning", "lightning", one_lit)):
            out = tmp_path / "two-hosts" / impl
            out.parent.mkdir(parents=True, exist_ok=True)
            across(hosts, package, "autoencoder", TINY, out)
            two = json.loads((out / "metrics.json").read_text())
            assert two == one  # every field, impl included: the same side on one host and on two
            assert two["world_size"] == 2
