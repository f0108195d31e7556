"""The security of one API server, assembled: authenticators, authorizers, the default policy and
the background loops that keep them current.

Design
------
``ClusterSecurity`` is built by ``kubelite server`` after the registry and before the listener:

* the authenticator union (x509, ``--token-auth-file``, the server join token, bootstrap tokens,
  ServiceAccount JWTs) reads objects through ``get_object``: the watch cache first, the store on a miss
  (a token created a moment ago must work at once);
* the authorizer union (Node, then RBAC; ``system:masters`` first) answers from the watch cache;
* ``start()`` reconciles the default RBAC policy, then runs three loops on watch-cache watches: RBAC
  changes invalidate the RBAC index and drive ClusterRole aggregation; CSRs are approved and signed.

The in-process controllers keep using the admin (``system:masters``) loopback kubeconfig, so turning
authorization on never locks the control plane out of its own API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from kubelite.controlplane.admission import (
    limitranger,
    namespace_lifecycle,
    node_restriction,
    pod_security,
    priority,
    resourcequota,
    serviceaccount,
)
from kubelite.controlplane.admission.chain import Admission
from kubelite.controlplane.admission.config import load_admission_configuration
from kubelite.controlplane.apiserver import errors
from kubelite.controlplane.apiserver.registry import Registry, WriteOptions
from kubelite.controlplane.apiserver.resources import ResourceInfo, ResourceTable
from kubelite.controlplane.apiserver.watchcache import WatchClosed, decode, resource_prefix
from kubelite.controlplane.auth import bootstrap_policy, rbac
from kubelite.controlplane.auth.authentication import Authenticator, StaticTokenFile, TokenAuthenticator
from kubelite.controlplane.auth.authorization import Authorizers
from kubelite.controlplane.auth.bootstrap_token import NAMESPACE as BOOTSTRAP_NAMESPACE
from kubelite.controlplane.auth.bootstrap_token import SECRET_TYPE as BOOTSTRAP_SECRET_TYPE
from kubelite.controlplane.auth.bootstrap_token import (
    BootstrapTokenAuthenticator,
    ServerTokenAuthenticator,
    expiration,
    secret_data,
)
from kubelite.controlplane.auth.csr import PREFIX as CSR_PREFIX
from kubelite.controlplane.auth.csr import CSRSigner
from kubelite.controlplane.auth.kubeconfig import kubeconfig_yaml, write_kubeconfig
from kubelite.controlplane.auth.node_authorizer import NodeAuthorizer
from kubelite.controlplane.auth.pki import ClusterPKI, write_file_atomically
from kubelite.controlplane.auth.serviceaccount_token import LEGACY_SECRET_TYPE, ServiceAccountTokens

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class ClusterSecurity:
    def __init__(self, *, registry: Registry, table: ResourceTable, pki: ClusterPKI, server_token: str = "",
                 token_auth_file: Path | None = None, admission_config: Path | None = None) -> None:
        self.registry = registry
        self.table = table
        self.pki = pki
        cache = registry.cache
        self.sa_tokens = ServiceAccountTokens(private_key_pem=pki.service_key.read_bytes(), get_object=self.get_object)
        tokens: list[TokenAuthenticator] = []
        if token_auth_file is not None:
            tokens.append(StaticTokenFile.load(token_auth_file))
        if server_token:
            tokens.append(ServerTokenAuthenticator(server_token))
        tokens += [BootstrapTokenAuthenticator(self.get_object), self.sa_tokens]
        self.authenticator = Authenticator(token_authenticators=tokens)
        self.rbac = rbac.RBACAuthorizer(lambda prefix: cache.snapshot(prefix, prefix)[0])
        self.node = NodeAuthorizer(lambda prefix, key_prefix: cache.snapshot(prefix, key_prefix)[0], cache.get)
        self.authorizer = Authorizers([self.node, self.rbac])
        self.signer = CSRSigner(pki=pki, authorizer=self.authorizer, update_status=self._update_csr)
        self.admission = Admission(
            plugins=[node_restriction.admit, serviceaccount.admit, limitranger.admit,
                     pod_security.PodSecurity(load_admission_configuration(admission_config).pod_security).admit,
                     priority.admit, resourcequota.admit],
            list_objects=lambda prefix, key_prefix: cache.snapshot(prefix, key_prefix)[0],
            get_object=self.get_object, read_fresh=self.read_fresh, write_quota_used=self.write_quota_used,
            delete_plugins=[namespace_lifecycle.admit, node_restriction.admit])
        self._tasks: list[asyncio.Task[None]] = []
        self.aggregating = True

    def _info(self, group: str, plural: str) -> ResourceInfo:
        info = self.table.get(group, "v1", plural)
        assert info is not None, plural
        return info

    async def get_object(self, key: str) -> Obj | None:
        obj = self.registry.cache.get(resource_prefix(key), key)
        if obj is not None:
            return obj
        kv = await self.registry.store.get(key)
        return decode(kv) if kv is not None else None

    async def read_fresh(self, key: str) -> Obj | None:
        """The store's current object: a compare-and-swap must start from it, never from the cache."""
        kv = await self.registry.store.get(key)
        return decode(kv) if kv is not None else None

    async def write_quota_used(self, namespace: str, name: str, resource_version: str, used: dict[str, str]) -> bool:
        """ResourceQuota admission's charge: ``status.used`` of a quota still at ``resource_version``;
        False when another write changed the quota since (the caller re-reads and re-checks)."""
        def put(current: Obj) -> Obj:
            status = current.setdefault("status", {})
            status["used"] = used
            # a charge that comes before the resync's first pass leaves a whole status, as upstream's
            # controller would have written it (kubectl get quota reads used/hard together)
            status.setdefault("hard", dict((current.get("spec") or {}).get("hard") or {}))
            current["metadata"]["resourceVersion"] = resource_version
            return current

        try:
            await self.registry.update(self._info("", "resourcequotas"), namespace, name, put,
                                       WriteOptions(field_manager="kube-apiserver"), subresource="status")
        except errors.APIError as exc:
            if exc.code == 409:
                return False
            if exc.code != 404:  # a quota deleted meanwhile constrains nothing
                raise
        return True

    # ---- start-up --------------------------------------------------------------------------------

    async def start(self, *, controllers: bool = True) -> None:
        """Reconcile the default policy and start the RBAC index; with ``controllers`` also what upstream's
        kube-controller-manager runs here (clusterrole aggregation, CSR approving and signing, the root CA
        publisher, the token cleaner, the legacy ServiceAccount token filler), which ``kubelite server
        --disable-controllers`` turns off. The
        ResourceQuota status resync always runs (see below)."""
        await self.ensure_policy()
        self.registry.admission = self.admission
        self.aggregating = controllers
        # the quota resync runs with every API server, controllers or not: admission charges status.used, and
        # only this loop gives back what deleted objects (or writes that failed after admission) held, and
        # `kubelite controller-manager` does not run it
        self._tasks = [asyncio.create_task(self._watch_rbac(), name="rbac-index"),
                       asyncio.create_task(self._quota_status(), name="resourcequota-status")]
        if controllers:
            self._tasks += [
                asyncio.create_task(self.signer.run(lambda: self._objects(CSR_PREFIX)), name="csr-signer"),
                asyncio.create_task(self._publish_root_ca(), name="root-ca-publisher"),
                asyncio.create_task(self._clean_tokens(), name="token-cleaner"),
                asyncio.create_task(self._fill_legacy_tokens(), name="serviceaccount-tokens")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def ensure_policy(self) -> None:
        async def get(resource: str, name: str) -> Obj | None:
            try:
                return await self.registry.get(self._info("rbac.authorization.k8s.io", resource), None, name)
            except errors.APIError as exc:
                if exc.code == 404:
                    return None
                raise

        async def create(resource: str, obj: Obj) -> None:
            try:
                await self.registry.create(self._info("rbac.authorization.k8s.io", resource), None, obj,
                                           WriteOptions(field_manager="kubelite-bootstrap"))
            except errors.APIError as exc:
                if exc.code != 409:  # another server of an HA cluster created it first
                    raise

        async def update(resource: str, name: str, mutate: Callable[[Obj], Obj]) -> None:
            await self.registry.update(self._info("rbac.authorization.k8s.io", resource), None, name, mutate,
                                       WriteOptions(field_manager="kubelite-bootstrap"), precondition_from_body=False)

        changed = await bootstrap_policy.ensure_policy(get=get, create=create, update=update)
        if changed:
            log.info("default RBAC policy: created or updated %d roles and bindings", len(changed))
        await self.aggregate()

    # ---- loops -----------------------------------------------------------------------------------

    async def _objects(self, prefix: str) -> AsyncIterator[Obj]:
        """Every object under ``prefix`` now, then each change; ends when the watch is closed."""
        cache = self.registry.cache
        initial, watcher, _ = await cache.watch(prefix, prefix, after_revision=None, predicate=None)
        try:
            for event in initial:
                yield event.obj
            async for item in cache.events(watcher, timeout=None):
                if item is not None and item.type != "DELETED":
                    yield item.obj
                elif item is not None:
                    yield {}
        except WatchClosed:
            return
        finally:
            cache.unwatch(prefix, watcher)

    async def _watch_rbac(self) -> None:
        async def one(prefix: str) -> None:
            while True:
                try:
                    async for _ in self._objects(prefix):
                        self.rbac.invalidate()
                        if prefix == rbac.CLUSTER_ROLES and self.aggregating:
                            aggregation_needed.set()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("rbac watch on %s failed (%s); restarting", prefix, exc)
                self.rbac.invalidate()
                await asyncio.sleep(0.2)

        async def aggregator() -> None:
            # a burst of ClusterRole events (start-up, kubectl apply -f dir/) costs one aggregation pass
            while True:
                await aggregation_needed.wait()
                aggregation_needed.clear()
                try:
                    await self.aggregate()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("clusterrole aggregation failed (%s); retrying", exc)
                    aggregation_needed.set()
                    await asyncio.sleep(0.5)

        aggregation_needed = asyncio.Event()
        await asyncio.gather(aggregator(), *(one(prefix) for prefix in rbac.PREFIXES))

    async def aggregate(self) -> None:
        """ClusterRole aggregation (upstream's clusterroleaggregation controller)."""
        info = self._info("rbac.authorization.k8s.io", "clusterroles")
        roles = (await self.registry.list(info, None)).items
        for name, rules in rbac.aggregate(roles).items():
            def put(current: Obj, rules: list[Obj] = rules) -> Obj:
                current["rules"] = rules
                return current

            try:
                await self.registry.update(info, None, name, put, WriteOptions(field_manager="clusterrole-aggregator"),
                                           precondition_from_body=False)
            except errors.APIError as exc:
                log.warning("aggregating clusterrole %s: %s", name, exc.message)

    async def _quota_status(self, *, period: float = 1.0) -> None:
        """Upstream's resourcequota controller, as a resync: status.hard and status.used of every quota.

        ``used`` counted from the watch cache may be lower than what admission charged a moment ago for a
        write that has not reached the cache yet; lowering it then would let another write take the same
        slot. So a lower count replaces the recorded one only when two passes ``period`` apart saw the same
        count and the same recorded value, and the store still holds that value (a charge that was never
        followed by its object, or a deleted object); a higher one is written at once."""
        quotas = self._info("", "resourcequotas")
        cache = self.registry.cache
        seen: dict[str, tuple[dict[str, str], dict[str, str]]] = {}

        def listed(prefix: str, key_prefix: str) -> list[Obj]:
            return cache.snapshot(prefix, key_prefix)[0]

        while True:
            for quota in listed("/core/resourcequotas/", "/core/resourcequotas/"):
                md = quota["metadata"]
                key = f"{md['namespace']}/{md['name']}"
                hard = dict((quota.get("spec") or {}).get("hard") or {})
                counted = resourcequota.quota_used(hard, md["namespace"], listed, spec=quota.get("spec"))
                recorded = (quota.get("status") or {}).get("used") or {}
                confirmed = seen.get(key) == (counted, recorded)
                seen[key] = (counted, recorded)
                if quota.get("status") == {"hard": hard, "used": counted}:
                    continue

                def put(current: Obj, hard: Obj = hard, counted: dict[str, str] = counted,
                        recorded: dict[str, str] = recorded, confirmed: bool = confirmed) -> Obj:
                    now = (current.get("status") or {}).get("used") or {}
                    lower = confirmed and now == recorded
                    used = {k: v if lower else resourcequota.larger(v, now.get(k)) for k, v in counted.items()}
                    current["status"] = {"hard": hard, "used": used}
                    return current

                if recorded != counted or quota.get("status", {}).get("hard") != hard:
                    with contextlib.suppress(errors.APIError):
                        await self.registry.update(quotas, md["namespace"], md["name"], put,
                                                   WriteOptions(field_manager="resourcequota-controller"),
                                                   subresource="status", precondition_from_body=False)
            await asyncio.sleep(period)

    async def _clean_tokens(self, *, period: float = 5.0) -> None:
        """Upstream's tokencleaner: expired bootstrap tokens are deleted (they stopped working at expiry)."""
        secrets = self._info("", "secrets")
        while True:
            now = dt.datetime.now(dt.UTC)
            for secret in self.registry.cache.snapshot("/core/secrets/", f"/core/secrets/{BOOTSTRAP_NAMESPACE}/")[0]:
                if secret.get("type") != BOOTSTRAP_SECRET_TYPE:
                    continue
                expires = expiration(secret_data(secret))
                if expires is not None and expires <= now:
                    with contextlib.suppress(errors.APIError):
                        await self.registry.delete(secrets, BOOTSTRAP_NAMESPACE, secret["metadata"]["name"], {})
                        log.info("deleted expired bootstrap token %s", secret["metadata"]["name"])
            await asyncio.sleep(period)

    async def _fill_legacy_tokens(self, *, resync: float = 10.0) -> None:
        """Upstream's tokens controller for the Secrets users still create by hand: a
        ``kubernetes.io/service-account-token`` Secret naming an existing account gets ``token`` (a legacy,
        non-expiring JWT), ``ca.crt`` and ``namespace``, and the account's uid as an annotation. Secrets
        are seen as they change; a resync fills those whose account was created after them."""
        async def watch() -> None:
            while True:
                try:
                    async for secret in self._objects("/core/secrets/"):
                        await self._fill_legacy_token(secret)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.warning("legacy ServiceAccount token filler: %s; restarting", exc)
                await asyncio.sleep(0.5)

        async def resync_loop() -> None:
            while True:
                await asyncio.sleep(resync)
                for secret in self.registry.cache.snapshot("/core/secrets/", "/core/secrets/")[0]:
                    if secret.get("type") == LEGACY_SECRET_TYPE:
                        with contextlib.suppress(Exception):
                            await self._fill_legacy_token(secret)

        await asyncio.gather(watch(), resync_loop())

    async def _fill_legacy_token(self, secret: Obj) -> None:
        md = secret.get("metadata") or {}
        if secret.get("type") != LEGACY_SECRET_TYPE or (secret.get("data") or {}).get("token") or \
                md.get("deletionTimestamp"):
            return
        account = (md.get("annotations") or {}).get("kubernetes.io/service-account.name")
        sa = await self.get_object(f"/core/serviceaccounts/{md['namespace']}/{account}") if account else None
        if sa is None:
            return
        uid = str(sa["metadata"].get("uid") or "")
        token = self.sa_tokens.issue_legacy(namespace=md["namespace"], name=str(account), uid=uid,
                                            secret_name=md["name"])
        ca = base64.b64encode(self.pki.server_ca_pem()).decode()

        def fill(current: Obj) -> Obj:
            if (current.get("data") or {}).get("token"):
                return current  # filled meanwhile (another server of an HA cluster)
            current.setdefault("metadata", {}).setdefault("annotations", {})["kubernetes.io/service-account.uid"] = uid
            current["data"] = {**(current.get("data") or {}), "ca.crt": ca,
                               "namespace": base64.b64encode(str(md["namespace"]).encode()).decode(),
                               "token": base64.b64encode(token.encode()).decode()}
            return current

        try:
            await self.registry.update(self._info("", "secrets"), md["namespace"], md["name"], fill,
                                       WriteOptions(field_manager="kube-controller-manager"),
                                       precondition_from_body=False)
        except errors.APIError as exc:
            if exc.code != 404:
                log.warning("legacy token for secret %s/%s: %s", md["namespace"], md["name"], exc.message)

    async def _publish_root_ca(self) -> None:
        """Upstream's root-ca-cert-publisher: ConfigMap kube-root-ca.crt (the server CA) in every namespace,
        which the kube-api-access volume of every pod mounts as ca.crt."""
        configmaps = self._info("", "configmaps")
        data = {"ca.crt": self.pki.server_ca_pem().decode()}
        while True:
            try:
                async for namespace in self._objects("/core/namespaces/"):
                    md = namespace.get("metadata") or {}
                    if not md.get("name") or md.get("deletionTimestamp"):
                        continue
                    current = await self.get_object(f"/core/configmaps/{md['name']}/kube-root-ca.crt")
                    if current is not None and current.get("data") == data:
                        continue
                    body = {"metadata": {"name": "kube-root-ca.crt", "annotations": {
                        "kubernetes.io/description": "Contains a CA bundle that can be used to verify the "
                                                     "kube-apiserver when using internal endpoints such as the "
                                                     "internal service IP or kubernetes.default.svc. No other "
                                                     "usage is guaranteed across distributions of Kubernetes "
                                                     "clusters."}}, "data": data}
                    try:
                        if current is None:
                            await self.registry.create(configmaps, md["name"], body,
                                                       WriteOptions(field_manager="root-ca-cert-publisher"))
                        else:
                            await self.registry.update(configmaps, md["name"], "kube-root-ca.crt",
                                                       lambda cm: {**cm, "data": data},
                                                       WriteOptions(field_manager="root-ca-cert-publisher"),
                                                       precondition_from_body=False)
                    except errors.APIError as exc:
                        if exc.code not in (403, 404, 409):  # terminating or gone namespaces, races
                            log.warning("kube-root-ca.crt in %s: %s", md["name"], exc.message)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("root CA publisher: %s; restarting", exc)
            await asyncio.sleep(0.5)

    async def _update_csr(self, name: str, mutate: Callable[[Obj], Obj]) -> None:
        await self.registry.update(self._info("certificates.k8s.io", "certificatesigningrequests"), None, name, mutate,
                                   WriteOptions(field_manager="certificate-controller"), subresource="status",
                                   precondition_from_body=False)

    # ---- node credentials ------------------------------------------------------------------------

    def write_node_kubeconfig(self, *, node_name: str, server_url: str, path: Path) -> Path:
        """A kubeconfig for the embedded agent: a client certificate ``system:node:<name>`` in
        ``system:nodes`` issued directly by the client CA (the server is its own CSR signer)."""
        cert, key = self.pki.issue_client_cert(common_name=f"system:node:{node_name}", organizations=["system:nodes"])
        write_kubeconfig(path, kubeconfig_yaml(server_url=server_url, ca_pem=self.pki.server_ca_cert.read_bytes(),
                                               client_cert_pem=cert, client_key_pem=key))
        # beside it, as kubelite.client.bootstrap leaves it: the CA the kubelet server verifies callers with
        write_file_atomically(path.parent / "client-ca.crt", self.pki.client_ca_pem(), mode=0o644)
        return path
