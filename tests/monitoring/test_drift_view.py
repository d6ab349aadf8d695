"""The report's drift distributions: for each feature past a threshold, the reference's and the newest span's
distributions side by side, drawn from a StatisticsGen-shaped artifact of real TFDV statistics."""

import base64
import os

import numpy as np
import pandas as pd
import tensorflow_data_validation as tfdv
from tfx.types import artifact_utils, standard_artifacts

from components.drift_gate import executor as drift_executor
from components.drift_gate import policy
from monitoring import drift_view

RNG = np.random.default_rng(3)
REFERENCE = pd.DataFrame(
    {
        "fare": RNG.lognormal(2.0, 0.5, 500),
        "trip_miles": RNG.lognormal(0.5, 1.0, 500),
        "payment_type": np.where(RNG.random(500) < 0.6, "Cash", "Credit Card"),
    }
)
NEWEST = REFERENCE.assign(fare=REFERENCE["fare"] * 1.3, payment_type=np.where(RNG.random(500) < 0.3, "Cash", "Card"))


def _statistics_record(root) -> object:
    statistics = standard_artifacts.ExampleStatistics()
    statistics.uri = str(root)
    statistics.split_names = artifact_utils.encode_split_names(
        [drift_executor.NEWEST_SPLIT, drift_executor.PREVIOUS_SPLIT]
    )
    for split, frame in ((drift_executor.NEWEST_SPLIT, NEWEST), (drift_executor.PREVIOUS_SPLIT, REFERENCE)):
        os.makedirs(artifact_utils.get_split_uri([statistics], split))
        with open(os.path.join(artifact_utils.get_split_uri([statistics], split), "FeatureStats.pb"), "wb") as f:
            f.write(tfdv.generate_statistics_from_dataframe(frame).SerializeToString())
    return statistics.mlmd_artifact


def _measured(feature: str, over: bool, action: str = policy.BLOCK) -> dict:
    return {"feature": feature, "measure": "m", "value": 1.0, "threshold": 0.5, "action": action, "over": over}


def test_each_drifted_feature_gets_reference_and_newest_side_by_side(tmp_path):
    report = {
        "newest_span": 3,
        "reference_span": 2,
        "measurements": [
            _measured("fare", True),
            _measured("fare", True),  # two measures over: one chart
            _measured("trip_miles", False),  # under its thresholds: no chart
            _measured("payment_type", True, policy.WARN),  # a warning is drawn too
            _measured(policy.LABEL, True),  # no feature distribution for the label rate or the row count
            _measured(policy.ROW_COUNT, True),
        ],
    }
    shown = drift_view.distributions(_statistics_record(tmp_path), report)
    assert [s["feature"] for s in shown] == ["fare", "payment_type"]
    for chart in (s["chart"] for s in shown):
        assert chart.startswith("data:image/png;base64,")
        assert base64.b64decode(chart.split(",", 1)[1])[:4] == b"\x89PNG"


def test_nothing_is_drawn_when_nothing_drifted(tmp_path):
    report = {"newest_span": 3, "reference_span": 2, "measurements": [_measured("fare", False)]}
    assert drift_view.distributions(None, report) == []  # the statistics are not even read
