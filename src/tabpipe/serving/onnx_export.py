"""Export the inference pipeline to ONNX (skl2onnx) and check it against scikit-learn.

The ONNX model takes one input per training column (numbers as float64, categories as
strings; a missing category is the empty string, since ONNX strings cannot be NaN) and outputs
`label` and `probabilities`. Three things keep ONNX Runtime's probabilities within 1e-5 of
scikit-learn's, where skl2onnx's defaults do not:

- Numbers stay float64 end to end. skl2onnx's imputer runs in float32 only (ONNX Runtime has
  no float64 `Imputer`), so numeric imputation is exported as `Where(IsNaN(x), median, x)`.
- Tree thresholds are stored as float64 tensors (ai.onnx.ml opset 3). skl2onnx writes them as
  float32 attributes, which sends rows near a threshold down the wrong branch (max error 0.22
  on the test split with histogram gradient boosting, 0.012 with the random forest).
- scikit-learn's trees (not the histogram ones) compare `float32(x) <= threshold`; the export
  casts the features through float32 in front of them to compare the same numbers.
- featurize.bins' KBinsDiscretizer is exported as float64 comparisons with its bin edges
  (skl2onnx's converter compares in float32, so a value at an edge could change bins).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from tabpipe.errors import PipelineError

TOLERANCE = 1e-5
OPSET = {"": 17, "ai.onnx.ml": 3}
# Models of conf/model/ that skl2onnx cannot export, with the reason (the README lists them).
UNSUPPORTED_MODELS: dict[str, str] = {
    "lightgbm": "LightGBM needs onnxmltools' converter, which is not installed",
    "linear_boost": "a tabpipe stack of logistic regression and LightGBM: no converter",
}


class NanFill(TransformerMixin, BaseEstimator):
    """Export-only stand-in for a fitted numeric SimpleImputer: NaN -> the learned value."""

    def __init__(self, values=None):
        self.values = values

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        X = np.array(X, dtype="float64")
        missing = np.isnan(X)
        X[missing] = np.broadcast_to(np.asarray(self.values, dtype="float64"), X.shape)[missing]
        return X


class Float32Round(TransformerMixin, BaseEstimator):
    """Export-only: round features through float32, as scikit-learn's trees do before comparing."""

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        return np.asarray(X, dtype=np.float32).astype(np.float64)


class OneHotBins(TransformerMixin, BaseEstimator):
    """Export-only stand-in for a fitted one-hot KBinsDiscretizer, in float64.

    `inner_edges[j]` are column j's edges without the outer two; a value's bin is the number
    of inner edges <= it (scikit-learn's `searchsorted(..., side="right")`).
    """

    def __init__(self, inner_edges=None):
        self.inner_edges = inner_edges

    def fit(self, X, y=None):
        return self

    def transform(self, X):
        X = np.asarray(X, dtype="float64")
        blocks = []
        for j, edges in enumerate(self.inner_edges):
            index = np.searchsorted(edges, X[:, j], side="right")
            blocks.append((index[:, None] == np.arange(len(edges) + 1)).astype("float64"))
        return np.hstack(blocks)


_REGISTERED = False


