"""`kfx submit`: a compiled spec to an open-source Kubeflow Pipelines backend (runners.kubeflow.submit).

Exit codes: 0 submitted (with --wait: succeeded); 1 the backend is unreachable, rejected the credentials or the
request, or the run failed; 2 bad input, nothing sent (both told in one line by kfx.cli, traceback with --verbose).
"""

import argparse
import dataclasses
import os
import sys

from kfx import options
from runners.kubeflow import connection, submit


def register(commands: argparse._SubParsersAction) -> None:
    """Adds `kfx submit`."""
    sub = commands.add_parser(
        "submit",
        allow_abbrev=False,  # `--token x` must not silently mean `--token-file x`
        help="submit the compiled pipeline.yaml to Kubeflow Pipelines (open-source KFP >= 2.0, REST API v2beta1)",
        description="Checks the compiled spec (schemaVersion 2.1.0) and --param names, connects with kfp.Client and "
        "creates a run or a recurring run. Secrets are read only from env vars or files, never from arguments.",
    )
    add = sub.add_argument
    add("--package", default=submit.DEFAULT_PACKAGE, help=f"compiled pipeline spec (default {submit.DEFAULT_PACKAGE})")
    add(
        "--host",
        default=os.environ.get("KF_PIPELINES_ENDPOINT"),
        help="KFP address (env KF_PIPELINES_ENDPOINT), e.g. http://localhost:3000 (port-forward of ml-pipeline-ui) "
        "or http://localhost:8080/pipeline (Kubeflow gateway)",
    )
    add("--namespace", help="Kubeflow profile namespace (multi-user Kubeflow; in a pod, defaults to the pod's)")
    add("--experiment", default="Default", help="experiment name; must exist (default 'Default')")
    add("--create-experiment", action="store_true", help="create the experiment if it does not exist")
    add("--run-name", help="display name (default '<pipeline name> <timestamp>')")
    add(
        "--pipeline-root",
        help="artifact root, gs://… or s3://…; required unless the namespace's kfp-launcher ConfigMap sets "
        "defaultPipelineRoot (TFX cannot use the backend's MinIO default)",
    )
    add(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="runtime parameter, repeatable; JSON if valid, else text",
    )
    add("--recurring", metavar="CRON", help="schedule instead: 6-field cron, seconds first ('0 0 3 * * *' = 03:00)")
    add("--max-concurrency", type=int, help="with --recurring: runs allowed at the same time (default 1)")
    add("--disable-caching", action="store_true", help="rerun every task (overrides the compile-time caching)")
    add("--wait", action="store_true", help="wait for the run to finish, printing its state changes")
    add("--timeout", type=float, default=3600.0, help="with --wait: give up after this many seconds (default 3600)")
    add("--poll-interval", type=float, default=10.0, help="with --wait: seconds between status checks (default 10)")
    add(
        "--auth",
        choices=submit.AUTH_MODES,
        default="none",
        help="none: standalone KFP; token: bearer token from KF_PIPELINES_TOKEN or --token-file; service-account: "
        f"in-cluster projected token (--token-file, {connection.SA_TOKEN_ENV}, default {connection.SA_TOKEN_DEFAULT}); "
        "cookie: Kubeflow session cookie from KF_PIPELINES_COOKIE or --cookie-file",
    )
    add("--token-file", metavar="PATH", help="file holding the token (--auth token or service-account)")
    add("--cookie-file", metavar="PATH", help="file holding the session cookie (--auth cookie)")
    options.add_verbose(sub, "kfp/HTTP logs (secrets redacted)")
    sub.set_defaults(func=run_submit)


def run_submit(args: argparse.Namespace) -> int:
    """Submits; SubmitError (exit 2) and BackendError (exit 1) carry messages that are already redacted."""
    fields = {field.name for field in dataclasses.fields(submit.SubmitOptions)}
    flags = {name: value for name, value in vars(args).items() if name in fields}
    try:
        submit.submit(submit.SubmitOptions(**{**flags, "param": tuple(args.param)}), os.environ, sys.stdout)
    except KeyboardInterrupt:
        print("interrupted; a run that was already created keeps running on the cluster", file=sys.stderr)
        return options.EXIT_INTERRUPTED
    return 0
