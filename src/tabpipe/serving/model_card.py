"""A model card (Markdown) written beside the model, from the run's own records.

Everything in it is read from files the pipeline wrote or DVC records: params.yaml, dvc.lock
(content hashes), metrics/*.json, data/clean/columns.json and the registry's Git tags. The
card says where the data came from and which version of it, how many rows of each class,
the parameters, the test metrics and the decision threshold, what the model is for and where
it stops being trustworthy.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tabpipe import io
from tabpipe.core.metrics import class_weights_of


def _read_json(path: Path) -> Any:
    return io.read_json(path) if Path(path).exists() else None


def file_md5(path: Path) -> str | None:
    """The md5 dvc.lock would record for `path`, or None when it is missing."""
    return io.file_digest(path, "md5") if Path(path).exists() else None


def _git_head(root: Path) -> str | None:
    result = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True)
    return result.stdout.strip() if result.returncode == 0 else None


def registry_state(root: Path, artifact: str, commit: str | None) -> dict[str, Any]:
    """The registered version of `commit` and the stages it is in (empty when unregistered)."""
    if commit is None:
        return {}
    try:
        from gto import api

        for row in api.show(str(root), artifact):
            if row.get("commit_hexsha") == commit and row.get("registrations"):
                stages = [s["stage"] for s in row.get("stages", []) if s.get("is_active")]
                return {"version": row["version"], "stages": stages}
    except Exception:  # not a Git repository, no tags, or GTO cannot read them: unregistered
        return {}
    return {}


def estimator_name(choice: dict | None, params: dict) -> str | None:
    """What train fitted: select's choice (data/select/choice.json), an ensemble with its
    members' weights; the configured model's class when there is no choice file."""
    if not choice:
        return (params.get("model") or {}).get("_target_")
    if "members" in choice:
        members = ", ".join(
            f"{m['model']['_target_']} ({m['weight']:.2f})" for m in choice["members"]
        )
        return f"weighted ensemble of {members}"
    return choice["model"].get("_target_")


def facts(root: Path = Path(".")) -> dict[str, Any]:
    """What the card and the service's /metadata report, gathered from the run's records."""
    import yaml

    from tabpipe.config import load_params

    root = Path(root)
    params = load_params(root / io.PARAMS)
    lock_path = root / io.LOCK
    lock = yaml.safe_load(lock_path.read_text(encoding="utf-8")) if lock_path.exists() else {}
    registry = params.get("registry", {})
    artifact = registry.get("artifact", "model")
    model_md5 = file_md5(root / io.MODEL)
    commit = _git_head(root)
    # a version belongs to a commit: claim it only if the model file is the one HEAD records
    lock_model = io.locked_md5(lock or {}, io.MODEL.as_posix())
    state = registry_state(root, artifact, commit) if model_md5 == lock_model else {}
    return {
        "artifact": artifact,
        "model": {
            "path": io.MODEL.as_posix(),
            "md5": model_md5,
            "estimator": estimator_name(_read_json(root / io.CHOICE), params),
            "commit": commit,
            "matches_dvc_lock": model_md5 is not None and model_md5 == lock_model,
            **state,
        },
        "data": {
            "source": params.get("data", {}),
            "raw_md5": io.locked_md5(lock or {}, io.RAW.as_posix()),
            "clean_md5": io.locked_md5(lock or {}, io.CLEAN.as_posix()),
        },
        "params": {k: params.get(k) for k in ("clean", "split", "balance", "featurize", "model")},
        "columns": _read_json(root / io.COLUMNS),
        "reports": {
            "fetch": _read_json(root / io.FETCH_REPORT),
            "clean": _read_json(root / io.CLEAN_REPORT),
            "split": _read_json(root / io.SPLIT_REPORT),
            "balance": _read_json(root / io.BALANCE_REPORT),
        },
        "metrics": _read_json(root / io.EVALUATE_METRICS) or {},
        "evaluate": params.get("evaluate", {}),
        "onnx": (root / io.MODEL_ONNX).exists(),
    }


def _table(rows: list[tuple], head: tuple) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4f}"
    return f"`{v}`" if v not in (None, "") else "-"


def render(info: dict[str, Any]) -> str:
    """The card as Markdown."""
    model, data, reports = info["model"], info["data"], info["reports"]
    columns = info.get("columns") or {}
    metrics = info.get("metrics") or {}
    test = metrics.get("test", {})
    source = data["source"]
    target = columns.get("target", source.get("target"))
    positive = columns.get("positive_label")
    version = model.get("version")
    title = f"{info['artifact']} {version}" if version else f"{info['artifact']} (unregistered)"
    stages = ", ".join(model.get("stages") or []) or "none"
    origin = " / ".join(str(source.get(k)) for k in ("source", "package", "name") if source.get(k))

    out = [f"# Model card: {title}", ""]
    out.append(
        _table(
            [
                ("Model file", f"`{model['path']}` (skops; load with `tabpipe.io.load_model`)"),
                ("Model md5", _value(model.get("md5"))),
                ("Estimator", _value(model.get("estimator"))),
                ("Git commit (HEAD)", _value((model.get("commit") or "")[:12] or None)),
                (
                    "Model file is HEAD's (dvc.lock)",
                    "yes" if model.get("matches_dvc_lock") else "no",
                ),
                ("Registry", f"version {version}, stages: {stages}" if version else "unregistered"),
                ("ONNX export", "`models/model.onnx`" if info.get("onnx") else "not exported"),
            ],
            ("", ""),
        )
    )

    out += ["", "## Data", ""]
    clean = reports.get("clean") or {}
    out.append(f"- Source: {origin} (`data.*` in params.yaml)")
    out.append(f"- Raw data md5 (dvc.lock, `{io.RAW.as_posix()}`): {_value(data.get('raw_md5'))}")
    out.append(f"- Cleaned data md5 (`{io.CLEAN.as_posix()}`): {_value(data.get('clean_md5'))}")
    if clean:
        dropped = {k: v for k, v in clean.items() if k.startswith("dropped_") and v}
        note = ", ".join(
            f"{k.removeprefix('dropped_').replace('_', ' ')}: {v}" for k, v in dropped.items()
        )
        out.append(
            f"- Rows: {clean.get('rows_in')} raw, {clean.get('rows_out')} after cleaning"
            + (f" (dropped {note})" if note else "")
        )
    if target is not None:
        out.append(f"- Target: `{target}`; positive class: `{positive}` (encoded 1)")
    split = reports.get("split") or {}
    if split:
        out += ["", "Class balance per split (the test split is used once, by evaluate):", ""]
        out.append(
            _table(
                [
                    (name, part.get("rows"), f"{100 * part.get('positive_rate', 0):.1f} %")
                    for name, part in split.items()
                ],
                ("split", "rows", f"share of {positive}"),
            )
        )
    balance = reports.get("balance") or {}
    if balance:
        names = {"0": columns.get("negative_label"), "1": positive}

        def counts(rows: dict) -> str:
            return ", ".join(f"{names.get(k) or k} {v}" for k, v in rows.items())

        out += [
            "",
            f"Training rows after resampling ({balance.get('resampler')}, training split only): "
            f"{counts(balance.get('before', {}))} -> {counts(balance.get('after', {}))}.",
        ]

    out += ["", "## Inputs", ""]
    if columns:
        out.append(f"- Numeric: {', '.join(f'`{c}`' for c in columns.get('numeric', []))}")
        out.append(f"- Categorical: {', '.join(f'`{c}`' for c in columns.get('categorical', []))}")
        ids = ", ".join(f"`{c}`" for c in columns.get("id_columns", [])) or "-"
        out.append(f"- Id columns (passed through, not used): {ids}")

    out += ["", "## Parameters", ""]
    for section, values in info["params"].items():
        if isinstance(values, dict) and values:
            flat = ", ".join(f"{k}={v}" for k, v in values.items())
            out.append(f"- `{section}`: {flat}")

    out += ["", "## Test metrics", ""]
    if test:
        rows = [
            (k, f"{v:.4f}") for k, v in test.items() if k != "threshold" and not isinstance(v, dict)
        ]
        out.append(_table(rows, ("metric", "test")))
    else:
        out.append("No metrics: run `make run`.")

    threshold = test.get("threshold")
    criterion = info.get("evaluate", {}).get("threshold_metric", "f1")
    weights = class_weights_of(test)
    if weights:  # multiclass
        out += ["", "## Decision rule", ""]
        if all(w == 1.0 for w in weights.values()):
            out.append(
                "A row is labelled with its likeliest class: class weights chosen for "
                f"{criterion} on the out-of-fold predictions of the select stage's "
                "cross-validation did not raise it on held-out folds, so none are applied."
            )
        else:
            shown = ", ".join(f"`{label}` x{w:g}" for label, w in weights.items())
            out.append(
                f"A row is labelled with the class of highest probability times its weight "
                f"({shown}). The weights maximise {criterion} on the out-of-fold predictions "
                "of the select stage's cross-validation (never on test rows), and are used "
                "because they raised it on held-out folds; the test metrics above are "
                "measured with them."
            )
    else:
        out += ["", "## Decision threshold", ""]
    if threshold is not None:
        out.append(
            f"A row is labelled `{positive}` when its probability is at least **{threshold:.4f}**. "
            f"The threshold maximises {criterion} on the out-of-fold predictions of the select "
            "stage's cross-validation (never on test rows); the test metrics above are measured "
            "at it."
        )

    train_rate = (split.get("train") or {}).get("positive_rate")
    after = balance.get("after") or {}
    resampled_rate = after.get("1", 0) / max(1, sum(after.values())) if after else None
    out += ["", "## Intended use", ""]
    out.append(
        f"Rank rows like the training data (same columns, same categories) by the probability "
        f"that `{target}` is `{positive}`, and flag those above the threshold, e.g. to choose "
        "whom to contact first. Score files with `make predict`, or requests with `make serve`."
    )
    out += ["", "## Known limits", ""]
    limits = [
        f"Trained on one snapshot ({origin}); rows from another population or period may score "
        "worse than the test metrics say. Check the metrics on recent labelled rows before use.",
        "A category the model never saw is rejected (batch: rejects file; HTTP: 422), not guessed.",
        "Inputs include personal attributes if the data has them; performance has not been "
        "checked per group, so do not use the scores for decisions about individuals without "
        "such a check.",
        "The score is an association, not a cause: it does not say what would change an outcome.",
    ]
    if train_rate is not None and resampled_rate is not None and resampled_rate > train_rate + 0.01:
        limits.insert(
            1,
            f"The model was fitted on resampled rows ({100 * resampled_rate:.1f} % `{positive}` "
            f"instead of {100 * train_rate:.1f} %), so its probabilities overstate the rate of "
            f"`{positive}`; use them to rank and with the threshold, or recalibrate them first.",
        )
    out += [f"- {item}" for item in limits]
    return "\n".join(out) + "\n"


def write_card(path: Path = io.MODEL_CARD, root: Path = Path(".")) -> Path:
    text = render(facts(root))
    return io.write_text(text, Path(root) / path)
