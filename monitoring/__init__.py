"""What happened and why, read back from ML Metadata and the artifacts: run summaries, lineage of served versions,
drift and skew reports, and the HTML run report."""
