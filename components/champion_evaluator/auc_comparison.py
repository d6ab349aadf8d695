"""AUCComparison: a TFMA metric comparing the candidate with the baseline model on the same rows, per slice.

A cross-model metric (as TFMA's own `ModelCosineSimilarity`): each example reaches it with both models' scores, so
it keeps (label, candidate score, baseline score) for the slice and, at the end, runs DeLong's paired test on them
(delong.py). Its values are diff metrics of the candidate: the exact AUC of each model, their difference and its
standard error, and the class counts. The evaluator's executor turns them into a confidence interval and a decision
(policy.py). With no baseline (nothing served yet) it computes nothing.

Referenced by name from the EvalConfig (`MetricConfig(class_name=NAME, module=MODULE)`), so TFMA imports it where the
Evaluator runs, locally or in the Kubeflow image.
"""

import dataclasses
from collections.abc import Iterable

import apache_beam as beam
import numpy as np
from tensorflow_model_analysis.metrics import metric_types, metric_util
from tensorflow_model_analysis.proto import config_pb2
from tensorflow_model_analysis.utils import model_util

from components.champion_evaluator import delong

NAME = "AUCComparison"
MODULE = __name__
# Output names (TFMA adds "_diff" to the names of diff metrics when it loads them).
CANDIDATE_AUC = "paired_auc_candidate"
BASELINE_AUC = "paired_auc_baseline"
DIFFERENCE = "paired_auc_difference"
STD_ERROR = "paired_auc_std_error"
POSITIVES = "paired_auc_positives"
NEGATIVES = "paired_auc_negatives"
OUTPUTS = (CANDIDATE_AUC, BASELINE_AUC, DIFFERENCE, STD_ERROR, POSITIVES, NEGATIVES)


@dataclasses.dataclass
class _Rows:
    """One slice's rows as both models scored them."""

    labels: list[float] = dataclasses.field(default_factory=list)
    candidate: list[float] = dataclasses.field(default_factory=list)
    baseline: list[float] = dataclasses.field(default_factory=list)

    def extend(self, other: "_Rows") -> None:
        self.labels += other.labels
        self.candidate += other.candidate
        self.baseline += other.baseline


class AUCComparison(metric_types.Metric):
    """The candidate's AUC minus the baseline's on the same rows, with DeLong's standard error."""

    def __init__(self, name: str = "paired_auc"):
        super().__init__(_computations, name=name)


def _computations(
    name: str,
    eval_config: config_pb2.EvalConfig,
    model_names: Iterable[str],
    output_names: Iterable[str] = ("",),
    sub_keys: Iterable[metric_types.SubKey] | None = None,
) -> metric_types.MetricComputations:
    baseline = model_util.get_baseline_model_spec(eval_config)
    if baseline is None:
        return []
    computations = []
    for model_name in model_names:
        if model_name == baseline.name:
            continue
        for output_name in output_names:
            keys = {
                output: metric_types.MetricKey(
                    name=output, model_name=model_name, output_name=output_name, is_diff=True
                )
                for output in OUTPUTS
            }
            combiner = _Combiner(keys, eval_config, model_name, baseline.name, output_name)
            computations.append(
                metric_types.MetricComputation(keys=list(keys.values()), preprocessors=None, combiner=combiner)
            )
    return computations


class _Combiner(beam.CombineFn):
    """Collects each slice's labels and both models' scores; DeLong's test at the end."""

    def __init__(
        self,
        keys: dict[str, metric_types.MetricKey],
        eval_config: config_pb2.EvalConfig,
        model_name: str,
        baseline_name: str,
        output_name: str,
    ):
        self._keys = keys
        self._eval_config = eval_config
        self._model_name = model_name
        self._baseline_name = baseline_name
        self._output_name = output_name

    def _scores(self, element: metric_types.StandardMetricInputs, model_name: str) -> tuple[list, list]:
        labels, scores = [], []
        for label, prediction, _ in metric_util.to_label_prediction_example_weight(
            element, eval_config=self._eval_config, model_name=model_name, output_name=self._output_name
        ):
            labels.append(float(label.item()))
            scores.append(float(prediction.item()))
        return labels, scores

    def create_accumulator(self) -> _Rows:
        return _Rows()

    def add_input(self, accumulator: _Rows, element: metric_types.StandardMetricInputs) -> _Rows:
        labels, candidate = self._scores(element, self._model_name)
        _, baseline = self._scores(element, self._baseline_name)
        accumulator.extend(_Rows(labels, candidate, baseline))
        return accumulator

    def merge_accumulators(self, accumulators: Iterable[_Rows]) -> _Rows:
        accumulators = iter(accumulators)
        result = next(accumulators)
        for accumulator in accumulators:
            result.extend(accumulator)
        return result

    def extract_output(self, accumulator: _Rows) -> dict[metric_types.MetricKey, float]:
        found = delong.paired_auc(
            np.array(accumulator.labels), np.array(accumulator.candidate), np.array(accumulator.baseline)
        )
        labels = np.array(accumulator.labels) > 0.5
        values = {POSITIVES: float(labels.sum()), NEGATIVES: float((~labels).sum())}
        if found is None:  # one class (or a single row of one): AUC and its variance are undefined
            values.update(dict.fromkeys((CANDIDATE_AUC, BASELINE_AUC, DIFFERENCE, STD_ERROR), float("nan")))
        else:
            values.update({
                CANDIDATE_AUC: found.candidate,
                BASELINE_AUC: found.baseline,
                DIFFERENCE: found.difference,
                STD_ERROR: found.std_error,
            })  # fmt: skip
        return {self._keys[output]: value for output, value in values.items()}
