"""Outcomes that arrive after the predictions (ground truth), stored per (request id, row) for online quality."""
