"""Offline checks of kubeflow/serving/overlays/canary: two TF Serving deployments and a weighted Gateway API split.

The core objects are checked against the Kubernetes schemas, as in test_manifests.py. The HTTPRoute and GRPCRoute
are checked against the Gateway API's own schemas (schemas/gateway-api-v1.2.1.json: the v1 openAPIV3Schema of the
standard channel's CRDs, kubernetes-sigs/gateway-api v1.2.1, descriptions and CEL rules dropped), made strict as
`kubectl apply --validate=strict` is: an unknown or misspelled field fails.
"""

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2
from test_manifests import GRPC_PORT, KUBERNETES_VERSION, REST_PORT, find, render

CANARY_DIR = Path(__file__).resolve().parents[2] / "kubeflow" / "serving" / "overlays" / "canary"
GATEWAY_SCHEMAS = json.loads((Path(__file__).parent / "schemas" / "gateway-api-v1.2.1.json").read_text())
ROUTE_KINDS = ("HTTPRoute", "GRPCRoute")
WEIGHTS = {"tf-serving-stable": 95, "tf-serving-canary": 5}


def _strict(schema: Any) -> Any:
    """The schema with unknown fields refused wherever it lists the fields (as the API server's strict validation)."""
    if isinstance(schema, dict):
        schema = {key: _strict(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


VALIDATORS = {kind: jsonschema.Draft7Validator(_strict(GATEWAY_SCHEMAS[kind])) for kind in ROUTE_KINDS}


def validate_route(route: dict[str, Any]) -> None:
    assert route["apiVersion"] == "gateway.networking.k8s.io/v1"
    VALIDATORS[route["kind"]].validate(route)


@pytest.fixture(scope="module")
def canary() -> list[dict[str, Any]]:
    return render(CANARY_DIR)


def named(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == kind}


def test_renders_two_deployments_behind_a_weighted_split(canary):
    kinds = sorted(obj["kind"] for obj in canary)
    assert kinds == sorted(
        ["ServiceAccount", "ConfigMap", "Service", "Deployment", "HorizontalPodAutoscaler"] * 2
        + ["PersistentVolumeClaim", "HTTPRoute", "GRPCRoute"]
    )
    assert set(named(canary, "Deployment")) == set(named(canary, "Service")) == set(WEIGHTS)


def test_every_object_matches_its_schema(canary):
    for obj in canary:
        if obj["kind"] in ROUTE_KINDS:
            validate_route(obj)
        else:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize(
    "breakage",
    [
        lambda route: route["spec"]["rules"][0]["backendRefs"][0].update(wieght=95),  # misspelled
        lambda route: route["spec"]["rules"][0]["backendRefs"][0].update(weight="95"),
        lambda route: route["spec"]["rules"][0]["backendRefs"][0].update(weight=-1),
        lambda route: route["spec"]["rules"][0]["backendRefs"][0].pop("name"),
    ],
)
def test_the_route_schema_check_rejects_a_broken_route(canary, breakage):
    for route in (find(canary, "HTTPRoute"), find(canary, "GRPCRoute")):
        broken = copy.deepcopy(route)
        breakage(broken)
        with pytest.raises(jsonschema.ValidationError):
            validate_route(broken)


def test_each_service_selects_its_own_deployments_pods_only(canary):
    deployments = named(canary, "Deployment")
    for name, service in named(canary, "Service").items():
        selector = service["spec"]["selector"].items()
        for other, deployment in deployments.items():
            pod_labels = deployment["spec"]["template"]["metadata"]["labels"].items()
            assert (selector <= pod_labels) == (other == name), (name, other)


def test_routes_split_rest_and_grpc_by_the_same_weights(canary):
    for kind, port in (("HTTPRoute", REST_PORT), ("GRPCRoute", GRPC_PORT)):
        (rule,) = find(canary, kind)["spec"]["rules"]
        backends = {ref["name"]: (ref["port"], ref["weight"]) for ref in rule["backendRefs"]}
        assert backends == {name: (port, weight) for name, weight in WEIGHTS.items()}, kind
        for name in backends:
            service_ports = {p["port"] for p in named(canary, "Service")[name]["spec"]["ports"]}
            assert port in service_ports
    assert find(canary, "HTTPRoute")["spec"]["rules"][0]["matches"][0]["path"]["value"] == "/v1/models/chicago_taxi"
    grpc_match = find(canary, "GRPCRoute")["spec"]["rules"][0]["matches"][0]["method"]
    assert grpc_match["service"] == "tensorflow.serving.PredictionService"


def test_each_deployment_serves_one_pinned_version_from_the_same_claim(canary):
    config_maps = named(canary, "ConfigMap")
    versions, claims = {}, set()
    for name, deployment in named(canary, "Deployment").items():
        volumes = deployment["spec"]["template"]["spec"]["volumes"]
        (config_volume,) = [v for v in volumes if "configMap" in v]
        text = config_maps[config_volume["configMap"]["name"]]["data"]["models.config"]
        (model,) = text_format.Parse(text, model_server_config_pb2.ModelServerConfig()).model_config_list.config
        assert model.name == "chicago_taxi"
        (versions[name],) = model.model_version_policy.specific.versions
        claims |= {v["persistentVolumeClaim"]["claimName"] for v in volumes if "persistentVolumeClaim" in v}
    assert len(set(versions.values())) == 2
    assert claims == set(named(canary, "PersistentVolumeClaim"))
    for name, hpa in named(canary, "HorizontalPodAutoscaler").items():
        assert hpa["spec"]["scaleTargetRef"]["name"] == name
