"""One set of numeric kernels on every x86-64 machine, so every output is the same bit for bit.

Two libraries choose code paths by CPU at load time, and both change the last bits of results:
- OpenBLAS (bundled with NumPy and SciPy) picks a kernel per CPU: SkylakeX (AVX-512) on one
  machine, Haswell (AVX2) on another. Their float sums differ around the 12th digit, enough to
  change a logistic regression's coefficients and so the model file's hash.
- NumPy's own SIMD loops (`np.log`, sorting, reductions) dispatch by CPU feature as well.
Thread counts matter too: BLAS and OpenMP split sums across threads in a machine-dependent way.

`pin()` runs from `tabpipe/__init__.py`, so before any stage, CLI command or test imports NumPy.
It *overrides* whatever the shell exports: a user's `OPENBLAS_CORETYPE=SkylakeX` or
`OMP_NUM_THREADS=8` must not change the bytes. Both libraries read these variables once, when
they load, so a process that imported NumPy before tabpipe keeps what it had (`check()` says so).

The kernel is Haswell's AVX2 + FMA, which every x86-64 CPU of the last ten years runs (Intel
since 2013, AMD since 2015); on a CPU without them, or not on x86-64, the libraries keep their
own choice and `tabpipe verify` reports outputs as equal within tolerance rather than identical.
`TABPIPE_NUMERICS=native` switches the pinning off (faster BLAS on big tables, other bytes).
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys

KERNEL = "Haswell"
# NumPy 2.4's names of the dispatch targets above AVX2 (X86_V3): AVX-512 in three groups.
# Disabling one the CPU lacks is accepted silently.
NUMPY_ABOVE_AVX2 = "X86_V4 AVX512_ICL AVX512_SPR"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
OFF_SWITCH = "TABPIPE_NUMERICS"


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (Linux); empty where it cannot be read."""
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            for line in info:
                if line.startswith("flags"):
                    return set(line.partition(":")[2].split())
    except OSError:
        pass
    return set()


def pinned_environment(machine: str | None = None, flags: set[str] | None = None) -> dict[str, str]:
    """The variables `pin()` sets on this machine (or on the one described)."""
    machine = (machine or platform.machine()).lower()
    values = {name: "1" for name in THREAD_VARIABLES}
    if machine in ("x86_64", "amd64"):
        flags = cpu_flags() if flags is None else flags
        if {"avx2", "fma"} <= flags or not flags:  # unreadable flags: macOS/Windows x86-64
            values["OPENBLAS_CORETYPE"] = KERNEL
            values["NPY_DISABLE_CPU_FEATURES"] = NUMPY_ABOVE_AVX2
            values["ARROW_USER_SIMD_LEVEL"] = "AVX2"
    return values


def pin() -> None:
    """Set the pinned variables in this process's environment (children inherit them)."""
    if os.environ.get(OFF_SWITCH) == "native":
        return
    os.environ.update(pinned_environment())


def check() -> str | None:
    """None when the pinning is in force in this process; otherwise why it is not."""
    if os.environ.get(OFF_SWITCH) == "native":
        return f"{OFF_SWITCH}=native: numeric kernels are the machine's own"
    missing = [k for k, v in pinned_environment().items() if os.environ.get(k) != v]
    if missing:
        return f"not pinned: {', '.join(missing)}"
    if "numpy" in sys.modules and "OPENBLAS_CORETYPE" in pinned_environment():
        from threadpoolctl import threadpool_info

        kernels = {i.get("architecture") for i in threadpool_info() if i["user_api"] == "blas"}
        if kernels - {KERNEL}:
            return f"NumPy was loaded before tabpipe: BLAS kernel {', '.join(map(str, kernels))}"
    return None


def describe() -> dict[str, str]:
    """What produced this process's numbers: CPU, BLAS kernel and threads, library versions.

    Loads NumPy (and threadpoolctl) to ask them; call it from a command, never from a stage
    before its work is done."""
    import importlib.metadata as metadata

    import numpy
    import scipy.linalg  # noqa: F401  (SciPy bundles its own OpenBLAS: report it too)
    from threadpoolctl import threadpool_info

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as info:
            cpu = next((ln.partition(":")[2].strip() for ln in info if "model name" in ln), cpu)
    except OSError:
        pass
    flags = cpu_flags()
    simd = [f for f in ("avx512f", "avx2", "fma", "neon", "asimd") if f in flags]
    blas = [
        f"{i.get('internal_api')} {i.get('version')} kernel {i.get('architecture')} "
        f"{i.get('num_threads')} thread(s)"
        for i in threadpool_info()
        if i["user_api"] == "blas"
    ]
    # "X86_V3*": AVX2 loops in use; "X86_V4?": compiled in, disabled or absent
    dispatch = numpy.lib._utils_impl._opt_info() if hasattr(numpy.lib, "_utils_impl") else ""
    versions = {}
    for package in VERSIONED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[package] = metadata.version(package)
    return {
        "machine": f"{platform.system()} {platform.machine()}, {cpu}",
        "cpu features": ", ".join(simd) or "unknown",
        "pinning": check() or "on (Haswell kernel, 1 thread, NumPy dispatch up to AVX2)",
        "blas": "; ".join(sorted(set(blas))) or "none loaded",
        "numpy dispatch": str(dispatch),
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


# the libraries whose versions decide the bytes (uv.lock pins them)
VERSIONED = ("numpy", "scipy", "scikit-learn", "lightgbm", "imbalanced-learn", "pandas", "pyarrow")
