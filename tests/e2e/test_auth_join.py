"""Agent join: a join token buys a node client certificate through a CSR; the node then sees only what
its own pods need. Bootstrap tokens (`kubelite token create|list|delete`) expire and can be revoked."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_harness import Server, temporary_server

from kubelite.client import ClientConfig, load_kubeconfig
from kubelite.client.bootstrap import CLIENT_CA_NAME, BootstrapError, bootstrap_node_credentials, ensure_client_ca

JOIN_SECRET = "e2e-join-secret"


@pytest.fixture(scope="module")
def srv() -> Iterator[Server]:
    with temporary_server("kubelite-join-", "--token", JOIN_SECRET) as server:
        yield server


def url(server: Server) -> str:
    return f"https://127.0.0.1:{server.port}"


def full_token(server: Server) -> str:
    return (server.data_dir / "server" / "token").read_text().strip()


def join(server: Server, token: str, node: str, directory: Path) -> Path:
    return asyncio.run(bootstrap_node_credentials(server=url(server), token=token, node_name=node,
                                                  directory=directory, wait_seconds=20))


def kubectl_as(kubeconfig: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(kubeconfig.parent))
    return subprocess.run(["kubectl", *args], capture_output=True, text=True, env=env, timeout=60, check=False)


def kubelite(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KUBECONFIG=str(server.kubeconfig))
    return subprocess.run([sys.executable, "-m", "kubelite", *args], capture_output=True, text=True, env=env,
                          timeout=60, check=False)


def test_server_token_file_has_the_k10_form(srv: Server) -> None:
    token = full_token(srv)
    assert token.startswith("K10") and token.endswith(f"::server:{JOIN_SECRET}")
    assert (srv.data_dir / "server" / "token").stat().st_mode & 0o777 == 0o600


def test_node_joins_and_is_confined_to_its_pods(srv: Server, tmp_path: Path) -> None:
    kubeconfig = join(srv, full_token(srv), "node-a", tmp_path / "node-a")
    assert kubeconfig.stat().st_mode & 0o777 == 0o600
    client_ca = (kubeconfig.parent / "client-ca.crt").read_bytes()
    assert client_ca.startswith(b"-----BEGIN CERTIFICATE-----")
    assert client_ca != (kubeconfig.parent / "ca.crt").read_bytes()
    who = json.loads(kubectl_as(kubeconfig, "auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert who["username"] == "system:node:node-a"
    assert "system:nodes" in who["groups"]
    csrs = json.loads(srv.kubectl("get", "csr", "-o", "json").stdout)["items"]
    assert any(c["spec"]["username"] == "system:bootstrap:kubelite-server-token" and
               any(cond["type"] == "Approved" for cond in c["status"]["conditions"]) for c in csrs)
    # a second join with the same directory reuses the certificate
    before = kubeconfig.read_bytes()
    assert join(srv, full_token(srv), "node-a", tmp_path / "node-a").read_bytes() == before

    for node, secret in (("node-a", "secret-a"), ("node-b", "secret-b")):
        srv.kubectl("create", "secret", "generic", secret, "--from-literal=k=v")
        srv.kubectl("apply", "-f", "-", input=json.dumps({
            "apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"pod-{node}"},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "busybox"}],
                     "volumes": [{"name": "s", "secret": {"secretName": secret}}]}}))
    deadline = time.monotonic() + 10
    while kubectl_as(kubeconfig, "get", "secret", "secret-a").returncode != 0:
        assert time.monotonic() < deadline, "node-a never got its own pod's secret"
        time.sleep(0.1)
    other = kubectl_as(kubeconfig, "get", "secret", "secret-b")
    assert other.returncode != 0
    assert ('secrets "secret-b" is forbidden: User "system:node:node-a" cannot get resource "secrets" in API group '
            '"" in the namespace "default": no relationship found between node \'node-a\' and this object'
            ) in other.stderr
    assert kubectl_as(kubeconfig, "get", "secrets").returncode != 0  # no listing of all secrets
    # ServiceAccount tokens only bound to a pod scheduled on this node (upstream's NodeRestriction)
    unbound = kubectl_as(kubeconfig, "create", "token", "default")
    assert 'serviceaccounts "default" is forbidden: node requested token not bound to a pod' in unbound.stderr
    uids = {n: json.loads(srv.kubectl("get", "pod", f"pod-{n}", "-o", "json").stdout)["metadata"]["uid"]
            for n in ("node-a", "node-b")}
    elsewhere = kubectl_as(kubeconfig, "create", "token", "default", "--bound-object-kind=Pod",
                           "--bound-object-name=pod-node-b", f"--bound-object-uid={uids['node-b']}")
    assert "node requested token bound to a pod scheduled on a different node" in elsewhere.stderr
    own = kubectl_as(kubeconfig, "create", "token", "default", "--bound-object-kind=Pod",
                     "--bound-object-name=pod-node-a", f"--bound-object-uid={uids['node-a']}")
    assert own.returncode == 0 and own.stdout.count(".") == 2, own.stderr
    # its own Node yes, another node's no
    node_a = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a"}}
    env = dict(os.environ, KUBECONFIG=str(kubeconfig), HOME=str(kubeconfig.parent))
    created = subprocess.run(["kubectl", "create", "-f", "-"], input=json.dumps(node_a), capture_output=True,
                             text=True, env=env, timeout=60, check=False)
    assert created.returncode == 0, created.stderr
    assert kubectl_as(kubeconfig, "label", "node", "node-a", "zone=a").returncode == 0
    srv.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "Node",
                                                      "metadata": {"name": "node-b"}}))
    refused = kubectl_as(kubeconfig, "label", "node", "node-b", "zone=b")
    assert refused.returncode != 0 and "node 'node-a' cannot modify node 'node-b'" in refused.stderr


def test_wrong_token_or_ca_hash_is_refused(srv: Server, tmp_path: Path) -> None:
    with pytest.raises(BootstrapError, match="401"):
        join(srv, "not-the-secret", "node-x", tmp_path / "x")
    forged = "K10" + "0" * 64 + f"::server:{JOIN_SECRET}"
    with pytest.raises(BootstrapError, match="does not match the hash"):
        join(srv, forged, "node-x", tmp_path / "x")
    assert not (tmp_path / "x" / "kubelet.kubeconfig").exists()


def test_bootstrap_tokens_expire_and_can_be_deleted(srv: Server, tmp_path: Path) -> None:
    # a TTL that outlives the next two CLI calls even on a loaded host (each starts a Python process)
    made = kubelite(srv, "token", "create", "--ttl", "8s", "--description", "e2e")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    listed = kubelite(srv, "token", "list")
    assert token in listed.stdout and "e2e" in listed.stdout
    lasting = kubelite(srv, "token", "create", "--ttl", "1h").stdout.strip()
    assert join(srv, lasting, "node-c", tmp_path / "c").exists()
    # past its TTL the token no longer authenticates
    deadline = time.monotonic() + 30
    attempt = 0
    while True:
        attempt += 1
        try:
            join(srv, token, "node-d", tmp_path / f"d{attempt}")
        except BootstrapError as exc:
            assert "401" in str(exc)
            break
        assert time.monotonic() < deadline, "an expired bootstrap token still works"
        time.sleep(0.5)
    # and the token cleaner removes it
    deadline = time.monotonic() + 30
    while token in kubelite(srv, "token", "list").stdout:
        assert time.monotonic() < deadline, "the expired token was never cleaned up"
        time.sleep(0.5)
    deleted = kubelite(srv, "token", "delete", lasting.split(".")[0])
    assert deleted.returncode == 0, deleted.stderr
    with pytest.raises(BootstrapError, match="401"):
        join(srv, lasting, "node-e", tmp_path / "e")
    bad = kubelite(srv, "token", "create", "NOT-A-TOKEN")
    assert bad.returncode != 0 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr


def test_manual_approval_with_kubectl_certificate_approve(srv: Server, tmp_path: Path) -> None:
    """A user certificate request waits for a human; `kubectl certificate approve` gets it signed."""
    subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(tmp_path / "k.pem"), "-out", str(tmp_path / "r.pem"), "-subj", "/O=devs/CN=erin"],
                   check=True, capture_output=True)
    srv.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "certificates.k8s.io/v1", "kind": "CertificateSigningRequest", "metadata": {"name": "erin"},
        "spec": {"request": base64.b64encode((tmp_path / "r.pem").read_bytes()).decode(),
                 "signerName": "kubernetes.io/kube-apiserver-client", "usages": ["client auth"],
                 "expirationSeconds": 86400}}))
    pending = json.loads(srv.kubectl("get", "csr", "erin", "-o", "json").stdout)
    assert not (pending.get("status") or {}).get("certificate")
    assert srv.kubectl("get", "csr", "erin").stdout.split("\n")[1].split()[-1] == "Pending"
    srv.kubectl("certificate", "approve", "erin")
    deadline = time.monotonic() + 10
    while not (json.loads(srv.kubectl("get", "csr", "erin", "-o", "json").stdout).get("status") or {}).get(
            "certificate"):
        assert time.monotonic() < deadline, "approved CSR was not signed"
        time.sleep(0.1)
    assert "Approved,Issued" in srv.kubectl("get", "csr", "erin").stdout


def test_kubelite_agent_joins_with_a_token(srv: Server, tmp_path: Path) -> None:
    """`kubelite agent --server --token` obtains its node credentials before anything else; a wrong token
    ends it with one line."""
    base = [sys.executable, "-m", "kubelite", "agent", "--server", url(srv), "--node-name", "agent-join",
            "--container-runtime-endpoint", str(tmp_path / "no-containerd.sock")]
    wrong = subprocess.run([*base, "--data-dir", str(tmp_path / "wrong"), "--token", "nope"], capture_output=True,
                           text=True, timeout=60, check=False)
    assert wrong.returncode != 0 and "refused the join token (401 Unauthorized)" in wrong.stderr
    assert "Traceback" not in wrong.stderr
    data_dir = tmp_path / "good"
    agent = subprocess.Popen([*base, "--data-dir", str(data_dir), "--token", full_token(srv)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        kubeconfigs: list[Path] = []
        while not kubeconfigs:
            assert agent.poll() is None, "the agent exited before joining"
            assert time.monotonic() < deadline, "the agent did not obtain node credentials"
            kubeconfigs = list(data_dir.rglob("kubelet.kubeconfig"))
            time.sleep(0.1)
    finally:
        agent.terminate()
        try:
            agent.wait(timeout=15)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait()
    who = json.loads(kubectl_as(kubeconfigs[0], "auth", "whoami", "-o", "json").stdout)
    assert who["status"]["userInfo"]["username"] == "system:node:agent-join"


def test_kubeconfig_agent_gets_the_client_ca_only_over_a_verified_connection(srv: Server, tmp_path: Path) -> None:
    """``kubelite agent --kubeconfig`` (no join): the kubelet's client CA comes from the server the kubeconfig
    trusts; a kubeconfig that skips verification, or a server with another CA, yields none."""
    config = load_kubeconfig(srv.kubeconfig)
    path = asyncio.run(ensure_client_ca(config=config, path=tmp_path / "agent" / CLIENT_CA_NAME))
    assert path.read_bytes() == (srv.data_dir / "server" / "tls" / "client-ca.crt").read_bytes()
    insecure = ClientConfig(server=config.server, insecure_skip_tls_verify=True)
    with pytest.raises(BootstrapError, match="skips TLS verification"):
        asyncio.run(ensure_client_ca(config=insecure, path=tmp_path / "insecure" / CLIENT_CA_NAME))
    stranger_ca = (srv.data_dir / "server" / "tls" / "client-ca.crt").read_bytes()  # not the serving CA
    wrong = ClientConfig(server=config.server, ca_data=stranger_ca)
    with pytest.raises(BootstrapError, match="cannot fetch the client CA"):
        asyncio.run(ensure_client_ca(config=wrong, path=tmp_path / "wrong" / CLIENT_CA_NAME))
    assert not (tmp_path / "wrong").exists() and not (tmp_path / "insecure").exists()
