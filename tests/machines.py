"""Shell environments of other machines, played on this one (OpenBLAS kernel, threads, NumPy's
SIMD dispatch): the pipeline must write the committed bytes under each of them.

The kernels tried are those this CPU can run, read from its flags: the AVX-512 kernel where it
exists is the one that broke the lock on a fresh machine (FACTS.md). A variant's variables go
only into the environment of the pipeline under test, never into the test runner's.
"""

from __future__ import annotations

from tabpipe import numerics
from tests.dvc_repo import env

FLAGS = numerics.cpu_flags()
PINNED = set(numerics.pinned_environment())


def kernels() -> list[str]:
    """OpenBLAS core types this CPU runs, the most capable first."""
    found = [
        ("SkylakeX", "avx512f"),
        ("Haswell", "avx2"),
        ("Sandybridge", "avx"),
        ("Nehalem", "sse4_2"),
    ]
    return [kernel for kernel, flag in found if flag in FLAGS] or ["Prescott"]


def variants() -> list[dict[str, str | None]]:
    """Shell environments of other machines (None: the variable is unset)."""
    best, *others = kernels()
    conservative = others[-1] if others else best
    return [
        # the machine's own best kernel, many threads, NumPy free to use every SIMD level
        {
            "OPENBLAS_CORETYPE": best,
            "OPENBLAS_NUM_THREADS": "8",
            "OMP_NUM_THREADS": "8",
            "NPY_DISABLE_CPU_FEATURES": None,
            "MKL_NUM_THREADS": "8",
        },
        # an older kernel preset (as some machines do), two threads, dispatch set but empty
        {
            "OPENBLAS_CORETYPE": conservative,
            "OPENBLAS_NUM_THREADS": "2",
            "OMP_NUM_THREADS": "2",
            "NPY_DISABLE_CPU_FEATURES": "",
        },
        # nothing preset but one thread
        {
            "OPENBLAS_CORETYPE": None,
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "NPY_DISABLE_CPU_FEATURES": "AVX512_ICL",
        },
    ]


def with_variant(variant: dict[str, str | None]) -> dict[str, str]:
    out = env()
    for name in PINNED | set(variant):
        out.pop(name, None)
    out.update({k: v for k, v in variant.items() if v is not None})
    return out
