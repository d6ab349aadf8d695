"""The drift check from the configuration: DistributionValidator's comparators and DriftGate's measures and actions.

Every model feature and label column is compared with Jensen-Shannon divergence (numbers on quantile histograms,
which a few outliers cannot move); categorical features also with the L-infinity distance (the largest change of one
value's share), which TFDV computes from value counts: strings, and integer codes the curated schema marks
`is_categorical`. DriftGate adds the relative change of the median of the non-zero values of every other feature
(components/drift_gate/measures.py), which sees a change of location or scale. The thresholds and actions are the
configuration's `drift.default`, overridden per feature.
"""

import dataclasses
import os
from typing import Any

from tensorflow_metadata.proto.v0 import schema_pb2
from tfx.proto import distribution_validator_pb2

from pipeline.config import PipelineConfig
from pipeline.config_checks import DriftDefault, FeatureDrift


def _effective(config: PipelineConfig, feature: str) -> DriftDefault:
    """drift.default with the feature's own overrides, field by field."""
    own = dataclasses.asdict(config.drift.features.get(feature, FeatureDrift()))
    overrides = {name: value for name, value in own.items() if value is not None}
    return dataclasses.replace(config.drift.default, **overrides)


def categorical_features(config: PipelineConfig) -> set[str]:
    """Features TFDV counts values of: the curated schema's strings and `is_categorical` integers. Without a schema
    readable here (none configured, or a Kubeflow build whose schema path is inside the image): every configured
    categorical feature, so integer codes also get an L-infinity check, which TFDV can only make when it counted
    their values (with the schema); Jensen-Shannon still guards them."""
    if not config.data.schema or not os.path.isfile(config.data.schema):
        return set(config.features.categorical)
    from tensorflow_data_validation import load_schema_text

    schema = load_schema_text(config.data.schema)
    return {
        f.name
        for f in schema.feature
        if f.type == schema_pb2.BYTES or (f.type == schema_pb2.INT and f.int_domain.is_categorical)
    }


def compared_features(config: PipelineConfig) -> list[str]:
    """Every model feature and label column, in the configuration's order."""
    return list(config.features.required_columns)


def validator_config(config: PipelineConfig) -> distribution_validator_pb2.DistributionValidatorConfig:
    """DistributionValidator's comparators per compared feature, and its row-count bounds."""
    categorical = categorical_features(config)
    validator = distribution_validator_pb2.DistributionValidatorConfig()
    for name in compared_features(config):
        check = _effective(config, name)
        comparator = schema_pb2.FeatureComparator()
        comparator.jensen_shannon_divergence.threshold = check.jensen_shannon
        comparator.jensen_shannon_divergence.source.type = schema_pb2.HistogramSelection.QUANTILES
        if name in categorical:
            comparator.infinity_norm.threshold = check.infinity_norm
        entry = validator.default_slice_config.feature.add()
        entry.path.step.append(name)
        entry.distribution_comparator.CopyFrom(comparator)
    rows = validator.default_slice_config.num_examples_comparator
    rows.min_fraction_threshold = config.drift.row_count.min_fraction
    rows.max_fraction_threshold = config.drift.row_count.max_fraction
    return validator


def gate_settings(config: PipelineConfig) -> dict[str, Any]:
    """DriftGate's `settings`: the pipeline it records verdicts for, the action of each feature and of the row
    count, the median thresholds of the numeric features, and the label's limit. The label's source column gets no
    median check: the label rate measures its change, and its values are few and discrete (tips of 1.0, 1.5, 2.0),
    so its median jumps between them (0.23 between interleaved thirds of one span's first 3,000 rows)."""
    categorical = set(config.features.categorical) | categorical_features(config)
    return {
        "pipeline_name": config.pipeline_name,
        "default_action": config.drift.default.action,
        "feature_actions": {name: _effective(config, name).action for name in compared_features(config)},
        "median_change": {
            name: _effective(config, name).median_change
            for name in compared_features(config)
            if name not in categorical and name != config.features.label.column
        },
        "row_count_action": config.drift.row_count.action,
        "label": dataclasses.asdict(config.drift.label),  # max_rate_change, confidence, action
    }
