"""Requests may name the serving signature's inputs by the raw column ("mean radius") or by its safe key
("mean_radius"): serving/input_names.py renames the first to the second, in both REST formats and gRPC."""

import itertools
import random
import string

import grpc
import numpy as np
import pytest
import tensorflow as tf

from models import features
from serving import codec, input_names, json_inputs, request_rows
from serving.servable import Servable
from serving.status import ServingError

DTYPES = {"mean_radius": tf.float64, "flc_grp": tf.string, "c_2023": tf.float64, "Sex__M_F_": tf.string}
ORIGINAL = {"mean radius": 14.5, "flc.grp": "a", "2023": 3.0, "Sex (M/F)": "M"}


def _odd_names() -> list[str]:
    """Hand-picked odd names plus random ones drawn from letters, digits, punctuation, spaces and non-ASCII."""
    names = ["", "a", "A1", "_", "__x", "1", "2023", "mean radius", "flc.grp", "Sex (M/F)", "naïve", "é", "日本",
             "a-b", "a/b", "x\ty", "Ünïcode", "class", "CamelCase", "trailing_", "ends.", "(paren)", "ß"]  # fmt: skip
    alphabet = string.ascii_letters + string.digits + string.punctuation + " _éü日ß\u00a0"
    generator = random.Random(16)
    names += ["".join(generator.choices(alphabet, k=generator.randint(1, 12))) for _ in range(2000)]
    return names


def test_the_copy_of_safe_name_equals_the_models_one():
    for name in _odd_names():
        assert input_names.safe_name(name) == features.safe_name(name), name


def _refused(call, *args) -> str:
    with pytest.raises(ServingError) as raised:
        call(*args)
    assert raised.value.code == grpc.StatusCode.INVALID_ARGUMENT
    return raised.value.message


def test_row_format_accepts_original_safe_and_mixed_names():
    mixed = {"mean_radius": 10.0, "flc.grp": "b", "c_2023": 1.0, "Sex (M/F)": "F"}
    inputs, request_format = json_inputs.predict_inputs({"instances": [ORIGINAL, mixed]}, DTYPES)
    assert request_format == codec.ROW
    assert set(inputs) == set(DTYPES)
    np.testing.assert_array_equal(inputs["mean_radius"], [14.5, 10.0])
    assert inputs["Sex__M_F_"].tolist() == [b"M", b"F"]


def test_row_format_reads_objects_that_all_use_the_original_names():
    second = {**ORIGINAL, "mean radius": 9.5, "Sex (M/F)": "F"}
    inputs, _ = json_inputs.predict_inputs({"instances": [ORIGINAL, second]}, DTYPES)
    np.testing.assert_array_equal(inputs["mean_radius"], [14.5, 9.5])
    assert inputs["Sex__M_F_"].tolist() == [b"M", b"F"] and inputs["flc_grp"].tolist() == [b"a", b"a"]
    missing = {name: value for name, value in second.items() if name != "2023"}
    message = _refused(json_inputs.predict_inputs, {"instances": [ORIGINAL, missing]}, DTYPES)
    assert "Failed to process element: 1 of 'instances' list. JSON object:" in message
    assert "keys must be equal to: Sex__M_F_,c_2023,flc_grp,mean_radius" in message


def test_columnar_format_accepts_original_names():
    columns = {name: [value, value] for name, value in ORIGINAL.items()}
    inputs, request_format = json_inputs.predict_inputs({"inputs": columns}, DTYPES)
    assert request_format == codec.COLUMNAR
    assert set(inputs) == set(DTYPES)
    assert inputs["flc_grp"].tolist() == [b"a", b"a"]


def test_two_keys_naming_one_input_are_refused_naming_both():
    both = {**ORIGINAL, "mean_radius": 1.0}
    message = _refused(json_inputs.predict_inputs, {"instances": [ORIGINAL, both]}, DTYPES)
    assert message == (
        "element 1 of 'instances' list: keys 'mean radius' and 'mean_radius' both name the input 'mean_radius'; "
        "send only one"
    )
    columns = {name: [value] for name, value in {**ORIGINAL, "flc grp": "c"}.items()}
    message = _refused(json_inputs.predict_inputs, {"inputs": columns}, DTYPES)
    assert message == "'inputs' object: keys 'flc grp' and 'flc.grp' both name the input 'flc_grp'; send only one"


def test_an_unknown_name_is_still_refused_as_tf_serving_words_it():
    row = {**ORIGINAL, "mean.area": 1.0}
    message = _refused(json_inputs.predict_inputs, {"instances": [row]}, DTYPES)
    assert "JSON object: does not have named input: mean.area" in message


def test_renamed_keeps_a_mapping_that_needs_no_rename():
    values = {"mean_radius": 1, "flc_grp": 2}
    assert input_names.renamed(values, input_names.renames(values, DTYPES), "") is values
    assert input_names.renames(itertools.chain(ORIGINAL, ["unknown key"]), DTYPES) == {
        "mean radius": "mean_radius", "flc.grp": "flc_grp", "2023": "c_2023", "Sex (M/F)": "Sex__M_F_",
    }  # fmt: skip


def test_kfx_predict_rows_feed_each_input_from_its_raw_column():
    dtypes = {"mean_radius": np.dtype(np.float64), "flc_grp": np.dtype(object), "label": np.dtype(np.float64)}
    rows = [{"mean radius": "14.5", "flc.grp": "a", "label": "1", "ignored": "x"}, {"mean radius": "NA", "flc.grp": ""}]
    columns = request_rows.to_columns(rows, dtypes, "rows.csv", 0, {"NA", ""})
    assert list(columns) == list(dtypes)
    np.testing.assert_array_equal(columns["mean_radius"], [14.5, np.nan])
    assert columns["flc_grp"].tolist() == [b"a", b""]
    both = [{"mean radius": "1", "mean.radius": "2", "flc_grp": "a", "label": "0"}]
    with pytest.raises(request_rows.InputError) as raised:
        request_rows.to_columns(both, dtypes, "rows.csv", 0, set())
    assert str(raised.value) == (
        "rows.csv: columns 'mean radius' and 'mean.radius' both feed the signature input 'mean_radius'; "
        "keep one of them"
    )


WEIGHTS = {"Sex": 1.0, "alpha": 10.0, "Zeta": 100.0}


class _MixedCase(tf.Module):
    """score = 1 * Sex + 10 * alpha + 100 * Zeta: a reply shows which value fed which input."""

    @tf.function(input_signature=[{name: tf.TensorSpec([None], tf.float64, name=name) for name in WEIGHTS}])
    def score(self, request):
        return {"score": tf.add_n([request[name] * weight for name, weight in WEIGHTS.items()])}


def test_a_signature_with_upper_case_input_keys_is_called_flat_with_each_value_on_its_input(tmp_path):
    module = _MixedCase()
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.score.get_concrete_function()})
    signature = Servable("mixed", 1, str(tmp_path)).signature("serving_default")
    assert signature._flat  # the fast call: a loaded signature names its specs in lower case, its keys as saved
    inputs = {"Sex": np.array([1.0, 2.0]), "alpha": np.array([3.0, 4.0]), "Zeta": np.array([5.0, 6.0])}
    assert signature(inputs)["score"].numpy().tolist() == [531.0, 642.0]
