"""Authentication and RBAC against a real server with stock kubectl and curl: 401s, 403s with upstream's
message, `kubectl auth can-i|whoami`, ServiceAccount tokens from `kubectl create token`, static tokens."""

from __future__ import annotations

import base64
import datetime
import json
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from e2e_harness import Server, temporary_server

TOKENS = 'static-secret-1,dana,uid-dana,"auditors"\n'


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    files = tmp_path_factory.mktemp("auth-files")
    (files / "tokens.csv").write_text(TOKENS)
    with temporary_server("kubelite-auth-", "--token-auth-file", str(files / "tokens.csv")) as server:
        yield server


def ca_file(server: Server) -> Path:
    path = server.data_dir / "ca-for-tests.crt"
    if not path.exists():
        cfg = yaml.safe_load(server.kubeconfig.read_text())
        path.write_bytes(base64.b64decode(cfg["clusters"][0]["cluster"]["certificate-authority-data"]))
    return path


def as_token(server: Server, token: str, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """kubectl with only a bearer token (no kubeconfig credentials)."""
    env = dict(os.environ, HOME=str(server.data_dir), KUBECONFIG="/dev/null")
    return subprocess.run(["kubectl", f"--server=https://127.0.0.1:{server.port}",
                           f"--certificate-authority={ca_file(server)}", f"--token={token}", *args],
                          capture_output=True, text=True, env=env, timeout=60, check=check)


def curl(server: Server, path: str, *extra: str) -> tuple[int, str]:
    done = subprocess.run(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--cacert", str(ca_file(server)),
                           *extra, f"https://127.0.0.1:{server.port}{path}"],
                          capture_output=True, text=True, timeout=30, check=False)
    body, _, code = done.stdout.rpartition("\n")
    return int(code or 0), body


def eventually(check: object, timeout: float = 10.0) -> None:
    """RBAC changes reach the authorizer through the watch cache: wait for them, never sleep blindly."""
    deadline = time.monotonic() + timeout
    while True:
        if check():  # type: ignore[operator]
            return
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.1)


def test_no_credentials_is_401_except_public_paths(srv: Server) -> None:
    code, body = curl(srv, "/api/v1/namespaces/default/pods")
    assert code == 401
    assert json.loads(body) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    for path in ("/healthz", "/livez", "/readyz", "/version"):
        assert curl(srv, path)[0] == 200, path
    assert curl(srv, "/cacerts")[1].startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize("token", [
    pytest.param("garbage", id="garbage"),
    pytest.param("abcdef.0123456789abcdef", id="unknown-bootstrap-token"),
    pytest.param("eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJ4In0.c2ln", id="bad-jwt"),
    pytest.param("a.b.c", id="not-base64-jwt"),
])
def test_malformed_tokens_get_a_clean_401(srv: Server, token: str) -> None:
    code, body = curl(srv, "/api/v1/pods", "-H", f"Authorization: Bearer {token}")
    assert code == 401
    assert json.loads(body)["reason"] == "Unauthorized"
    assert "Traceback" not in body


def test_view_user_can_get_but_not_create(srv: Server) -> None:
    srv.kubectl("create", "namespace", "viewing")
    srv.kubectl("create", "serviceaccount", "watcher", "-n", "viewing")
    srv.kubectl("create", "rolebinding", "watcher-view", "--clusterrole=view", "--serviceaccount=viewing:watcher",
                "-n", "viewing")
    token = srv.kubectl("create", "token", "watcher", "-n", "viewing", "--duration=15m").stdout.strip()
    eventually(lambda: as_token(srv, token, "get", "pods", "-n", "viewing").returncode == 0)
    denied = as_token(srv, token, "create", "configmap", "x", "-n", "viewing", "--from-literal=a=b")
    assert denied.returncode != 0
    assert ('configmaps is forbidden: User "system:serviceaccount:viewing:watcher" cannot create resource '
            '"configmaps" in API group "" in the namespace "viewing"') in denied.stderr
    # outside its namespace nothing is granted
    other = as_token(srv, token, "get", "pods", "-n", "default")
    assert "cannot list resource \"pods\" in API group \"\" in the namespace \"default\"" in other.stderr
    # can-i agrees with what actually happened
    assert as_token(srv, token, "auth", "can-i", "get", "pods", "-n", "viewing").stdout.strip() == "yes"
    assert as_token(srv, token, "auth", "can-i", "create", "configmaps", "-n", "viewing").stdout.strip() == "no"
    assert as_token(srv, token, "auth", "can-i", "get", "secrets", "-n", "viewing").stdout.strip() == "no"
    listing = as_token(srv, token, "auth", "can-i", "--list", "-n", "viewing").stdout
    assert "pods" in listing and "[get list watch]" in listing
    whoami = as_token(srv, token, "auth", "whoami", "-o", "json")
    assert json.loads(whoami.stdout)["status"]["userInfo"]["username"] == "system:serviceaccount:viewing:watcher"
    # the admin may impersonate it (`--as`) and gets the same answers
    as_sa = "--as=system:serviceaccount:viewing:watcher"
    assert srv.kubectl("auth", "can-i", "get", "pods", "-n", "viewing", as_sa, check=False).stdout.strip() == "yes"
    assert srv.kubectl("auth", "can-i", "delete", "pods", "-n", "viewing", as_sa,
                       check=False).stdout.strip() == "no"
    # but the account itself may not impersonate anyone
    refused = as_token(srv, token, "get", "pods", "-n", "viewing", "--as=system:admin")
    assert 'users "system:admin" is forbidden: User "system:serviceaccount:viewing:watcher" cannot impersonate ' \
           'resource "users" in API group "" at the cluster scope' in refused.stderr


