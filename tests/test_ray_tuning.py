"""tune.backend=ray: the same trials and fold scores as the local search, on a real cluster.

The slow test starts a two-node Ray cluster on 127.0.0.1 (a head and one worker, one CPU
each, in their own temporary directory and process groups), runs a random and a grid search
with 3-fold cross-validation on it through the train stage's code, and compares every trial
with the same search run in this process. The fast tests check that an address nobody
answers at fails in one line, naming tune.ray_address, with no fall-back to local Ray.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from imblearn.over_sampling import SMOTE
from threadpoolctl import threadpool_limits

from tabpipe.core.cv import CVObjective, main_metric, prepare_folds, splits
from tabpipe.core.features import build_transformer
from tabpipe.core.ray_backend import CONNECT_TIMEOUT_S, parse_address
from tabpipe.core.training import build_estimator
from tabpipe.core.tuning import parse_space, search
from tabpipe.errors import PipelineError
from tests.test_stage_errors import (  # noqa: F401 (featurized is a fixture)
    assert_one_line_error,
    featurized,
    run_stage,
    set_params,
)

NUMERIC, CATEGORICAL = ["tenure", "charges", "senior"], ["contract"]
# Histogram gradient boosting: its results depend on the thread count, so equal scores
# also show that the tasks ran single-threaded, as the train stage does locally.
MODEL = {
    "_target_": "sklearn.ensemble.HistGradientBoostingClassifier",
    "max_iter": 30,
    "random_state": 0,
}
SPACE = {
    "learning_rate": ["float", 0.03, 0.3, "log"],
    "max_depth": ["int", 2, 5],
    "l2_regularization": ["choice", 0.0, 1.0],
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    return free_port()


def objective(section) -> CVObjective:
    """A 300-row churn-like table, SMOTE and the featurizer inside 3 stratified folds."""
    rng = np.random.default_rng(7)
    n = 300
    y = pd.Series((rng.uniform(size=n) < 0.25).astype(int), name="churn")
    rows = pd.DataFrame(
        {
            "tenure": rng.integers(1, 72, n) - 15 * y,
            "charges": rng.uniform(20, 100, n) + 10 * y,
            "senior": rng.integers(0, 2, n),
            "contract": np.where(y == 1, "m2m", rng.choice(["1y", "2y", "m2m"], n)).astype(str),
        }
    )
    metric = main_metric("auto", "binary")
    folds = prepare_folds(
        rows[NUMERIC + CATEGORICAL],
        y,
        splits(section("cv", folds=3, seed=1), rows, y, "binary"),
        SMOTE(sampling_strategy=0.6, k_neighbors=3, random_state=0),
        build_transformer(section("featurize"), NUMERIC, CATEGORICAL, 0),
        CATEGORICAL,
    )
    build = partial(build_estimator, MODEL, class_weight=None, task="binary")
    return CVObjective(build, folds, metric)


def group_members(pgids: set[int]) -> list[int]:
    """Processes still alive in any of the process groups `pgids`."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rpartition(")")[2].split()
        state, pgid = fields[0], int(fields[2])
        if pgid in pgids and state != "Z":
            alive.append(int(entry.name))
    return alive


