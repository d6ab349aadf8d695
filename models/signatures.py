"""Names of the exported model's signatures, their inputs and outputs: what TFMA, the monitor and clients call.

No TensorFlow here, so the pipeline's evaluation config and the skew monitor can name a signature without importing
the exporter (TensorFlow, Keras and tf.Transform).
"""

SERVING_SIGNATURE = "serving_default"  # one input per raw feature
EXAMPLES_SIGNATURE = "from_examples"  # serialized tf.Example under EXAMPLES_INPUT
TRANSFORM_SIGNATURE = "transform_features"  # serialized tf.Example to transformed features (TFMA's preprocessing)
EXAMPLES_INPUT = "examples"
SCORE_OUTPUT = "score"