def test_service_account_token_stops_after_account_deletion(srv: Server) -> None:
    srv.kubectl("create", "serviceaccount", "shortlived")
    srv.kubectl("create", "clusterrolebinding", "shortlived-view", "--clusterrole=view",
                "--serviceaccount=default:shortlived")
    token = srv.kubectl("create", "token", "shortlived", "--duration=10m", "--audience",
                        "https://kubernetes.default.svc.cluster.local").stdout.strip()
    eventually(lambda: as_token(srv, token, "get", "pods").returncode == 0)
    srv.kubectl("delete", "serviceaccount", "shortlived")
    eventually(lambda: "Unauthorized" in as_token(srv, token, "get", "pods").stderr)
    # a token for another audience is not accepted by the API server
    srv.kubectl("create", "serviceaccount", "other-aud")
    foreign = srv.kubectl("create", "token", "other-aud", "--audience", "vault").stdout.strip()
    assert "Unauthorized" in as_token(srv, foreign, "get", "pods").stderr
    # the minimum lifetime is upstream's 10 minutes
    short = srv.kubectl("create", "token", "other-aud", "--duration=1m", check=False)
    assert short.returncode != 0 and "may not specify a duration less than 10 minutes" in short.stderr


def test_static_token_file_user_and_group_bindings(srv: Server) -> None:
    assert json.loads(as_token(srv, "static-secret-1", "auth", "whoami", "-o", "json").stdout)["status"][
        "userInfo"]["groups"] == ["auditors", "system:authenticated"]
    assert as_token(srv, "static-secret-1", "get", "namespaces").returncode != 0
    srv.kubectl("create", "clusterrolebinding", "auditors-view", "--clusterrole=view", "--group=auditors")
    eventually(lambda: as_token(srv, "static-secret-1", "get", "pods", "-A").returncode == 0)
    srv.kubectl("delete", "clusterrolebinding", "auditors-view")
    eventually(lambda: as_token(srv, "static-secret-1", "get", "pods", "-A").returncode != 0)


def test_aggregated_roles_follow_labelled_cluster_roles(srv: Server) -> None:
    srv.kubectl("apply", "-f", "-", input=yaml.safe_dump({
        "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
        "metadata": {"name": "widgets-view", "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"}},
        "rules": [{"apiGroups": ["example.com"], "resources": ["widgets"], "verbs": ["get"]}]}))

    def aggregated() -> bool:
        rules = json.loads(srv.kubectl("get", "clusterrole", "view", "-o", "json").stdout)["rules"]
        return any("widgets" in r.get("resources", []) for r in rules)

    eventually(aggregated)
    # and from view into edit and admin
    eventually(lambda: "widgets" in srv.kubectl("get", "clusterrole", "admin", "-o", "json").stdout)


def test_tampered_client_certificate_is_refused(srv: Server, tmp_path: Path) -> None:
    """A certificate not signed by the cluster's client CA never authenticates (TLS refuses it cleanly)."""
    key = tmp_path / "k.pem"
    cert = tmp_path / "c.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/O=system:masters/CN=mallory", "-days", "1"],
                   check=True, capture_output=True)
    code, body = curl(srv, "/api/v1/pods", "--cert", str(cert), "--key", str(key))
    assert code in (0, 401)  # the handshake is refused, or the request is anonymous-refused
    assert "Traceback" not in body
    assert curl(srv, "/healthz")[0] == 200  # the server is unharmed


def signed_client_cert(srv: Server, directory: Path, *, hours: float) -> tuple[Path, Path]:
    """A system:masters certificate signed by the cluster's client CA, valid until now + ``hours``."""
    tls = srv.data_dir / "server" / "tls"
    ca = x509.load_pem_x509_certificate((tls / "client-ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((tls / "client-ca.key").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "system:masters"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, "old-admin")]))
            .issuer_name(ca.subject).public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=2)).not_valid_after(now + datetime.timedelta(hours=hours))
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))  # type: ignore[arg-type]
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                        serialization.NoEncryption()))
    return directory / "c.pem", directory / "k.pem"


