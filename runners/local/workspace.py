"""The workspace of local runs: where ML Metadata, artifacts, pushed models, logs and reports live.

Every path has a default under one root folder (`./workspace`), and the metadata, artifact and serving paths can each
be moved elsewhere (ML Metadata in a team's MySQL/MariaDB or PostgreSQL database, a serving folder a model server
watches).
"""

import dataclasses
import os

from monitoring import connection
from runners.local import lock

METADATA_FILE = "metadata.sqlite"


@dataclasses.dataclass(frozen=True)
class Workspace:
    """Local state of runs: ML Metadata, artifacts, pushed models, logs and reports."""

    root: str
    pipeline_root: str
    metadata: str  # ML Metadata: a SQLite file's absolute path or a database URL (monitoring/connection.py)
    serving_dir: str
    logs_dir: str

    @classmethod
    def under(
        cls,
        root: str,
        pipeline_root: str | None = None,
        metadata: str | None = None,
        serving_dir: str | None = None,
    ) -> "Workspace":
        """The workspace at `root`, with each of the other paths at its default place unless given.

        connection.MetadataUnavailable when `metadata` is not a valid target (or holds a password).
        """
        root = os.path.abspath(root)
        return cls(
            root=root,
            pipeline_root=os.path.abspath(pipeline_root or os.path.join(root, "pipeline_root")),
            metadata=str(connection.parse(metadata or os.path.join(root, METADATA_FILE))),
            serving_dir=os.path.abspath(serving_dir or os.path.join(root, "serving_model")),
            logs_dir=os.path.join(root, "logs"),
        )

    @property
    def metadata_target(self) -> connection.Target:
        return connection.parse(self.metadata)

    def folders(self) -> list[str]:
        """Every folder a run writes to."""
        target = self.metadata_target
        metadata_folder = [os.path.dirname(target.path)] if target.is_file else []
        return [self.root, self.pipeline_root, self.serving_dir, self.logs_dir, *metadata_folder]

    def lock_paths(self) -> list[str]:
        """The workspace's lock file, and one beside a SQLite ML Metadata file that lives elsewhere (it may be shared
        and SQLite takes one writer at a time). A database server serves many runs at once: runs of two workspaces
        may share it."""
        paths = [os.path.join(self.root, lock.LOCK_FILE)]
        target = self.metadata_target
        if target.is_file and os.path.commonpath([self.root, target.path]) != self.root:
            paths.append(target.path + ".lock")
        return paths

    def recorded_metadata(self) -> str:
        """The ML Metadata target of earlier runs; FileNotFoundError naming the fix when it is a SQLite file that
        does not exist (a database is asked when opened)."""
        if not self.metadata_target.exists():
            raise FileNotFoundError(f"no ML Metadata at {self.metadata}: run `kfx run` first, or pass its --workspace")
        return self.metadata

    def report_path(self, run_id: str) -> str:
        """<workspace>/reports/run-<run id>.html, with ':' and '.' of the run id replaced to suit every file system."""
        safe_id = run_id.replace(":", "-").replace(".", "-")
        return os.path.join(self.root, "reports", f"run-{safe_id}.html")

    def serving_model_dir(self, model_name: str) -> str:
        """<serving dir>/<model name>: the Pusher writes versions below it, the model server watches it."""
        return os.path.join(self.serving_dir, model_name)
