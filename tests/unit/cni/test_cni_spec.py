"""The CNI execution protocol: environment and stdin validation, result versions, errors."""

from __future__ import annotations

import json

import pytest

from kubelite.cni.spec import CNIError, convert_result, parse_cni_args, parse_request, version_result

BASE_ENV = {"CNI_COMMAND": "ADD", "CNI_CONTAINERID": "c1", "CNI_NETNS": "/run/netns/x", "CNI_IFNAME": "eth0"}
CONF = json.dumps({"cniVersion": "1.0.0", "name": "net", "type": "bridge"}).encode()


def test_a_valid_add_is_parsed() -> None:
    request = parse_request(dict(BASE_ENV, CNI_ARGS="K8S_POD_NAME=p;K8S_POD_NAMESPACE=ns", CNI_PATH="/a:/b"), CONF)
    assert (request.command, request.container_id, request.ifname) == ("ADD", "c1", "eth0")
    assert request.args == {"K8S_POD_NAME": "p", "K8S_POD_NAMESPACE": "ns"}
    assert request.path == ["/a", "/b"] and request.version == "1.0.0" and request.network_name == "net"


@pytest.mark.parametrize(("env", "stdin", "code", "words"), [
    pytest.param({"CNI_COMMAND": ""}, CONF, 4, "CNI_COMMAND", id="no-command"),
    pytest.param({"CNI_COMMAND": "FROB"}, CONF, 4, "FROB", id="unknown-command"),
    pytest.param({"CNI_NETNS": ""}, CONF, 4, "CNI_NETNS", id="add-without-netns"),
    pytest.param({"CNI_CONTAINERID": "a b"}, CONF, 4, "CNI_CONTAINERID", id="bad-container-id"),
    pytest.param({"CNI_IFNAME": "x" * 16}, CONF, 4, "CNI_IFNAME", id="long-ifname"),
    pytest.param({"CNI_ARGS": "novalue"}, CONF, 4, "CNI_ARGS", id="bad-args"),
    pytest.param({}, b"[1]", 6, "JSON object", id="not-an-object"),
    pytest.param({}, b"{", 6, "decode", id="bad-json"),
    pytest.param({}, json.dumps({"cniVersion": "0.2.0", "name": "n"}).encode(), 1, "incompatible", id="old-version"),
    pytest.param({}, json.dumps({"cniVersion": "1.0.0"}).encode(), 7, "name", id="no-name"),
    pytest.param({"CNI_COMMAND": "GC"}, CONF, 1, "1.1.0", id="gc-needs-1.1"),
    pytest.param({"CNI_COMMAND": "CHECK"}, json.dumps({"cniVersion": "0.3.1", "name": "n"}).encode(), 1, "0.4.0",
                 id="check-needs-0.4"),
])
def test_bad_calls_are_spec_errors(env: dict[str, str], stdin: bytes, code: int, words: str) -> None:
    with pytest.raises(CNIError) as err:
        parse_request(dict(BASE_ENV, **env), stdin)
    assert err.value.code == code
    assert words in f"{err.value.msg} {err.value.details}"
    body = err.value.to_json("1.0.0")
    assert body["code"] == code and body["msg"] and body["cniVersion"] == "1.0.0"


def test_del_needs_no_netns() -> None:
    assert parse_request(dict(BASE_ENV, CNI_COMMAND="DEL", CNI_NETNS=""), CONF).netns == ""


def test_version_needs_nothing_but_the_command() -> None:
    assert parse_request({"CNI_COMMAND": "VERSION"}, b"").command == "VERSION"
    assert "1.0.0" in version_result()["supportedVersions"]


def test_results_before_1_0_carry_the_ip_version() -> None:
    result = {"ips": [{"address": "10.0.0.2/24"}, {"address": "fd00::2/64"}]}
    old = convert_result(result, "0.3.1")
    assert old["cniVersion"] == "0.3.1" and [ip["version"] for ip in old["ips"]] == ["4", "6"]
    assert "version" not in convert_result(result, "1.0.0")["ips"][0]


def test_cni_args_may_be_empty() -> None:
    assert parse_cni_args("") == {} and parse_cni_args("A=1;;B=") == {"A": "1", "B": ""}
