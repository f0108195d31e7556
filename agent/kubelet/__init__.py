"""kubelite.agent.kubelet: the node's kubelet (pod workers, PLEG, status, probes, volumes, node status).

See agent/README.md. `run_kubelet` is the agent component; the rest is re-exported for the kubelet
server and tests.
"""

from __future__ import annotations

import asyncio

import psutil

from kubelite.agent.config import AgentConfig
from kubelite.agent.kubelet.kubelet import Kubelet, NodeFacts
from kubelite.agent.kubelet.node_status import MAX_PODS, node_ip, run_node_status
from kubelite.client import APIClient, EventRecorder
from kubelite.cri import RuntimeClient
from kubelite.cri.containerd import pid1_is_systemd

__all__ = ["Kubelet", "NodeFacts", "node_facts", "run_kubelet", "run_node_status"]


def node_facts(config: AgentConfig) -> NodeFacts:
    """What pods need to know about the node (its IP, memory, allocatable for resourceFieldRef)."""
    memory = psutil.virtual_memory().total
    cpus = psutil.cpu_count() or 1
    allocatable = {"cpu": str(cpus), "memory": str(memory), "pods": str(MAX_PODS),
                   "ephemeral-storage": str(psutil.disk_usage(str(config.data_dir)).total)}
    return NodeFacts(host_ip=node_ip(config), memory_capacity=memory, allocatable=allocatable,
                     systemd_cgroup=pid1_is_systemd())


async def run_kubelet(*, config: AgentConfig, client: APIClient, runtime: RuntimeClient) -> None:
    """Run the kubelet's pod machinery until cancelled."""
    config.data_dir.mkdir(parents=True, exist_ok=True)
    facts = await asyncio.to_thread(node_facts, config)
    recorder = EventRecorder(client, component="kubelet", host=config.node_name)
    recorder.start()
    try:
        await Kubelet(config=config, client=client, runtime=runtime, node=facts, recorder=recorder).run()
    finally:
        await recorder.close()