def stop_group(process: subprocess.Popen, grace_s: float = 5.0) -> None:
    """SIGTERM the process group `ray start --block` leads (it then stops its Ray processes),
    SIGKILL whatever is left after `grace_s`. Only the groups this test started are touched.

    The grace is short: with Ray 2.60 the head's group never ends on SIGTERM (`ray start`, the
    GCS server and a Python helper were still running 25 s later), so it always ends on SIGKILL,
    and a longer grace only kept the worker idle (a 20 s grace: 21-40 s per teardown)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while group_members({process.pid}) and time.monotonic() < deadline:
        time.sleep(0.2)
    if group_members({process.pid}):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def start_node(args: list[str], log: Path) -> subprocess.Popen:
    ray = shutil.which("ray")
    assert ray, "the ray CLI is not on PATH (uv sync installs it with the dev group)"
    return subprocess.Popen(
        [ray, "start", "--block", "--disable-usage-stats", *args],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: teardown stops exactly these
        # token authentication off on both sides, whatever ~/.ray/auth_token holds: Ray 2.60
        # turns it on for `ray start` when that file exists, but not for a connecting driver
        env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"},
    )


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A head and one worker node on 127.0.0.1, one CPU each; yields the head's address."""
    # short and unique: Ray's Unix socket paths must stay under ~100 characters, and another
    # Ray session on this machine keeps its own /tmp/ray
    temp_dir = Path(tempfile.mkdtemp(prefix="tpray", dir="/tmp"))
    auth_mode = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # this process is the driver (see start_node)
    port = free_port()
    address = f"127.0.0.1:{port}"
    nodes = []
    try:
        nodes.append(
            start_node(
                [
                    "--head",
                    "--node-ip-address=127.0.0.1",
                    f"--port={port}",
                    "--num-cpus=1",
                    "--include-dashboard=false",
                    f"--temp-dir={temp_dir}",
                    f"--ray-client-server-port={free_port()}",
                    f"--dashboard-agent-listen-port={free_port()}",
                ],
                temp_dir / "head.log",
            )
        )
        deadline = time.monotonic() + 60
        while True:
            assert nodes[0].poll() is None, (temp_dir / "head.log").read_text()[-2000:]
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the Ray head did not start in 60 s"
                time.sleep(0.3)
        nodes.append(
            start_node(
                [
                    f"--address={address}",
                    "--node-ip-address=127.0.0.1",
                    "--num-cpus=1",
                    f"--dashboard-agent-listen-port={free_port()}",
                ],
                temp_dir / "worker.log",
            )
        )
        wait_for_nodes(address, 2)
        yield address
    finally:
        for node in reversed(nodes):  # the worker first: it would wait for a gone head
            stop_group(node)
        if auth_mode is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = auth_mode
        leaked = group_members({node.pid for node in nodes})
        shutil.rmtree(temp_dir, ignore_errors=True)
        assert not leaked, f"Ray processes left running: {leaked}"


def wait_for_nodes(address: str, count: int, timeout_s: float = 60.0) -> None:
    """Block until `count` nodes are alive (the worker registers a few seconds after start)."""
    import ray

    ray.init(address=address, logging_level="ERROR", log_to_driver=False)
    try:
        deadline = time.monotonic() + timeout_s
        while sum(node["Alive"] for node in ray.nodes()) < count:
            assert time.monotonic() < deadline, f"fewer than {count} Ray nodes after {timeout_s}s"
            time.sleep(0.5)
    finally:
        ray.shutdown()


def trials(results) -> list[tuple]:
    return [(r.number, r.params, r.scores, r.state, r.error) for r in results]


@pytest.mark.slow
@pytest.mark.parametrize(("method", "n_trials"), [("random", 6), ("grid", None)])
def test_search_on_a_ray_cluster_equals_the_local_search(ray_cluster, section, method, n_trials):
    scored = objective(section)
    space = parse_space(SPACE)
    settings = {"method": method, "n_trials": n_trials, "grid_points": 2, "seed": 5}
    with threadpool_limits(limits=1):  # as the train stage runs the local search
        local = search(space, scored, section("tune", **settings), True, log=lambda _: None)
    lines: list[str] = []
    remote = search(
        space,
        scored,
        section("tune", **settings, backend="ray", ray_address=ray_cluster),
        True,
        log=lines.append,
    )
    assert len(local) == (6 if method == "random" else 8)
    assert all(r.state == "complete" and len(r.scores) == 3 for r in local)
    # every trial: same parameters, same three fold scores, bit for bit
    assert trials(remote) == trials(local)
    assert len({tuple(r.scores) for r in local}) > 1  # the trials did differ
    # each (trial, fold) pair was a task, and both nodes ran some
    assert lines[-1] == f"tune: {3 * len(local)} Ray tasks ran on 2 node(s)"


def test_parse_address_reads_each_form():
    assert parse_address("auto") is None
    assert parse_address("10.0.0.5:6379") == ("10.0.0.5", 6379)
    assert parse_address("ray://head.example:10001") == ("head.example", 10001)
    with pytest.raises(PipelineError, match=r"tune\.ray_address 'head' is not an address"):
        parse_address("head")