def _register() -> None:
    """Converters for the two stand-ins, float64 thresholds for tree ensembles, and a float64
    soft vote for model=auto's ensembles."""
    global _REGISTERED
    if _REGISTERED:
        return
    from onnx import numpy_helper
    from skl2onnx import update_registered_converter
    from skl2onnx.algebra.onnx_ops import (
        OnnxCast,
        OnnxConcat,
        OnnxGreaterOrEqual,
        OnnxIsNaN,
        OnnxSlice,
        OnnxSub,
        OnnxWhere,
    )
    from skl2onnx.common._apply_operation import apply_cast
    from skl2onnx.common.data_types import DoubleTensorType, FloatTensorType, guess_numpy_type
    from skl2onnx.operator_converters.random_forest import (
        convert_sklearn_random_forest_classifier,
    )
    from skl2onnx.operator_converters.voting_classifier import convert_voting_classifier
    from skl2onnx.proto import onnx_proto
    from skl2onnx.shape_calculators.ensemble_shapes import (
        calculate_tree_classifier_output_shapes,
    )
    from skl2onnx.shape_calculators.linear_classifier import (
        calculate_linear_classifier_output_shapes,
    )
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
        VotingClassifier,
    )

    DOUBLE = onnx_proto.TensorProto.DOUBLE

    def nan_fill_shape(operator) -> None:
        width = len(operator.raw_operator.values)
        operator.outputs[0].type = operator.inputs[0].type.__class__([None, width])

    def nan_fill_convert(scope, operator, container) -> None:
        x = operator.inputs[0]
        fill = np.asarray(operator.raw_operator.values, dtype=guess_numpy_type(x.type))
        node = OnnxWhere(
            OnnxIsNaN(x, op_version=container.target_opset),
            fill.reshape(1, -1),
            x,
            op_version=container.target_opset,
            output_names=operator.outputs[:1],
        )
        node.add_to(scope, container)

    def bins_shape(operator) -> None:
        width = sum(len(edges) + 1 for edges in operator.raw_operator.inner_edges)
        operator.outputs[0].type = operator.inputs[0].type.__class__([None, width])

    def bins_convert(scope, operator, container) -> None:
        # per column: at_least[k] = x >= inner edge k; bin k = at_least[k-1] - at_least[k]
        # (with at_least[-1] = 1 and at_least[n-1] = 0), all in float64
        opset, x = container.target_opset, operator.inputs[0]
        blocks = []
        for j, edges in enumerate(operator.raw_operator.inner_edges):
            column = OnnxSlice(x, np.array([j]), np.array([j + 1]), np.array([1]), op_version=opset)
            at_least = OnnxCast(
                OnnxGreaterOrEqual(
                    column, np.asarray(edges, dtype="float64").reshape(1, -1), op_version=opset
                ),
                to=onnx_proto.TensorProto.DOUBLE,
                op_version=opset,
            )
            ones = OnnxGreaterOrEqual(column, column, op_version=opset)  # x is imputed: no NaN
            ones = OnnxCast(ones, to=onnx_proto.TensorProto.DOUBLE, op_version=opset)
            zeros = OnnxSub(ones, ones, op_version=opset)
            padded = OnnxConcat(ones, at_least, zeros, axis=1, op_version=opset)
            n = len(edges) + 1
            lower = OnnxSlice(padded, np.array([0]), np.array([n]), np.array([1]), op_version=opset)
            upper = OnnxSlice(
                padded, np.array([1]), np.array([n + 1]), np.array([1]), op_version=opset
            )
            blocks.append(OnnxSub(lower, upper, op_version=opset))
        node = OnnxConcat(*blocks, axis=1, op_version=opset, output_names=operator.outputs[:1])
        node.add_to(scope, container)

    def same_shape(operator) -> None:
        operator.outputs[0].type = operator.inputs[0].type.__class__(operator.inputs[0].type.shape)

    def float32_convert(scope, operator, container) -> None:
        mid = scope.get_unique_variable_name("as_float32")
        apply_cast(
            scope, operator.inputs[0].full_name, mid, container, to=onnx_proto.TensorProto.FLOAT
        )
        apply_cast(
            scope, mid, operator.outputs[0].full_name, container, to=onnx_proto.TensorProto.DOUBLE
        )

    class DoubleThresholds:
        """Container proxy: float64 tree attributes become `*_as_tensor` (ai.onnx.ml opset 3),
        and boolean lists become integers (newer scikit-learn stores `missing_go_to_left`
        as booleans, which ONNX integer attributes refuse)."""

        def __init__(self, container) -> None:
            self._container = container

        def __getattr__(self, name: str):
            return getattr(self._container, name)

        def add_node(self, *args, **attrs):
            for key, value in list(attrs.items()):
                if isinstance(value, list) and any(isinstance(v, bool | np.bool_) for v in value):
                    attrs[key] = [int(v) for v in value]
            for key in ("nodes_values", "class_weights", "base_values", "nodes_hitrates"):
                if getattr(attrs.get(key), "dtype", None) == np.float64:
                    attrs[f"{key}_as_tensor"] = numpy_helper.from_array(attrs.pop(key))
            return self._container.add_node(*args, **attrs)

    def tree_shape(operator) -> None:
        calculate_tree_classifier_output_shapes(operator)
        operator.outputs[1].type = FloatTensorType(operator.outputs[1].type.shape)

    def tree_convert(scope, operator, container) -> None:
        convert_sklearn_random_forest_classifier(
            scope, operator, DoubleThresholds(container), op_version=3
        )

    class DoubleVotes:
        """Container proxy for skl2onnx's soft-voting converter: each member's probabilities
        are cast to float64 before they are weighted (tree members give float32, linear ones
        float64, and ONNX's Mul refuses the mix), so the vote is summed in float64."""

        def __init__(self, scope, container) -> None:
            self._scope, self._container = scope, container

        def __getattr__(self, name: str):
            return getattr(self._container, name)

        def add_node(self, op_type, inputs, outputs, *args, **attrs):
            if op_type == "Mul":
                as_double = self._scope.get_unique_variable_name("vote_as_double")
                apply_cast(self._scope, inputs[0], as_double, self._container, to=DOUBLE)
                inputs = [as_double, *inputs[1:]]
            return self._container.add_node(op_type, inputs, outputs, *args, **attrs)

    def voting_shape(operator) -> None:
        calculate_linear_classifier_output_shapes(operator)
        operator.outputs[1].type = DoubleTensorType(operator.outputs[1].type.shape)

    def voting_convert(scope, operator, container) -> None:
        convert_voting_classifier(scope, operator, DoubleVotes(scope, container))

    update_registered_converter(NanFill, "TabpipeNanFill", nan_fill_shape, nan_fill_convert)
    update_registered_converter(OneHotBins, "TabpipeOneHotBins", bins_shape, bins_convert)
    update_registered_converter(Float32Round, "TabpipeFloat32Round", same_shape, float32_convert)
    tree_options = {
        "zipmap": [True, False, "columns"],
        "raw_scores": [True, False],
        "nocl": [True, False],
        "output_class_labels": [False, True],
        "decision_path": [True, False],
        "decision_leaf": [True, False],
    }
    for cls, alias in (
        (RandomForestClassifier, "SklearnRandomForestClassifier"),
        (ExtraTreesClassifier, "SklearnExtraTreesClassifier"),
        (HistGradientBoostingClassifier, "SklearnHistGradientBoostingClassifier"),
    ):
        update_registered_converter(cls, alias, tree_shape, tree_convert, options=tree_options)
    update_registered_converter(
        VotingClassifier,
        "SklearnVotingClassifier",
        voting_shape,
        voting_convert,
        options={"zipmap": [True, False, "columns"], "nocl": [True, False]},
    )
    _REGISTERED = True


