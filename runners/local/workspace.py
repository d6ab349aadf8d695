"""The workspace of local runs: where ML Metadata, artifacts, pushed models, logs and reports live.

Every path has a default under one root folder (`./workspace`), and the metadata, artifact and serving paths can each
be moved elsewhere (a shared ML Metadata file, a serving folder a model server watches).
"""

import dataclasses
import os

from runners.local import lock

METADATA_FILE = "metadata.sqlite"


@dataclasses.dataclass(frozen=True)
class Workspace:
    """Local state of runs: ML Metadata, artifacts, pushed models, logs and reports."""

    root: str
    pipeline_root: str
    metadata_path: str
    serving_dir: str
    logs_dir: str

    @classmethod
    def under(
        cls,
        root: str,
        pipeline_root: str | None = None,
        metadata_path: str | None = None,
        serving_dir: str | None = None,
    ) -> "Workspace":
        """The workspace at `root`, with each of the other paths at its default place unless given."""
        root = os.path.abspath(root)
        return cls(
            root=root,
            pipeline_root=os.path.abspath(pipeline_root or os.path.join(root, "pipeline_root")),
            metadata_path=os.path.abspath(metadata_path or os.path.join(root, METADATA_FILE)),
            serving_dir=os.path.abspath(serving_dir or os.path.join(root, "serving_model")),
            logs_dir=os.path.join(root, "logs"),
        )

    def folders(self) -> list[str]:
        """Every folder a run writes to."""
        return [self.root, self.pipeline_root, self.serving_dir, self.logs_dir, os.path.dirname(self.metadata_path)]

    def lock_paths(self) -> list[str]:
        """The workspace's lock file, and one beside ML Metadata when it lives elsewhere (it may be shared)."""
        paths = [os.path.join(self.root, lock.LOCK_FILE)]
        if os.path.commonpath([self.root, self.metadata_path]) != self.root:
            paths.append(self.metadata_path + ".lock")
        return paths

    def recorded_metadata(self) -> str:
        """The ML Metadata file of earlier runs; FileNotFoundError naming the fix when there is none."""
        if not os.path.isfile(self.metadata_path):
            raise FileNotFoundError(
                f"no ML Metadata at {self.metadata_path}: run `kfx run` first, or pass its --workspace"
            )
        return self.metadata_path

    def report_path(self, run_id: str) -> str:
        """<workspace>/reports/run-<run id>.html, with ':' and '.' of the run id replaced to suit every file system."""
        safe_id = run_id.replace(":", "-").replace(".", "-")
        return os.path.join(self.root, "reports", f"run-{safe_id}.html")

    def serving_model_dir(self, model_name: str) -> str:
        """<serving dir>/<model name>: the Pusher writes versions below it, the model server watches it."""
        return os.path.join(self.serving_dir, model_name)
