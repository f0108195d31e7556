"""JSON type errors in request bodies, worded as Go's encoding/json words them (kubelite.api.openapi.type_errors).

The expected lines are what upstream's decoder answers for the same bodies (the struct named is the
innermost Go struct, the path has no list positions or map keys, the type is the field's Go type).
"""

from __future__ import annotations

from typing import Any

import pytest

from kubelite.api.openapi.type_errors import first_type_error

POD = "io.k8s.api.core.v1.Pod"
DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"


@pytest.mark.parametrize(("definition", "body", "error"), [
    pytest.param(POD, {"metadata": {"name": "a"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}, None,
                 id="valid"),
    pytest.param(POD, {"spec": "x"}, "json: cannot unmarshal string into Go struct field Pod.spec of type v1.PodSpec",
                 id="spec-string"),
    pytest.param(POD, {"metadata": "x"},
                 "json: cannot unmarshal string into Go struct field Pod.metadata of type v1.ObjectMeta",
                 id="metadata-string"),
    pytest.param(POD, {"metadata": {"labels": {"a": 1}}},
                 "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string",
                 id="label-number"),
    pytest.param(POD, {"metadata": {"finalizers": {"a": "b"}}},
                 "json: cannot unmarshal object into Go struct field ObjectMeta.metadata.finalizers of type []string",
                 id="finalizers-object"),
    pytest.param(POD, {"spec": {"containers": [{"name": 5}]}},
                 "json: cannot unmarshal number into Go struct field Container.spec.containers.name of type string",
                 id="nested-in-list"),
    pytest.param(POD, {"spec": {"hostNetwork": "true"}},
                 "json: cannot unmarshal string into Go struct field PodSpec.spec.hostNetwork of type bool",
                 id="bool-string"),
    pytest.param(DEPLOYMENT, {"spec": {"replicas": 1.5}},
                 "json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32",
                 id="fraction-into-int"),
    pytest.param(DEPLOYMENT, {"spec": {"replicas": 2**31}},
                 "json: cannot unmarshal number 2147483648 into Go struct field DeploymentSpec.spec.replicas of type "
                 "int32", id="int32-overflow"),
    pytest.param(POD, {"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": 1}},
                                                "ports": [{"containerPort": 80}]}]}}, None,
                 id="quantity-number-is-the-quantity-decoders-business"),
    pytest.param(POD, {"spec": None, "metadata": {"labels": None}}, None, id="null-fits-anything"),
    pytest.param("io.k8s.api.core.v1.Secret", {"data": {"k": 1}},
                 "json: cannot unmarshal number into Go struct field Secret.data of type []uint8", id="bytes"),
])
def test_first_type_error(definition: str, body: dict[str, Any], error: str | None) -> None:
    assert first_type_error(definition, body) == error


def test_the_first_error_in_document_order_is_reported() -> None:
    body = {"metadata": {"name": 1}, "spec": "x"}
    assert first_type_error(POD, body) == (
        "json: cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type string")
