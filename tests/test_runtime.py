"""Process set-up: the BLAS kernels a benchmark's figures are computed with are pinned."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from stream_al.runtime import PINNED_KERNELS, pinned_blas_env

AVX2_FMA = "flags : fpu sse2 avx avx2 fma avx512f"


def test_an_x86_64_machine_with_avx2_and_fma_gets_the_pinned_kernels():
    env = pinned_blas_env({"PATH": "/bin"}, "x86_64", AVX2_FMA)
    assert env == {"PATH": "/bin", "OPENBLAS_CORETYPE": PINNED_KERNELS}


def test_kernels_the_user_named_are_kept():
    assert pinned_blas_env({"OPENBLAS_CORETYPE": "Zen"}, "x86_64", AVX2_FMA) is None


@pytest.mark.parametrize(("machine", "cpuinfo"), [
    ("aarch64", "Features : fp asimd"),
    ("x86_64", "flags : fpu sse2 avx"),  # no AVX2: Haswell's kernels would not run
])
def test_other_machines_are_left_alone(machine, cpuinfo):
    assert pinned_blas_env({}, machine, cpuinfo) is None


@pytest.mark.skipif(platform.machine() != "x86_64"
                    or not {"avx2", "fma"} <= set(Path("/proc/cpuinfo").read_text().split()),
                    reason="pins only on x86-64 with AVX2 and FMA")
def test_a_command_line_main_runs_again_with_the_pinned_kernels(tmp_path):
    (tmp_path / "probe_pin.py").write_text(
        "from stream_al.runtime import run_with_pinned_blas, blas_kernels\n"
        "run_with_pinned_blas('probe_pin')\n"
        "import numpy as np, os, sys\n"
        "np.ones((4, 4)) @ np.ones((4, 4))\n"
        "print(os.environ.get('OPENBLAS_CORETYPE'), blas_kernels(), sys.argv[1:])\n")
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(Path(__file__).parents[1])])
    out = subprocess.run([sys.executable, "-m", "probe_pin", "--x", "1"], env=env,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.split("\n")[0] == f"{PINNED_KERNELS} openblas {PINNED_KERNELS} ['--x', '1']"
