"""A TF-Serving-compatible model server and client for SavedModels in TF Serving's `<base>/<version>/` layout.

Stands alone: TensorFlow, the TF Serving protos, grpcio and aiohttp, nothing from the pipeline or TFX.
"""
