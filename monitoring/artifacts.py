"""The files of TFX artifacts recorded in ML Metadata, read through TFX's own helpers.

Where TFX keeps a split (`artifact_utils.get_split_uri`) and what the file in it is called (`FeatureStats.pb`, or
the older layout for artifacts recorded before TFX 0.29) is TFX's to know: the readers here ask TFX, given the
artifact as TFX sees it. Records come from a TFX-written store or from `kfp_metadata.KfpView`, where KFP keeps TFX's
artifact properties (`split_names`, `span`) as custom properties.
"""

import os
from typing import TypeVar

from ml_metadata.proto import metadata_store_pb2
from tensorflow_data_validation.utils import anomalies_util
from tensorflow_metadata.proto.v0 import anomalies_pb2, statistics_pb2
from tfx import types
from tfx.types import artifact_utils, standard_artifacts

from monitoring import store as store_lib

_Artifact = TypeVar("_Artifact", bound=types.Artifact)


def tfx_artifact(record: metadata_store_pb2.Artifact, artifact_class: type[_Artifact]) -> _Artifact:
    """The MLMD record as an instance of `artifact_class`, its properties read from properties or custom ones."""
    artifact = artifact_class()
    mlmd_artifact = metadata_store_pb2.Artifact()
    mlmd_artifact.CopyFrom(record)
    artifact.set_mlmd_artifact(mlmd_artifact)
    for name in artifact_class.PROPERTIES or {}:
        value = store_lib.custom(record, name)
        if value is not None:
            setattr(artifact, name, value)
    return artifact


def statistics(record: metadata_store_pb2.Artifact) -> standard_artifacts.ExampleStatistics:
    """StatisticsGen's output as TFX's ExampleStatistics artifact."""
    return tfx_artifact(record, standard_artifacts.ExampleStatistics)


def anomalies(record: metadata_store_pb2.Artifact) -> standard_artifacts.ExampleAnomalies:
    """ExampleValidator's or DistributionValidator's output as TFX's ExampleAnomalies artifact."""
    return tfx_artifact(record, standard_artifacts.ExampleAnomalies)


def load_statistics(
    artifact: standard_artifacts.ExampleStatistics, split: str
) -> statistics_pb2.DatasetFeatureStatisticsList:
    """The statistics of one split, as StatisticsGen wrote them."""
    from tfx.components.statistics_gen import stats_artifact_utils  # here: tfx.components loads every component (5 s)

    return stats_artifact_utils.load_statistics(artifact, split).proto()


def load_anomalies(artifact: standard_artifacts.ExampleAnomalies, split: str) -> anomalies_pb2.Anomalies:
    """ExampleValidator's anomalies of one split (TFX 1.16 has no reader: its executor names the file)."""
    from tfx.components.example_validator import executor as example_validator_executor  # as in load_statistics

    split_uri = artifact_utils.get_split_uri([artifact], split)
    return anomalies_util.load_anomalies_binary(os.path.join(split_uri, example_validator_executor.DEFAULT_FILE_NAME))


def load_split_pair_anomalies(
    artifact: standard_artifacts.ExampleAnomalies, test_split: str, baseline_split: str
) -> anomalies_pb2.Anomalies | None:
    """DistributionValidator's anomalies of `test_split` against `baseline_split`; None when it did not compare them
    (its executor lists each pair it compared as a split named `<test>_<baseline>`)."""
    from components.drift_gate import validator  # as in load_statistics: it defines a TFX executor

    if f"{test_split}_{baseline_split}" not in artifact.splits:
        return None
    return anomalies_util.load_anomalies_binary(validator.anomalies_path(artifact.uri, test_split, baseline_split))