def _swap_imputers(transformer) -> None:
    """In an export copy: numeric imputers -> NanFill; categorical ones fill '' instead of NaN;
    one-hot quantile bins -> OneHotBins."""
    from sklearn.impute import SimpleImputer
    from sklearn.preprocessing import KBinsDiscretizer

    steps = getattr(transformer, "steps", None)
    if steps is None:
        return
    for i, (name, step) in enumerate(steps):
        if isinstance(step, SimpleImputer):
            stats = np.asarray(step.statistics_)
            if stats.dtype.kind in "fiu":
                steps[i] = (name, NanFill(stats.astype("float64")))
            else:
                step.missing_values = ""
        elif isinstance(step, KBinsDiscretizer):
            if step.encode != "onehot-dense":
                raise PipelineError(f"only one-hot dense bins export, not encode={step.encode!r}")
            steps[i] = (name, OneHotBins([np.asarray(e[1:-1]) for e in step.bin_edges_]))
        else:
            _swap_imputers(step)


def _float32_trees(model) -> bool:
    from sklearn.ensemble import BaseEnsemble, VotingClassifier, VotingRegressor
    from sklearn.tree import BaseDecisionTree

    if isinstance(model, BaseDecisionTree):
        return True
    if isinstance(model, VotingClassifier | VotingRegressor):
        # model=auto's ensembles: one float32 rounding of the features serves every tree
        # member (a linear member moves by ~1e-8, far inside the parity tolerance)
        return any(_float32_trees(member) for member in model.estimators_)
    return isinstance(model, BaseEnsemble) and isinstance(
        getattr(model, "estimator", None), BaseDecisionTree
    )


