"""What happened and why, read back from ML Metadata and the artifacts: run summaries, lineage of served versions,
drift and skew reports, the HTML run report, and the served versions' online quality against their outcomes."""
