"""The drift check from the configuration: DistributionValidator's comparators and DriftGate's actions.

Every model feature and label column is compared with Jensen-Shannon divergence (numbers on quantile histograms,
which a few outliers cannot move); string features also with the L-infinity distance, which TFDV computes for
strings only. The thresholds and actions are the configuration's `drift.default`, overridden per feature.
"""

import dataclasses
import os
from typing import Any

from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.proto import distribution_validator_pb2

from pipeline.config import DriftDefault, FeatureDrift, PipelineConfig


def _effective(config: PipelineConfig, feature: str) -> DriftDefault:
    """drift.default with the feature's own overrides, field by field."""
    own = dataclasses.asdict(config.drift.features.get(feature, FeatureDrift()))
    overrides = {name: value for name, value in own.items() if value is not None}
    return dataclasses.replace(config.drift.default, **overrides)


def _string_features(config: PipelineConfig) -> set[str]:
    """Features the curated schema types as strings. Without a schema readable here (none configured, or a Kubeflow
    build whose schema path is inside the image): every categorical feature, so integer categoricals also get an
    L-infinity check, which TFDV reports as 0 for them; Jensen-Shannon still guards them."""
    if not config.data.schema or not os.path.isfile(config.data.schema):
        return set(config.features.categorical)
    from tensorflow_data_validation import load_schema_text

    schema = load_schema_text(config.data.schema)
    return {f.name for f in schema.feature if f.type == schema_pb2.BYTES}


def compared_features(config: PipelineConfig) -> list[str]:
    """Every model feature and label column, in the configuration's order."""
    return list(config.features.required_columns)


def validator_config(config: PipelineConfig) -> distribution_validator_pb2.DistributionValidatorConfig:
    """DistributionValidator's comparators per compared feature, and its row-count bounds."""
    strings = _string_features(config)
    validator = distribution_validator_pb2.DistributionValidatorConfig()
    for name in compared_features(config):
        check = _effective(config, name)
        comparator = schema_pb2.FeatureComparator()
        comparator.jensen_shannon_divergence.threshold = check.jensen_shannon
        comparator.jensen_shannon_divergence.source.type = schema_pb2.HistogramSelection.QUANTILES
        if name in strings:
            comparator.infinity_norm.threshold = check.infinity_norm
        entry = validator.default_slice_config.feature.add()
        entry.path.step.append(name)
        entry.distribution_comparator.CopyFrom(comparator)
    rows = validator.default_slice_config.num_examples_comparator
    rows.min_fraction_threshold = config.drift.row_count.min_fraction
    rows.max_fraction_threshold = config.drift.row_count.max_fraction
    return validator


def gate_settings(config: PipelineConfig) -> dict[str, Any]:
    """DriftGate's `settings`: the action of each feature and of the row count, and the label's limit."""
    return {
        "default_action": config.drift.default.action,
        "feature_actions": {name: _effective(config, name).action for name in compared_features(config)},
        "row_count_action": config.drift.row_count.action,
        "label": dataclasses.asdict(config.drift.label),  # max_rate_change, action
    }
