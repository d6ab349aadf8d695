"""Executor of the atomic Pusher: TFX's Pusher, with the copy to the serving folder done by `publish`, and never a
second copy of a model already there."""

import time
from typing import Any

from absl import logging
from tfx import types
from tfx.components.pusher import executor as pusher_executor
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import io_utils, proto_utils

from components.atomic_pusher import fingerprint, publish
from components.atomic_pusher.properties import FINGERPRINT_PROPERTY, IDENTICAL_VERSION_PROPERTY
from serving import versions

_TIMESTAMP_VERSIONING = (pusher_pb2.Versioning.AUTO, pusher_pb2.Versioning.UNIX_TIMESTAMP)


class Executor(pusher_executor.Executor):
    """Pushes a blessed model to `<base_directory>/<unix time>/`, complete or not at all, unless a version there
    already holds the same model (fingerprint.py)."""

    def Do(
        self,
        input_dict: dict[str, list[types.Artifact]],
        output_dict: dict[str, list[types.Artifact]],
        exec_properties: dict[str, Any],
    ) -> None:
        destination = pusher_pb2.PushDestination()
        proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
        if destination.WhichOneof("destination") != "filesystem" or (
            destination.filesystem.versioning not in _TIMESTAMP_VERSIONING
        ):
            super().Do(input_dict, output_dict, exec_properties)  # TFX's own handling (and errors) of the rest
            return
        self._log_startup(input_dict, output_dict, exec_properties)
        model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
        if not self.CheckBlessing(input_dict):
            self._MarkNotPushed(model_push)
            return
        model_path = self.GetModelPath(input_dict)
        model_fingerprint = fingerprint.fingerprint(model_path)
        model_push.set_string_custom_property(FINGERPRINT_PROPERTY, model_fingerprint)
        base_directory = destination.filesystem.base_directory
        identical = fingerprint.identical_version(model_fingerprint, versions.complete_versions(base_directory))
        if identical is not None:
            logging.info("Not pushed: version %s in %s holds the same model.", identical, base_directory)
            model_push.set_int_custom_property(IDENTICAL_VERSION_PROPERTY, identical)
            self._MarkNotPushed(model_push)
            return
        version = str(int(time.time()))
        serving_path = publish.publish(model_path, base_directory, version)
        logging.info("Model written to serving path %s.", serving_path)
        io_utils.copy_dir(model_path, model_push.uri)  # the pushed_model artifact keeps its own copy, as in TFX
        self._MarkPushed(model_push, pushed_destination=serving_path, pushed_version=version)
