"""This host's primary address: what a server advertises and an agent reports when not told (--node-ip).

The primary address is the source address of the route to the outside world (the default route), as
k3s and the kubelet choose it. Asking the kernel costs a UDP socket and a ``connect`` to a TEST-NET
address: a routing decision only, no packet leaves the host.
"""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def primary_ip() -> str:
    """The address of the interface holding the default route; loopback when there is none."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1 (RFC 5737): never routed on the internet
            return str(sock.getsockname()[0])
        except OSError:
            return LOOPBACK