def exportable(pipeline):
    """A copy of the fitted pipeline that skl2onnx can convert and that computes the same."""
    from sklearn.pipeline import Pipeline

    features, model = pipeline[:-1], pipeline[-1]
    steps = []
    for name, step in copy.deepcopy(features[0]).steps if hasattr(features[0], "steps") else []:
        if type(step).__name__ == "DerivedFeatures":
            if step.expressions:
                raise PipelineError(
                    f"featurize.derived ({', '.join(step.expressions)}) are pandas expressions, "
                    "which ONNX cannot express",
                    fix="export a run without featurize.derived",
                )
            continue  # without expressions it only selects the columns: ONNX inputs do that
        for _, transformer, _ in getattr(step, "transformers_", []):
            if not isinstance(transformer, str):
                _swap_imputers(transformer)
        steps.append((name, step))
    model = copy.deepcopy(model)
    if _float32_trees(model):
        steps.append(("float32", Float32Round()))
    steps.append(("model", model))
    return Pipeline(steps)


def to_onnx(pipeline, schema):
    """The ONNX model (onnx.ModelProto) of a fitted inference pipeline."""
    _register()
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import DoubleTensorType, StringTensorType

    prepared = exportable(pipeline)
    inputs = [
        (c, DoubleTensorType([None, 1]) if c in schema.numeric else StringTensorType([None, 1]))
        for c in schema.features
    ]
    options = {id(prepared[-1]): {"zipmap": False}} if hasattr(prepared[-1], "classes_") else None
    try:
        return convert_sklearn(prepared, initial_types=inputs, options=options, target_opset=OPSET)
    except Exception as err:  # skl2onnx raises many types for what it cannot convert
        model = pipeline[-1]
        name = type(model).__name__
        if hasattr(model, "named_estimators_"):  # an ensemble: name its members
            members = ", ".join(type(m).__name__ for m in model.named_estimators_.values())
            name = f"the ensemble {name} of {members}"
        raise PipelineError(
            f"skl2onnx cannot export {name}: {str(err).splitlines()[0][:200]}",
            fix="see the README's ONNX section for the models that export",
        ) from None


def onnx_inputs(rows, schema) -> dict[str, np.ndarray]:
    """Cleaned rows as the ONNX model's inputs (a missing category is '')."""
    feeds = {}
    for column in schema.features:
        values = rows[column]
        if column in schema.numeric:
            feeds[column] = values.to_numpy(dtype="float64", na_value=np.nan).reshape(-1, 1)
        else:
            text = values.astype("object").where(values.notna(), "")
            feeds[column] = text.astype(str).to_numpy(dtype=object).reshape(-1, 1)
    return feeds


def session(model) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(
        model.SerializeToString(), options, providers=["CPUExecutionProvider"]
    )


def onnx_probabilities(sess, rows, schema) -> np.ndarray:
    """ONNX Runtime's class probabilities for cleaned rows."""
    _, probabilities = sess.run(None, onnx_inputs(rows, schema))
    return np.asarray(probabilities, dtype="float64")


def parity(pipeline, model, rows, schema) -> float:
    """Largest absolute difference between ONNX Runtime's and scikit-learn's probabilities."""
    expected = pipeline.predict_proba(rows[schema.features])
    got = onnx_probabilities(session(model), rows, schema)
    return float(np.max(np.abs(got - expected))) if len(rows) else 0.0


def export(scorer, out: Path, check_rows=None) -> tuple[Path, float | None]:
    """Write the ONNX file of `scorer`'s pipeline, after checking parity on `check_rows`."""
    from tabpipe import io

    model = to_onnx(scorer.pipeline, scorer.schema)
    gap = None
    if check_rows is not None:
        gap = parity(scorer.pipeline, model, check_rows, scorer.schema)
        if gap > TOLERANCE:
            raise PipelineError(
                f"ONNX probabilities differ from scikit-learn's by {gap:.2e} (> {TOLERANCE:g}) "
                f"on {len(check_rows)} test rows; {out} not written",
                fix="report it; score with the skops model (`make predict`) meanwhile",
            )
    io.write_bytes(model.SerializeToString(), out)
    return Path(out), gap
