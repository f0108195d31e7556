"""`kubelite controller-manager --kubeconfig K --leader-elect` as its own process runs the controllers
against a server started with --disable-controllers: it takes the Lease and rolls a Deployment out."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from controller_waits import get_json, wait_for
from e2e_harness import temporary_server
from fake_kubelet import FakeNodes

pytestmark = [pytest.mark.e2e]


def test_standalone_controller_manager_rolls_out_a_deployment() -> None:
    with temporary_server("kubelite-cm-", "--disable-controllers") as server:
        log = server.data_dir / "controller-manager.log"
        with log.open("wb") as out:
            process = subprocess.Popen([sys.executable, "-m", "kubelite", "controller-manager", "--kubeconfig",
                                        str(server.kubeconfig), "--leader-elect"], stdout=out,
                                       stderr=subprocess.STDOUT)
        try:
            with FakeNodes(server.kubeconfig, ["cm-node"]):
                server.kubectl("create", "deployment", "solo", "--image=busybox", "--replicas=2")
                server.kubectl("rollout", "status", "deployment/solo", "--timeout=60s", timeout=90)
                lease = get_json(server, "lease", "kube-controller-manager", "-n", "kube-system")
                assert lease["spec"]["holderIdentity"]
                # the Endpoints controller runs there too
                server.kubectl("expose", "deployment", "solo", "--port=80")
                wait_for(lambda: json.loads(server.kubectl("get", "endpoints", "solo", "-o", "json", check=False)
                                            .stdout or "{}").get("subsets"), what="the Endpoints of solo")
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        assert process.returncode is not None
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
