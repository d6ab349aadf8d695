"""profiling/writer.py and proposal.py: the configuration text validates, and quotes whatever a value looks like."""

import os

import odd_csv
import pytest
import yaml

from pipeline import config as config_lib
from profiling import proposal as proposal_lib
from profiling import writer


@pytest.fixture(scope="module")
def odd_proposal(tmp_path_factory) -> tuple[proposal_lib.Proposal, str]:
    root = tmp_path_factory.mktemp("writer")
    os.makedirs(root / "data")
    path = odd_csv.write(str(root / "data" / "Odd export 2023.csv"), 400)
    return proposal_lib.propose(path, "outcome"), str(root)


def test_the_text_loads_as_the_configuration_it_proposes(odd_proposal):
    proposal, root = odd_proposal
    output = os.path.join(root, "configs", "odd.yaml")
    text = writer.config_text(proposal, output)
    config = config_lib.parse(yaml.safe_load(text), output)
    assert config.data.path == os.path.join(root, "data", "Odd export 2023.csv")
    assert (config.data.delimiter, config.data.encoding, config.data.schema) == (";", "utf-8", None)
    assert config.data.missing_values[-1] == "?"
    assert config.features.numeric == ("mean radius", "income")
    assert config.features.categorical == ("Sex (M/F)", "grade", "ca")
    label = config.features.label
    assert (label.name, label.column, label.one_of, label.negative, label.other) == (
        "outcome_label", "outcome", ("yes",), ("no",), "stop"
    )  # fmt: skip
    assert config.evaluation.thresholds == {"auc": proposal.auc_threshold}
    assert config.evaluation.slices == ("Sex (M/F)",)
    assert (config.pipeline_name, config.serving.model_name) == ("odd-export-2023", "Odd_export_2023")
    relative = os.path.relpath(writer.SCHEMA_PATH, os.path.dirname(output))
    assert text.startswith(f"# yaml-language-server: $schema={relative}\n")
    assert os.path.isfile(os.path.normpath(os.path.join(os.path.dirname(output), relative)))
    assert "taxi" not in text and not any(line.strip().startswith("schema:") for line in text.splitlines())


def test_the_auc_threshold_sits_below_the_baseline():
    assert proposal_lib.auc_threshold(None) == 0.55
    quick = proposal_lib.baseline_lib.Baseline(0.913, 0.9, 0.93, 0.95, 0.6, 0.85, 0.88, 800, 200)
    assert proposal_lib.auc_threshold(quick) == 0.86
    assert proposal_lib.auc_threshold(quick.__class__(0.58, 0.5, 0.66, 0.95, 0.6, 0.6, 0.65, 800, 200)) == 0.55


def test_values_that_yaml_would_misread_stay_text():
    assert writer._flow("one_of", ("yes", "2023", "off", "a: b")) == ['  one_of: ["yes", "2023", "off", "a: b"]']
    wrapped = writer._flow("numeric", tuple(f"column number {i}" for i in range(12)))
    assert len(wrapped) == 3 and all(len(line) <= 116 for line in wrapped)
    assert yaml.safe_load("\n".join(wrapped))["numeric"] == [f"column number {i}" for i in range(12)]


def test_labels_missing_beyond_the_default_limit_raise_it_and_small_values_make_no_slice(tmp_path):
    rows = [f"{i % 50},{'abc'[i % 3]},{'' if i % 10 == 0 else 'yn'[i % 7 % 2]}\n" for i in range(200)]
    (tmp_path / "small.csv").write_text("score,kind,answer\n" + "".join(rows))
    proposal = proposal_lib.propose(str(tmp_path / "small.csv"), "answer")
    assert proposal.label.missing == 20 and proposal.max_missing_label_fraction == 0.12  # 10%, and 2 points more
    assert proposal.slices == ()  # 'kind' has ~13 eval rows per value, fewer than comparison.min_slice_size
    output = str(tmp_path / "small.yaml")
    config = config_lib.parse(yaml.safe_load(writer.config_text(proposal, output)), output)
    assert config.data.max_missing_label_fraction == 0.12 and config.evaluation.slices == ()
    assert "data.max_missing_label_fraction: 0.12 (labels missing)" in proposal.decisions()
