"""Scoring search trials on Ray (`tune.backend=ray`): one task per (trial, fold).

The search itself stays in this process (Optuna, `tabpipe.core.tuning`); only the estimator fits
move out. The prepared folds (`tabpipe.core.cv.prepare_folds`) go into Ray's object store once,
each trial's estimator is built here, and every (trial, fold) pair is fitted and scored by
`tabpipe.core.cv.score_fold` in a task that asks for one CPU and runs one BLAS/OpenMP thread, as
the train stage does locally (`threadpool_limits(1)`): so each fold score is the same number
the local search computes, whichever node ran it.

`import ray` happens only here, and this module is imported only when `tune.backend=ray`:
Ray adds about a second to start-up, which every other run should not pay.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tabpipe import numerics
from tabpipe.core.cv import CVObjective, Fold, Metric, score_fold
from tabpipe.errors import PipelineError

# An address that does not answer within this many seconds is reported, not waited for:
# Ray's own client retries for minutes before it gives up.
CONNECT_TIMEOUT_S = 5.0
FIX = (
    "start the cluster (`ray start --head` on its head node) and check the address, or use "
    "-S tune.ray_address=null to start Ray on this machine, or -S tune.backend=local"
)


def parse_address(address: str) -> tuple[str, int] | None:
    """(host, port) to check before connecting; None for `auto` (Ray finds the cluster)."""
    if address == "auto":
        return None
    rest = address.removeprefix("ray://")
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise PipelineError(
            f"params.yaml: tune.ray_address '{address}' is not an address",
            fix="write host:port (a cluster's GCS port, e.g. 10.0.0.5:6379), "
            "ray://host:port (Ray Client, e.g. ray://10.0.0.5:10001), auto, or null",
        )
    return host.strip("[]"), int(port)


def check_reachable(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> None:
    """Fail in one line when nothing listens at `address`; never fall back to local Ray."""
    target = parse_address(address)
    if target is None:
        return
    try:
        socket.create_connection(target, timeout=timeout_s).close()
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise PipelineError(
            f"params.yaml: tune.ray_address '{address}': cannot reach {target[0]}:{target[1]} "
            f"within {timeout_s:g} s ({reason})",
            fix=FIX,
        ) from None


def first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:300] if text else type(err).__name__


def runtime_env(address: str | None) -> dict[str, Any]:
    """The job's runtime environment: single-threaded tasks, and on a cluster this code.

    On a cluster, `py_modules` uploads this checkout's `tabpipe` package so the nodes run
    exactly the code that the driver runs (they still need the project's dependencies,
    installed from uv.lock; README, "Tuning on Ray").
    """
    # Workers load NumPy before any task runs: the pinned kernels and single threads
    # (tabpipe.numerics) must come with their environment, so fold scores match local ones.
    env: dict[str, Any] = {"env_vars": numerics.pinned_environment()}
    if address is not None:
        env["py_modules"] = [str(Path(__file__).resolve().parents[1])]  # the tabpipe package
    return env


@contextmanager
def session(address: str | None) -> Iterator[None]:
    """Ray connected for the duration: a new local instance (address None) or a cluster."""
    if address is not None:
        check_reachable(address)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no reporting home from a stage
    import ray

    try:
        ray.init(
            address="local" if address is None else address,  # "local": ignore RAY_ADDRESS
            runtime_env=runtime_env(address),
            include_dashboard=False,
            logging_level="ERROR",
            log_to_driver=False,
        )
    except (ConnectionError, ValueError, RuntimeError) as err:
        # Ray wraps the reason (e.g. a cluster with token authentication) in __cause__
        reasons = [first_line(e) for e in (err, err.__cause__) if e is not None]
        raise PipelineError(
            f"params.yaml: tune.ray_address '{address}': cannot connect ({': '.join(reasons)})",
            fix=FIX + "; a cluster with token authentication needs RAY_AUTH_MODE=token and its "
            "token (RAY_AUTH_TOKEN) in the environment",
        ) from None
    try:
        yield
    finally:
        ray.shutdown()


def fit_and_score(estimator, fold: Fold, metric: Metric, classes=None) -> tuple[str, Any, str]:
    """A Ray task's body: ("ok", score, node) or ("error", message, node), as a local trial
    records it; `node` is the Ray node that ran it."""
    import ray
    from threadpoolctl import threadpool_limits

    node = ray.get_runtime_context().get_node_id()
    with threadpool_limits(limits=1):
        try:
            return "ok", score_fold(estimator, fold, metric, classes), node
        except (ValueError, PipelineError) as err:  # parameters the estimator rejects
            return "error", str(err).splitlines()[0][:200], node


@dataclass
class RayScorer:
    """Scores batches of trials of `objective` as Ray tasks; folds are put once."""

    objective: CVObjective
    nodes: set[str] = field(default_factory=set)  # the Ray nodes that ran a task
    tasks: int = 0
    _fold_refs: dict | None = None  # fold set (None: the only one) -> the folds' refs
    _task: Any = None

    def __call__(self, trials: list[dict[str, Any]]) -> list[list[float] | str]:
        """Fold scores of each trial, or its error message, in the order of `trials`."""
        import ray

        if self._fold_refs is None:
            sets = self.objective.fold_sets or {None: self.objective.folds}
            # each distinct list once (balancings without resampling share theirs)
            put: dict[int, list] = {}
            for folds in sets.values():
                put.setdefault(id(folds), [ray.put(fold) for fold in folds])
            self._fold_refs = {key: put[id(folds)] for key, folds in sets.items()}
            # SPREAD: CPU-bound tasks go to every node, not first to where the folds were put
            self._task = ray.remote(num_cpus=1, max_retries=0, scheduling_strategy="SPREAD")(
                fit_and_score
            )
        pending: list[list | str] = []
        for params in trials:
            try:
                estimator = self.objective.build(params)
            except (ValueError, PipelineError) as err:
                pending.append(str(err).splitlines()[0][:200])
                continue
            # the class labels the local search uses (the columns of the predictions)
            classes = self.objective.classes_of(estimator, self.objective.folds_for(params))
            pending.append(
                [
                    self._task.remote(estimator, ref, self.objective.metric, classes)
                    for ref in self._fold_refs[
                        None
                        if self.objective.fold_sets is None
                        else params[self.objective.fold_key]
                    ]
                ]
            )
        out: list[list[float] | str] = []
        for item in pending:
            if isinstance(item, str):
                out.append(item)
                continue
            results = ray.get(item)
            self.tasks += len(results)
            self.nodes.update(node for _, _, node in results)
            errors = [value for status, value, _ in results if status == "error"]
            out.append(errors[0] if errors else [float(value) for _, value, _ in results])
        return out
