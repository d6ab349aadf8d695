"""Turns TFDV anomalies into one readable line per problem (pure logic, no TFX types)."""

from tensorflow_metadata.proto.v0 import anomalies_pb2


def describe(anomalies_by_split: dict[str, anomalies_pb2.Anomalies]) -> list[str]:
    """One line per anomalous feature (and dataset-level problem), naming the split and what was expected."""
    lines = []
    for split, anomalies in sorted(anomalies_by_split.items()):
        for feature, info in sorted(anomalies.anomaly_info.items()):
            lines.append(f"[{split}] feature '{feature}': {_explain(info)}")
        if anomalies.HasField("dataset_anomaly_info"):
            lines.append(f"[{split}] dataset: {_explain(anomalies.dataset_anomaly_info)}")
    return lines


def _explain(info: anomalies_pb2.AnomalyInfo) -> str:
    reasons = [f"{r.short_description}: {r.description}" for r in info.reason if r.description or r.short_description]
    return "; ".join(reasons) or info.description or info.short_description


def split_by_columns(
    anomalies_by_split: dict[str, anomalies_pb2.Anomalies], columns: set[str]
) -> tuple[dict[str, anomalies_pb2.Anomalies], dict[str, anomalies_pb2.Anomalies]]:
    """(the anomalies of `columns` and of the dataset, those of every other column), split by split."""
    kept, ignored = {}, {}
    for split, anomalies in anomalies_by_split.items():
        kept[split], ignored[split] = anomalies_pb2.Anomalies(), anomalies_pb2.Anomalies()
        kept[split].CopyFrom(anomalies)
        for feature in list(anomalies.anomaly_info):
            if feature not in columns:
                ignored[split].anomaly_info[feature].CopyFrom(anomalies.anomaly_info[feature])
                del kept[split].anomaly_info[feature]
    return kept, ignored