@pytest.mark.parametrize("scheme", ["", "ray://"])
def test_unreachable_address_fails_fast_in_one_line(section, scheme):
    address = f"{scheme}127.0.0.1:{closed_port()}"
    cfg = section("tune", method="random", n_trials=3, backend="ray", ray_address=address)
    started = time.monotonic()
    with pytest.raises(PipelineError) as caught:
        search(parse_space(SPACE), lambda _: [0.5], cfg, True, log=lambda _: None)
    elapsed = time.monotonic() - started
    message = str(caught.value)
    assert "\n" not in message
    assert f"tune.ray_address '{address}': cannot reach 127.0.0.1:" in message
    assert "tune.backend=local" in message  # the fix names the way back, nothing falls back
    # Ray's own client would retry for minutes; the check gives up after CONNECT_TIMEOUT_S
    assert elapsed < CONNECT_TIMEOUT_S + 10


def test_select_stage_reports_an_unreachable_cluster(featurized, tmp_path):  # noqa: F811
    workdir = Path(shutil.copytree(featurized, tmp_path / "work"))
    address = f"127.0.0.1:{closed_port()}"
    set_params(workdir, "tune", method="random", n_trials=2, backend="ray", ray_address=address)
    set_params(workdir, "model", _search_={"C": ["float", 0.01, 10, "log"]})
    assert_one_line_error(
        run_stage("select", workdir),
        "error: [select] params.yaml: tune.ray_address",
        f"cannot reach {address}",
        "Fix:",
    )
    assert not (workdir / "models/model.skops").exists()  # no model from a silent local run


def quadratic(params: dict) -> list[float]:
    """A deterministic score with its best near C=1, depth=5; two 'folds'."""
    import math

    value = -(math.log10(params["C"]) ** 2) - (params["depth"] - 5) ** 2 / 10
    return [value - 0.01, value + 0.01]


def test_bayesian_batches_are_reproducible_and_a_batch_of_one_is_the_local_search(section):
    """What the README promises for TPE on Ray, checked on the batch loop Ray uses (no Ray)."""
    from tabpipe.core.tuning import _optuna_search, local_scorer

    space = parse_space({"C": ["float", 0.001, 100, "log"], "depth": ["int", 2, 8]})
    cfg = section("tune", method="bayesian", n_trials=14, n_startup_trials=4, seed=3)

    def run(batch: int | None) -> list[tuple]:
        quiet = lambda _: None  # noqa: E731
        if batch is None:
            return trials(search(space, quadratic, cfg, True, log=quiet))
        return trials(_optuna_search(space, local_scorer(quadratic), batch, cfg, True, "s", quiet))

    sequential = run(None)
    assert run(1) == sequential
    assert run(4) == run(4)
    assert run(4) != sequential  # TPE asked 4 at a time knows less: other trials
    assert run(4)[:4] == sequential[:4]  # the random start-up trials are the same


def test_model_auto_on_ray_equals_the_local_search(section):
    """model=auto's conditional space (families x balancings, warm starts first) on Ray, in
    batches of one, gives the local study's trials and fold scores; each balancing its folds."""
    from tabpipe.core.auto import ConditionalSpace, family_space, warm_starts
    from tabpipe.core.training import build_candidate

    scored = objective(section)
    families = {
        "logistic_regression": {"_target_": "sklearn.linear_model.LogisticRegression", "C": 1.0,
                                "_search_": {"C": ["float", 0.01, 10, "log"]}},
        "hist_gradient_boosting": {**MODEL, "_search_": SPACE},
    }  # fmt: skip
    weights = {"_target_": None, "class_weight": "balanced"}
    balance = {"none": {"_target_": None}, "class_weight": weights}
    spaces = {name: family_space(name, cfg, True) for name, cfg in families.items()}
    warm = warm_starts(families, spaces, list(balance), "binary")
    # two balancings, two fold lists (the second a copy: the scorer puts each list once)
    fold_sets = {"none": scored.folds, "class_weight": list(scored.folds)}
    build = partial(build_candidate, families, balance, "binary")
    auto = CVObjective(build, scored.folds, scored.metric, fold_sets, "balancing")
    space = ConditionalSpace(spaces, list(balance), warm)
    settings = {"method": "bayesian", "n_trials": 6, "n_startup_trials": 2, "seed": 3}
    with threadpool_limits(limits=1):
        local = search(space, auto, section("tune", **settings), True, log=lambda _: None)
    remote = search(
        space,
        auto,
        section("tune", **settings, backend="ray", ray_parallel=1),
        True,
        log=lambda _: None,
    )
    assert [r.params["family"] for r in local[:2]] == list(families)  # the warm starts
    assert local[2].params == {**local[0].params, "balancing": "class_weight"}
    assert trials(remote) == trials(local)
    assert {r.params["family"] for r in local} == set(families)