def test_expired_client_certificate_is_refused(srv: Server, tmp_path: Path) -> None:
    """Signed by the real client CA, in system:masters: works while valid, refused once expired."""
    cert, key = signed_client_cert(srv, tmp_path / "valid", hours=1)
    assert curl(srv, "/api/v1/secrets", "--cert", str(cert), "--key", str(key))[0] == 200
    cert, key = signed_client_cert(srv, tmp_path / "expired", hours=-1)
    code, body = curl(srv, "/api/v1/secrets", "--cert", str(cert), "--key", str(key))
    assert code in (0, 401) and "Traceback" not in body
    assert curl(srv, "/healthz")[0] == 200


def _resigned(token: str, key_pem: bytes | None, **claims: object) -> str:
    """``token`` with ``claims`` changed, signed with ``key_pem`` (None: a fresh key the server never saw)."""
    header = jwt.get_unverified_header(token)
    payload = {**jwt.decode(token, options={"verify_signature": False}), **claims}
    if key_pem is None:
        key: object = (rsa.generate_private_key(public_exponent=65537, key_size=2048) if header["alg"] == "RS256"
                       else ec.generate_private_key(ec.SECP256R1()))
    else:
        key = serialization.load_pem_private_key(key_pem, password=None)
    return jwt.encode(payload, key, algorithm=header["alg"], headers={"kid": header.get("kid")})  # type: ignore[arg-type]


def test_service_account_token_expiry_and_signatures(srv: Server) -> None:
    """A token the server's own key signed stops working at its expiry; one signed by another key, or
    changed after signing, never works: each a clean 401."""
    srv.kubectl("create", "serviceaccount", "expiring")
    srv.kubectl("create", "clusterrolebinding", "expiring-view", "--clusterrole=view",
                "--serviceaccount=default:expiring")
    token = srv.kubectl("create", "token", "expiring", "--duration=10m").stdout.strip()
    eventually(lambda: as_token(srv, token, "get", "pods").returncode == 0)
    service_key = (srv.data_dir / "server" / "tls" / "service.key").read_bytes()
    now = int(time.time())
    # the control: the same claims re-signed with the server's key work, so only the change below matters
    assert as_token(srv, _resigned(token, service_key), "get", "pods").returncode == 0
    expired = _resigned(token, service_key, exp=now - 5, iat=now - 700, nbf=now - 700)
    foreign = _resigned(token, None)
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["sub"] = "system:serviceaccount:kube-system:default"
    tampered = ".".join((head, base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("="), signature))
    for bad in (expired, foreign, tampered):
        code, text = curl(srv, "/api/v1/pods", "-H", f"Authorization: Bearer {bad}")
        assert code == 401 and json.loads(text)["reason"] == "Unauthorized" and "Traceback" not in text
        assert "Unauthorized" in as_token(srv, bad, "get", "pods").stderr


def test_garbage_on_the_tls_port_is_refused_cleanly(srv: Server) -> None:
    for garbage in (os.urandom(512), b"GET /api/v1/pods HTTP/1.1\r\nHost: x\r\n\r\n", b"\x16\x03\x01\x00\x05hello"):
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as conn:
            conn.sendall(garbage)
            try:
                answer = conn.recv(4096)
            except (ConnectionResetError, TimeoutError):
                answer = b""
        assert b"Traceback" not in answer and b"api/v1" not in answer
    assert curl(srv, "/healthz")[0] == 200
    assert "Traceback" not in srv.log.read_text()


def test_legacy_service_account_token_secret(srv: Server) -> None:
    """A hand-made kubernetes.io/service-account-token Secret gets a token (upstream's tokens controller)
    that authenticates as the account until the Secret is deleted."""
    srv.kubectl("create", "serviceaccount", "legacy")
    srv.kubectl("create", "clusterrolebinding", "legacy-view", "--clusterrole=view", "--serviceaccount=default:legacy")
    srv.kubectl("apply", "-f", "-", input=json.dumps({
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
        "metadata": {"name": "legacy-token", "annotations": {"kubernetes.io/service-account.name": "legacy"}}}))
    found: dict[str, str] = {}

    def filled() -> bool:
        found.update(json.loads(srv.kubectl("get", "secret", "legacy-token", "-o", "json").stdout).get("data") or {})
        return "token" in found

    eventually(filled)
    assert base64.b64decode(found["namespace"]) == b"default"
    assert base64.b64decode(found["ca.crt"]) == ca_file(srv).read_bytes()
    token = base64.b64decode(found["token"]).decode()
    who = json.loads(as_token(srv, token, "auth", "whoami", "-o", "json").stdout)["status"]["userInfo"]
    assert who["username"] == "system:serviceaccount:default:legacy"
    eventually(lambda: as_token(srv, token, "get", "pods").returncode == 0)
    srv.kubectl("delete", "secret", "legacy-token")
    eventually(lambda: "Unauthorized" in as_token(srv, token, "get", "pods").stderr)
