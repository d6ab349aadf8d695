"""The usable CPU count comes from the container's limit (cgroup v2 or v1), not the node's CPUs."""

import os
import tempfile

import pytest

from runners import cpus

NODE_CPUS = len(os.sched_getaffinity(0))


def _cgroup(root, files: dict[str, str]):
    for name, text in files.items():
        os.makedirs(os.path.dirname(root / name), exist_ok=True)
        (root / name).write_text(text + "\n")
    return str(root)


@pytest.mark.parametrize(
    "files, limit",
    [
        ({"cpu.max": "max 100000"}, None),
        ({"cpu.max": "150000 100000"}, 1.5),
        ({"cpu.max": "50000 100000"}, 0.5),
        ({"cpu/cpu.cfs_quota_us": "-1", "cpu/cpu.cfs_period_us": "100000"}, None),
        ({"cpu/cpu.cfs_quota_us": "300000", "cpu/cpu.cfs_period_us": "100000"}, 3.0),
        ({}, None),
    ],
)
def test_the_limit_is_read_from_cgroup_v2_or_v1(tmp_path, files, limit):
    assert cpus.cpu_limit(_cgroup(tmp_path, files)) == limit


def test_a_limit_caps_the_node_count_and_never_goes_below_one(tmp_path):
    assert cpus.usable(_cgroup(tmp_path / "none", {"cpu.max": "max 100000"})) == NODE_CPUS
    assert cpus.usable(_cgroup(tmp_path / "half", {"cpu.max": "50000 100000"})) == 1
    assert cpus.usable(_cgroup(tmp_path / "big", {"cpu.max": f"{(NODE_CPUS + 8) * 100000} 100000"})) == NODE_CPUS
    if NODE_CPUS >= 2:
        assert cpus.usable(_cgroup(tmp_path / "one", {"cpu.max": "150000 100000"})) == 1


def test_worker_processes_only_from_the_measured_cpu_count():
    assert cpus.default_workers(cpus.MULTI_PROCESSING_MIN_CPUS - 1) == 1
    assert cpus.default_workers(cpus.MULTI_PROCESSING_MIN_CPUS) == cpus.MULTI_PROCESSING_MIN_CPUS
    assert cpus.direct_runner_args(6) == ["--direct_running_mode=multi_processing", "--direct_num_workers=6"]


def test_one_worker_takes_beams_defaults_so_tfx_does_not_repackage_itself(tmp_path, monkeypatch):
    """With any Beam argument, a TFX Beam executor copies the installed TFX into a new temporary directory and builds
    an sdist there for remote workers, left behind on every component of every run; with none it does not."""
    from apache_beam.options.pipeline_options import DirectOptions, PipelineOptions
    from tfx.components.statistics_gen.executor import Executor

    def temporary_files_of_an_executor(args: list[str]) -> list[str]:
        Executor(Executor.Context(beam_pipeline_args=args))
        return os.listdir(tmp_path)

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    options = PipelineOptions(cpus.direct_runner_args(1)).view_as(DirectOptions)
    assert (options.direct_running_mode, options.direct_num_workers) == ("in_memory", 1)
    assert temporary_files_of_an_executor(cpus.direct_runner_args(1)) == []
    assert temporary_files_of_an_executor(cpus.direct_runner_args(6)) != []  # the packaging this avoids
