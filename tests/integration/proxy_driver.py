"""Runs a service proxier inside the node netns for the integration tests (see proxy_netns.py).

argv: mode (nftables | userspace), then optional ``key=value`` settings (lb, cluster_cidr,
service_cidr, node_name). Reads one JSON command per stdin line and answers one JSON line:
``service``/``slice`` (obj), ``delete_service``/``delete_slice`` (obj), ``sync`` (full),
``metrics``, ``exit``.
"""

from __future__ import annotations

import asyncio
import json
import sys
import traceback
from typing import Any

from kubelite.agent.proxy import metrics
from kubelite.agent.proxy.nftables_proxier import NftablesProxier
from kubelite.agent.proxy.service_port import ServiceState
from kubelite.agent.proxy.userspace_proxier import UserspaceProxier
from kubelite.native.nft_compiler import TableConfig


async def main() -> None:
    mode = sys.argv[1]
    settings = dict(arg.split("=", 1) for arg in sys.argv[2:])
    state = ServiceState(node_name=settings.get("node_name", "node-a"))
    lb = settings.get("lb", "round-robin")
    proxier: NftablesProxier | UserspaceProxier
    if mode == "nftables":
        proxier = NftablesProxier(state=state, config=TableConfig(
            lb=lb, cluster_cidr=settings.get("cluster_cidr", "10.42.0.0/16,fd00:42::/64"),
            service_cidr=settings.get("service_cidr", "10.43.0.0/16,fd00:43::/112")))
    else:
        proxier = UserspaceProxier(state=state, lb=lb)
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, sys.stdin.readline)
        if not line:
            break
        cmd: dict[str, Any] = json.loads(line)
        reply: dict[str, Any] = {"ok": True}
        try:
            op = cmd["op"]
            if op == "service":
                state.set_service(cmd["obj"])
            elif op == "delete_service":
                state.delete_service(cmd["obj"])
            elif op == "slice":
                state.set_slice(cmd["obj"])
            elif op == "delete_slice":
                state.delete_slice(cmd["obj"])
            elif op == "sync":
                await proxier.sync(bool(cmd.get("full")))
            elif op == "metrics":
                reply["text"] = metrics.metrics_text().decode()
            elif op == "exit":
                break
            else:
                reply = {"error": f"unknown op {op}"}
        except Exception as exc:
            reply = {"error": f"{exc}\n{traceback.format_exc()}"}
        print(json.dumps(reply), flush=True)
    if isinstance(proxier, UserspaceProxier):
        await proxier.close(remove_addresses=True)
    else:
        proxier.close()
    print(json.dumps({"ok": True}), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
