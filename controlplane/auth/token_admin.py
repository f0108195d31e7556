"""``kubelite token create|list|delete``: bootstrap tokens managed through the API, as ``kubeadm token``.

Design
------
The commands are API clients with the admin kubeconfig: a token is exactly its ``bootstrap-token-<id>``
Secret in ``kube-system`` (``bootstrap_token.py``), so ``kubectl get secrets -n kube-system`` shows the
same state and deleting the Secret revokes the token. Output follows kubeadm: ``create`` prints the
token alone (scriptable); ``list`` prints a table TOKEN TTL EXPIRES USAGES DESCRIPTION EXTRA GROUPS.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kubelite.client import APIClient, APIStatusError
from kubelite.controlplane.auth.bootstrap_token import (
    NAMESPACE,
    SECRET_PREFIX,
    SECRET_TYPE,
    TOKEN_ID_RE,
    TOKEN_RE,
    TokenFormatError,
    bootstrap_token_secret,
    expiration,
    new_bootstrap_token,
    secret_data,
)

Obj = dict[str, Any]


def _human(delta: dt.timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds <= 0:
        return "<invalid>"
    if seconds >= 86400:
        return f"{seconds // 86400}d"
    if seconds >= 3600:
        return f"{seconds // 3600}h"
    if seconds >= 60:
        return f"{seconds // 60}m"
    return f"{seconds}s"


async def create_token(*, client: APIClient, token: str = "", ttl: dt.timedelta | None, description: str = "",
                       groups: tuple[str, ...] = (), usages: tuple[str, ...] = ("authentication", "signing")) -> str:
    """Store a new bootstrap token (random unless ``token`` is given) and return it."""
    text = token or new_bootstrap_token()
    body = bootstrap_token_secret(token=text, ttl=ttl, description=description, groups=groups, usages=usages)
    secrets = client.resource("", "v1", "secrets")
    try:
        await secrets.create(body, namespace=NAMESPACE)
    except APIStatusError as exc:
        if exc.is_already_exists():
            raise TokenFormatError(f'a token with id "{text.split(".")[0]}" already exists') from None
        raise
    return text


async def list_tokens(*, client: APIClient, now: dt.datetime | None = None) -> list[list[str]]:
    """Rows of the ``token list`` table (header first)."""
    moment = now or dt.datetime.now(dt.UTC)
    secrets = client.resource("", "v1", "secrets")
    rows = [["TOKEN", "TTL", "EXPIRES", "USAGES", "DESCRIPTION", "EXTRA GROUPS"]]
    listing = await secrets.list(namespace=NAMESPACE)
    for secret in listing.get("items") or []:
        if secret.get("type") != SECRET_TYPE:
            continue
        data = secret_data(secret)
        token_id = data.get("token-id", "")
        if not TOKEN_ID_RE.match(token_id):
            continue
        expires = expiration(data)
        usages = sorted(k[len("usage-bootstrap-"):] for k, v in data.items()
                        if k.startswith("usage-bootstrap-") and v == "true")
        rows.append([f"{token_id}.{data.get('token-secret', '')}",
                     "<forever>" if expires is None else _human(expires - moment),
                     "<never>" if expires is None else expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     ",".join(usages) or "<none>", data.get("description", "<none>") or "<none>",
                     data.get("auth-extra-groups", "<none>") or "<none>"])
    return rows


async def delete_token(*, client: APIClient, token: str) -> str:
    """Delete by id or by full token; returns the id."""
    match = TOKEN_RE.match(token)
    token_id = match.group(1) if match else token
    if not TOKEN_ID_RE.match(token_id):
        raise TokenFormatError(f'"{token}" is neither a token id ([a-z0-9]{{6}}) nor a token '
                               "([a-z0-9]{6}.[a-z0-9]{16})")
    secrets = client.resource("", "v1", "secrets")
    try:
        await secrets.delete(SECRET_PREFIX + token_id, namespace=NAMESPACE)
    except APIStatusError as exc:
        if exc.is_not_found():
            raise TokenFormatError(f'bootstrap token "{token_id}" not found') from None
        raise
    return token_id
