"""The comparison behind `kfx monitor`: served rows against the statistics of the rows a version was trained on.

TFDV's skew comparators see a change of shape: Jensen-Shannon divergence on every input (numbers on their quantile
histograms: TFDV's default equal-width histograms put almost every row of a long-tailed column in one bucket, and
re-binning them measured 0.41 on trip_miles between the training rows and a sample of those same rows; quantiles:
0.08), and the L-infinity distance on categorical inputs (strings, and integer codes whose values the training
statistics counted). A shift in part of the traffic changes the shape little: with half of 400 rows x10 on one input
it can measure as little as 0.38 (dropoff_longitude), while 400 rows drawn from the training data reach 0.205
(bench/drift_calibration.py). The median of the non-zero values (the drift gate's measure,
components/drift_gate/measures.py) moves far: every numeric input also gets its relative change.
The schema is inferred from the training statistics; columns the model does not read (the label among them) are not
in the SERVING environment, so `validate_statistics(serving, schema, environment="SERVING")` reports inputs missing
from the requests, unknown columns, unseen string values and type changes.
"""

import dataclasses

import pandas as pd
import tensorflow_data_validation as tfdv
from tensorflow_metadata.proto.v0 import anomalies_pb2, schema_pb2, statistics_pb2

from components.drift_gate import measures
from pipeline.config_checks import SkewCheck, SkewConfig

TRAINING, SERVING = "TRAINING", "SERVING"
JENSEN_SHANNON, INFINITY_NORM, MEDIAN_CHANGE = "jensen_shannon", "infinity_norm", "median_change"
_MEASURES = {
    anomalies_pb2.DriftSkewInfo.Measurement.JENSEN_SHANNON_DIVERGENCE: JENSEN_SHANNON,
    anomalies_pb2.DriftSkewInfo.Measurement.L_INFTY: INFINITY_NORM,
}
# Reported as measurements (value, threshold) rather than as other anomalies.
_SKEW_REASONS = {
    anomalies_pb2.AnomalyInfo.COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH,
    anomalies_pb2.AnomalyInfo.COMPARATOR_L_INFTY_HIGH,
}


@dataclasses.dataclass
class Measurement:
    """One skew measure on one feature."""

    feature: str
    measure: str  # jensen_shannon, infinity_norm or median_change, the names of the configuration
    value: float
    threshold: float
    over: bool


@dataclasses.dataclass
class Anomaly:
    """Anything else TFDV found: a missing input, an unknown column, unseen values, a changed type."""

    feature: str
    type: str
    description: str


def thresholds(config: SkewConfig, feature: str) -> SkewCheck:
    """The feature's own thresholds, each falling back to the default's."""
    own, default = config.features.get(feature, SkewCheck()), config.default
    return SkewCheck(
        **{
            name: getattr(default, name) if getattr(own, name) is None else getattr(own, name)
            for name in (JENSEN_SHANNON, INFINITY_NORM, MEDIAN_CHANGE)
        }
    )


def _by_name(
    statistics: statistics_pb2.DatasetFeatureStatisticsList,
) -> dict[str, statistics_pb2.FeatureNameStatistics]:
    return {(f.path.step[0] if f.path.step else f.name): f for f in statistics.datasets[0].features}


def _with_empty_rows(statistics: statistics_pb2.DatasetFeatureStatisticsList) -> set[str]:
    names = set()
    for name, feature in _by_name(statistics).items():
        kind = feature.WhichOneof("stats")
        if kind and getattr(feature, kind).common_stats.min_num_values == 0:
            names.add(name)
    return names


def _categorical(statistics: statistics_pb2.DatasetFeatureStatisticsList) -> set[str]:
    """Features whose values the statistics counted: strings, and integers the curated schema marked categorical."""
    return {name for name, feature in _by_name(statistics).items() if feature.WhichOneof("stats") == "string_stats"}


def skew_schema(
    training: statistics_pb2.DatasetFeatureStatisticsList, serving_inputs: tuple[str, ...], config: SkewConfig
) -> schema_pb2.Schema:
    """The schema inferred from training, with skew comparators on the serving inputs and SERVING without the rest."""
    schema = tfdv.infer_schema(training)
    schema.default_environment.extend([TRAINING, SERVING])
    empty_cells, categorical = _with_empty_rows(training), _categorical(training)
    for feature in schema.feature:
        if feature.type == schema_pb2.INT and feature.name in categorical:
            # Counted as values in training; the serving statistics must count them too (StatsOptions' schema).
            feature.int_domain.is_categorical = True
        if feature.name not in serving_inputs:
            feature.not_in_environment.append(SERVING)  # the label and columns the model never reads are not sent
            continue
        if feature.name in empty_cells:
            # Training counts an empty cell as present with no values; serving rows mark it missing. Same meaning,
            # so only an input that never has a value (min_count) is an anomaly, not each row without one.
            feature.presence.min_fraction = 0.0
        check = thresholds(config, feature.name)
        divergence = feature.skew_comparator.jensen_shannon_divergence
        divergence.threshold = check.jensen_shannon
        if feature.name in categorical:
            feature.skew_comparator.infinity_norm.threshold = check.infinity_norm
        else:
            divergence.source.type = schema_pb2.HistogramSelection.QUANTILES
    return schema


def serving_statistics(frame: pd.DataFrame, schema: schema_pb2.Schema) -> statistics_pb2.DatasetFeatureStatisticsList:
    """TFDV's statistics of the served rows, counting values where the training statistics did."""
    return tfdv.generate_statistics_from_dataframe(frame, stats_options=tfdv.StatsOptions(schema=schema))


def _median_changes(
    training: statistics_pb2.DatasetFeatureStatisticsList,
    serving: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    config: SkewConfig,
) -> list[Measurement]:
    trained, served = _by_name(training), _by_name(serving)
    found = []
    for feature in schema.feature:
        if SERVING in feature.not_in_environment or feature.name not in served:
            continue
        change = measures.median_change(served[feature.name], trained[feature.name])
        if change is not None:
            threshold = thresholds(config, feature.name).median_change
            found.append(Measurement(feature.name, MEDIAN_CHANGE, change, threshold, change > threshold))
    return found


def compare(
    training: statistics_pb2.DatasetFeatureStatisticsList,
    serving: statistics_pb2.DatasetFeatureStatisticsList,
    schema: schema_pb2.Schema,
    config: SkewConfig,
) -> tuple[list[Measurement], list[Anomaly]]:
    """Skew measurements per feature and measure, and every other anomaly of the serving data."""
    skew = tfdv.validate_statistics(training, schema, environment=TRAINING, serving_statistics=serving)
    measurements = [
        Measurement(info.path.step[0], _MEASURES[m.type], m.value, m.threshold, m.value > m.threshold)
        for info in skew.drift_skew_info
        for m in info.skew_measurements
        if m.type in _MEASURES
    ]
    measurements += _median_changes(training, serving, schema, config)
    found = tfdv.validate_statistics(serving, schema, environment=SERVING)
    anomalies = [
        Anomaly(name, anomalies_pb2.AnomalyInfo.Type.Name(reason.type), reason.description)
        for result in (skew, found)
        for name, info in sorted(result.anomaly_info.items())
        for reason in info.reason
        if reason.type not in _SKEW_REASONS
    ]
    return sorted(measurements, key=lambda m: (m.feature, m.measure)), anomalies
