"""The ``loopback`` plugin: ``lo`` up in the pod's namespace (containerd calls it for every sandbox).

ADD returns the addresses ``lo`` carries, as the reference plugin does; DEL sets it down and is a
no-op when the namespace is gone; CHECK fails when ``lo`` is down.
"""

from __future__ import annotations

from typing import Any

from kubelite.cni import netlink
from kubelite.cni.spec import ERR_UNKNOWN_CONTAINER, CNIError, Request


def add(request: Request) -> dict[str, Any]:
    try:
        with netlink.in_netns(request.netns) as pod:
            netlink.set_link_up(pod, "lo", up=True)
    except netlink.NamespaceGone:
        raise CNIError(ERR_UNKNOWN_CONTAINER, f"network namespace {request.netns} does not exist")
    return {"interfaces": [{"name": "lo", "mac": "00:00:00:00:00:00", "sandbox": request.netns}],
            "ips": [{"address": "127.0.0.1/8", "interface": 0}], "dns": {}}


def delete(request: Request) -> None:
    if not request.netns:
        return
    try:
        with netlink.in_netns(request.netns) as pod:
            netlink.set_link_up(pod, "lo", up=False)
    except (netlink.NamespaceGone, ValueError):
        return


def check(request: Request) -> None:
    try:
        with netlink.in_netns(request.netns) as pod:
            if not netlink.is_up(pod, "lo"):
                raise CNIError(ERR_UNKNOWN_CONTAINER, f"lo is down in {request.netns}")
    except netlink.NamespaceGone:
        raise CNIError(ERR_UNKNOWN_CONTAINER, f"network namespace {request.netns} does not exist")
