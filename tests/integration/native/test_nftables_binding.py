"""The libnftables cffi binding against the real kernel, inside a network namespace made by the test."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = [pytest.mark.root, pytest.mark.integration]


def run_in_netns(netns: str, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", netns, sys.executable, "-c", textwrap.dedent(code)],
                          capture_output=True, text=True, timeout=60, check=False)


def test_create_list_and_delete_own_table_in_netns(netns: str) -> None:
    done = run_in_netns(netns, """
        import json
        from kubelite.native.nftables import Nftables
        nft = Nftables()
        nft.run('''
            add table ip kltest
            add chain ip kltest services { type nat hook prerouting priority dstnat ; }
            add map ip kltest service-ips { type ipv4_addr . inet_proto . inet_service : verdict ; }
            add chain ip kltest svc-a
            add element ip kltest service-ips { 10.43.0.10 . tcp . 80 : goto svc-a }
            add rule ip kltest services ip daddr . meta l4proto . th dport vmap @service-ips
        ''')
        listed = Nftables(json_output=True).run('list table ip kltest')
        nft.run('delete table ip kltest')
        after = Nftables(json_output=True).run('list tables')
        print(json.dumps({"listed": json.loads(listed), "after": json.loads(after)}))
    """)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    objects = result["listed"]["nftables"]
    chains = {o["chain"]["name"] for o in objects if "chain" in o}
    assert chains == {"services", "svc-a"}
    maps = [o["map"] for o in objects if "map" in o]
    assert maps[0]["name"] == "service-ips"
    assert maps[0]["elem"], "the element added in the same transaction is there"
    assert not [o for o in result["after"]["nftables"] if "table" in o], "table deleted"


def test_bad_batch_raises_nft_message_and_changes_nothing(netns: str) -> None:
    done = run_in_netns(netns, """
        from kubelite.native.nftables import Nftables, NftablesError
        nft = Nftables()
        try:
            # the second command is invalid: the whole batch, including the table, must not apply
            nft.run('add table ip kltest2\\nadd chain ip kltest2 c { type nat hook nowhere priority 0 ; }')
        except NftablesError as exc:
            print("ERROR:", exc.message.splitlines()[0])
        print("TABLES:", nft.run('list tables').strip() or "none")
    """)
    assert done.returncode == 0, done.stderr
    assert "ERROR: Error:" in done.stdout
    assert "TABLES: none" in done.stdout


def test_dry_run_checks_without_applying(netns: str) -> None:
    done = run_in_netns(netns, """
        from kubelite.native.nftables import Nftables
        nft = Nftables()
        nft.run('add table ip kltest3', dry_run=True)
        print("TABLES:", nft.run('list tables').strip() or "none")
    """)
    assert done.returncode == 0, done.stderr
    assert "TABLES: none" in done.stdout


def test_host_ruleset_untouched_by_netns_work(netns: str) -> None:
    before = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout
    done = run_in_netns(netns, """
        from kubelite.native.nftables import Nftables
        Nftables().run('add table ip kltest4')
    """)
    assert done.returncode == 0, done.stderr
    after = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True, check=True).stdout
    assert before == after
    assert "kltest4" not in after
