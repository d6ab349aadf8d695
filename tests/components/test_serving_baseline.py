"""ServingBaseline finds what TF Serving would serve and hands it to the Evaluator as a Model artifact.

Which folders are complete versions is serving.versions' rule, tested in tests/serving/test_versions.py.
"""

import os

from tfx.types import standard_artifacts
from tfx.utils import path_utils

from components.atomic_pusher import fingerprint
from components.serving_baseline import executor


def _version(base, name, complete=True):
    path = base / name
    (path / "variables").mkdir(parents=True)
    (path / "variables" / "variables.index").write_text("weights")
    if complete:
        (path / "saved_model.pb").write_text(f"model {name}")
    return path


def _run(serving_dir, output_dir):
    baseline = standard_artifacts.Model()
    baseline.uri = str(output_dir)
    executor.Executor().Do(
        {executor.MODEL_KEY: [standard_artifacts.Model()]},
        {executor.BASELINE_MODEL_KEY: [baseline]},
        {executor.SERVING_MODEL_DIR_KEY: str(serving_dir)},
    )
    return baseline


def test_executor_copies_the_served_version(tmp_path):
    serving = tmp_path / "serving"
    _version(serving, "42")
    _version(serving, "43", complete=False)  # Pusher still copying: saved_model.pb comes last
    baseline = _run(serving, tmp_path / "baseline")
    assert executor.has_model(baseline)
    assert baseline.get_int_custom_property(executor.SERVED_VERSION_PROPERTY) == 42
    assert baseline.get_string_custom_property(executor.SERVED_PATH_PROPERTY) == str(serving / "42")
    copied = path_utils.serving_model_path(baseline.uri)
    with open(os.path.join(copied, "saved_model.pb")) as f:
        assert f.read() == "model 42"


def test_the_baseline_is_the_stable_version_once_a_model_config_labels_one(tmp_path):
    """After a rollback the bad version stays on disk as the highest: the stable label says what is served."""
    model = tmp_path / "serving_model" / "chicago_taxi"
    for name in ("42", "43", "44"):
        _version(model, name)
    config = tmp_path / "serving_model" / "models.config"
    config.write_text(
        f'model_config_list {{ config {{ name: "chicago_taxi" base_path: "{model}" model_platform: "tensorflow" '
        'model_version_policy { specific { versions: 43 } } version_labels { key: "stable" value: 43 } } }'
    )
    assert _run(model, tmp_path / "a").get_int_custom_property(executor.SERVED_VERSION_PROPERTY) == 43
    config.write_text(config.read_text().replace("value: 43", "value: 41"))  # a label on no complete version
    assert _run(model, tmp_path / "b").get_int_custom_property(executor.SERVED_VERSION_PROPERTY) == 44
    config.write_text("not a model config")  # the server reports it; the baseline falls back to the newest
    assert _run(model, tmp_path / "c").get_int_custom_property(executor.SERVED_VERSION_PROPERTY) == 44


def test_executor_marks_an_empty_baseline_when_nothing_is_served(tmp_path):
    baseline = _run(tmp_path / "serving", tmp_path / "baseline")
    assert not executor.has_model(baseline)
    assert not os.path.exists(path_utils.serving_model_dir(baseline.uri))


def test_the_baseline_records_the_served_versions_fingerprint(tmp_path):
    served = _version(tmp_path / "serving", "42")
    baseline = _run(tmp_path / "serving", tmp_path / "baseline")
    recorded = baseline.get_string_custom_property(executor.SERVED_FINGERPRINT_PROPERTY)
    assert recorded == fingerprint.fingerprint(str(served))
    assert recorded == fingerprint.fingerprint(path_utils.serving_model_path(baseline.uri))  # the copy is the same
