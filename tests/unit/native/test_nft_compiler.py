"""The nft rule compiler: its output per service, the Cython kernel equal to its pure twin, and deltas
that bring the kernel to exactly the state a full sync would write."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kubelite.native import nft_compiler as c
from kubelite.native.nft_compiler import Compiled, RuleSet, ServicePortSpec, TableConfig


def spec(**kw: object) -> ServicePortSpec:
    base: dict[str, object] = dict(id="svc1", protocol="tcp", port=80, cluster_ips=("10.43.0.10",), external_ips=(),
                                   node_port=0, internal_endpoints=(("10.42.0.5", 8080), ("10.42.0.6", 8080)),
                                   external_endpoints=(("10.42.0.5", 8080), ("10.42.0.6", 8080)))
    base.update(kw)
    return ServicePortSpec(**base)  # type: ignore[arg-type]


def test_compiled_kernel_is_built() -> None:
    # the install builds it; a pure fallback would make the equivalence tests below vacuous
    assert c.IMPLEMENTATION == "cython"


@pytest.mark.parametrize(("kw", "expected"), [
    pytest.param({}, {
        ("service-ips", "10.43.0.10 . tcp . 80", "goto svc-svc1"),
        ("endpoints-tcp-0", "10.43.0.10 . 80", "10.42.0.5 . 8080"),
        ("endpoints-tcp-1", "10.43.0.10 . 80", "10.42.0.6 . 8080"),
        ("hairpin", "10.42.0.5 . 10.42.0.5", ""), ("hairpin", "10.42.0.6 . 10.42.0.6", ""),
    }, id="cluster-ip"),
    pytest.param({"internal_endpoints": (), "external_endpoints": ()}, {
        ("no-endpoint-services", "10.43.0.10 . tcp . 80", "goto reject-chain"),
    }, id="no-endpoints-rejects"),
    pytest.param({"internal_endpoints": (), "internal_empty": "drop", "external_endpoints": ()}, {
        ("no-endpoint-services", "10.43.0.10 . tcp . 80", "drop"),
    }, id="no-local-endpoints-drops"),
    pytest.param({"protocol": "udp", "cluster_ips": (), "node_port": 30053, "external_masquerade": False,
                  "external_endpoints": (("10.42.0.7", 53),)}, {
        ("nodeports", "udp . 30053", "goto np-svc1"),
        ("nodeport-endpoints-udp-0", "30053", "10.42.0.7 . 53"),
        ("hairpin", "10.42.0.7 . 10.42.0.7", ""),
    }, id="node-port-local"),
    pytest.param({"cluster_ips": (), "external_ips": ("192.0.2.1",), "external_endpoints": (("10.42.0.7", 80),)}, {
        ("service-ips", "192.0.2.1 . tcp . 80", "goto ext-svc1"),
        ("endpoints-tcp-0", "192.0.2.1 . 80", "10.42.0.7 . 80"),
        ("hairpin", "10.42.0.7 . 10.42.0.7", ""),
    }, id="external-ip-masqueraded"),
])
def test_elements_of_one_service(kw: dict[str, object], expected: set[tuple[str, str, str]]) -> None:
    assert set(c.compile_service(spec(**kw)).elements) == expected


def test_each_service_has_its_own_round_robin_counter_and_shares_the_rest() -> None:
    rr = c.compile_service(spec(node_port=30080))
    assert dict(rr.chains) == {
        # one numgen expression per service chain: its counter is the service's alone
        "svc-svc1": ("numgen inc mod 2 vmap @pick-tcp-2",),
        "np-svc1": ("jump mark-masq", "numgen inc mod 2 vmap @nppick-tcp-2"),
    }
    assert rr.picks == (("", "tcp", 2), ("np", "tcp", 2))
    # shared by every service with two endpoints: the pick map and one DNAT chain and map per endpoint index
    shared = c.pick_bundle("ip", "", "tcp", 2)
    assert shared.elements == (("pick-tcp-2", "0", "goto idx-tcp-0"), ("pick-tcp-2", "1", "goto idx-tcp-1"))
    assert dict(shared.chains) == {"idx-tcp-0": ("dnat ip to ip daddr . tcp dport map @endpoints-tcp-0",),
                                   "idx-tcp-1": ("dnat ip to ip daddr . tcp dport map @endpoints-tcp-1",)}
    assert dict(shared.maps) == {"pick-tcp-2": "typeof numgen inc mod 2 : verdict ;",
                                 "endpoints-tcp-0": "typeof ip daddr . tcp dport : ip daddr . tcp dport ;",
                                 "endpoints-tcp-1": "typeof ip daddr . tcp dport : ip daddr . tcp dport ;"}
    assert dict(c.pick_bundle("ip6", "np", "udp", 1).chains) == {
        "npidx-udp-0": ("dnat ip6 to udp dport map @nodeport-endpoints-udp-0",)}
    rules = RuleSet(TableConfig())
    rules.set_service("a", rr)
    rules.set_service("b", c.compile_service(spec(id="b", cluster_ips=("10.43.0.11",))))
    text = rules.full_text(recreate=True)
    assert text.count("add map ip kubelite pick-tcp-2 ") == 1 and "add rule ip kubelite idx-tcp-1 dnat" in text
    rules.commit()
    rules.remove_service("a")
    rules.remove_service("b")
    delta = rules.delta_text()
    assert "delete chain ip kubelite idx-tcp-1" in delta and "delete map ip kubelite pick-tcp-2" in delta
    random = c.compile_service(spec(), lb="random")
    assert dict(random.chains)["svc-svc1"] == ("numgen random mod 2 vmap @pick-tcp-2",)


def test_session_affinity_gets_chains_and_timeout_sets() -> None:
    out = c.compile_service(spec(affinity_timeout=30))
    assert ("service-ips", "10.43.0.10 . tcp . 80", "goto aff-svc1") in out.elements
    assert not [e for e in out.elements if e[0].startswith("endpoints")]
    chains = dict(out.chains)
    assert chains["aff-svc1"][0] == "ip saddr @affs-svc1-30-10-42-0-5-8080 goto aep-svc1-10-42-0-5-8080"
    assert chains["aep-svc1-10-42-0-6-8080"] == ("update @affs-svc1-30-10-42-0-6-8080 { ip saddr }",
                                                 "meta l4proto tcp dnat ip to 10.42.0.6:8080")
    assert dict(out.sets)["affs-svc1-30-10-42-0-5-8080"].endswith("timeout 30s ;")


@pytest.mark.parametrize("bad", [
    pytest.param({"cluster_ips": ("10.43.0.1; flush ruleset",)}, id="injection-in-ip"),
    pytest.param({"cluster_ips": ("10.43.0.300",)}, id="octet-out-of-range"),
    pytest.param({"protocol": "icmp"}, id="protocol"),
    pytest.param({"port": 0}, id="port-zero"),
    pytest.param({"node_port": 70000}, id="node-port-range"),
    pytest.param({"internal_endpoints": (("10.42.0.5", 65536),)}, id="endpoint-port"),
    pytest.param({"id": "a b"}, id="id-with-space"),
    pytest.param({"internal_empty": "accept"}, id="verdict"),
    pytest.param({"affinity_timeout": -1}, id="timeout"),
])
def test_bad_specs_are_refused_with_the_field(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match=r"service|id"):
        c.compile_service(spec(**bad))


def test_unknown_lb_mode_is_refused() -> None:
    with pytest.raises(ValueError, match='unknown load-balancing mode "rr"'):
        c.compile_service(spec(), lb="rr")
    with pytest.raises(ValueError, match="round-robin, random"):
        RuleSet(TableConfig(lb="weighted"))


# ---- Cython kernel == pure twin -------------------------------------------------------------------------

ips = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ips6 = st.ip_addresses(v=6).map(str)
ports = st.integers(1, 65535)


def family_specs(family: str) -> st.SearchStrategy[ServicePortSpec]:
    addresses = ips6 if family == "ip6" else ips
    endpoints = st.lists(st.tuples(addresses, ports), max_size=6, unique=True).map(tuple)
    return st.builds(
        ServicePortSpec, id=st.text("abcdef0123456789", min_size=4, max_size=12),
        protocol=st.sampled_from(c.PROTOCOLS), port=ports, cluster_ips=st.lists(addresses, max_size=2, unique=True).map(
            tuple), external_ips=st.lists(addresses, max_size=2, unique=True).map(tuple),
        node_port=st.integers(0, 65535), internal_endpoints=endpoints, external_endpoints=endpoints,
        internal_empty=st.sampled_from(["reject", "drop"]), external_empty=st.sampled_from(["reject", "drop"]),
        external_masquerade=st.booleans(), affinity_timeout=st.sampled_from([0, 0, 10, 10800]), family=st.just(family))


specs = st.one_of(family_specs("ip"), family_specs("ip6"))


@settings(max_examples=300, deadline=None)
@given(specs, st.sampled_from(["inc", "random"]))
def test_kernel_equals_pure_twin(s: ServicePortSpec, numgen: str) -> None:
    assert c._kernel is not None
    assert Compiled(*c._kernel.compile_service(s, numgen)) == c.compile_service_py(s, numgen)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.text("ab.", min_size=1), st.text("xy", max_size=3)), max_size=2500))
def test_render_elements_equals_pure_twin(items: list[tuple[str, str]]) -> None:
    assert c._kernel is not None
    assert c._kernel.render_elements("ip kubelite", "m", items) == c.render_elements_py("ip kubelite", "m", items)


# ---- deltas reach the same kernel state as a full sync -------------------------------------------------------

class FakeKernel:
    """Interprets the command subset the compiler writes, with the kernel's errors for missing objects."""

    def __init__(self) -> None:
        self.chains: dict[str, list[str]] = {}
        self.sets: dict[str, dict[str, str]] = {}

    def apply(self, text: str) -> None:
        for line in text.splitlines():
            self._one(line)

    def _one(self, line: str) -> None:
        m = re.fullmatch(r"(add|delete) element ip6? kubelite (\S+) \{ (.*) \}", line)
        if m:
            target = self.sets[m.group(2)]
            for item in m.group(3).split(", "):
                key, _, value = item.partition(" : ")
                if m.group(1) == "add":
                    assert key not in target or target[key] == value, f"element exists: {line}"
                    target[key] = value
                else:
                    assert key in target, f"no such element: {key} in {line}"
                    del target[key]
            return
        words = line.split()
        verb, kind = words[0], words[1]
        if kind == "table":
            if verb == "delete":
                self.chains.clear()
                self.sets.clear()
            return
        name = words[4]
        if kind == "chain":
            if verb == "add":
                self.chains.setdefault(name, [])
            elif verb == "flush":
                self.chains[name].clear()
            else:
                assert not self.chains.pop(name), f"deleting a chain with rules: {name}"
        elif kind in ("map", "set"):
            if verb == "add":
                self.sets.setdefault(name, {})
            elif verb == "flush":
                self.sets[name].clear()
            else:
                del self.sets[name]
        elif kind == "rule":
            self.chains[name].append(" ".join(words[5:]))
        else:
            raise AssertionError(f"unexpected command {line}")


def full_state(rules: RuleSet) -> FakeKernel:
    kernel = FakeKernel()
    fresh = RuleSet(rules.config)
    for sid, compiled in rules._services.items():
        fresh.set_service(sid, compiled)
    kernel.apply(fresh.full_text(recreate=True))
    return kernel


def changes_of(family: str) -> st.SearchStrategy[tuple[str, list[tuple[str, ServicePortSpec | None]]]]:
    change = st.tuples(st.sampled_from(["a1", "b2", "c3", "d4"]), st.one_of(st.none(), family_specs(family)))
    return st.tuples(st.just(family), st.lists(change, min_size=1, max_size=12))


CIDRS = {"ip": ("10.42.0.0/16", "10.43.0.0/16"), "ip6": ("fd00:42::/56", "fd00:43::/112")}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(c.FAMILIES).flatmap(changes_of), st.booleans())
def test_deltas_reach_the_state_of_a_full_sync(family_changes: tuple[str, list[tuple[str, ServicePortSpec | None]]],
                                              full_midway: bool) -> None:
    family, changes = family_changes
    cluster, services = CIDRS[family]
    rules = RuleSet(TableConfig(cluster_cidr=cluster, service_cidr=services, family=family))
    kernel = FakeKernel()
    kernel.apply(rules.full_text(recreate=True))
    rules.commit()
    for step, (sid, s) in enumerate(changes):
        if full_midway and step == len(changes) // 2:
            rules.begin_full()  # as the proxier does: no delta bookkeeping before a full sync
        if s is None:
            rules.remove_service(sid)
        else:
            rules.set_service(sid, c.compile_service(s._replace(id=sid)))
        if full_midway and step == len(changes) // 2:
            kernel.apply(rules.full_text(recreate=False))
        else:
            kernel.apply(rules.delta_text())
        rules.commit()
    expected = full_state(rules)
    assert kernel.sets == expected.sets
    assert kernel.chains == expected.chains


def test_one_endpoint_change_is_a_few_element_updates() -> None:
    rules = RuleSet(TableConfig())
    for i in range(50):
        rules.set_service(f"s{i}", c.compile_service(spec(id=f"s{i}", cluster_ips=(f"10.43.0.{i}",))))
    rules.full_text(recreate=True)
    rules.commit()
    rules.set_service("s7", c.compile_service(spec(id="s7", cluster_ips=("10.43.0.7",),
                                                   internal_endpoints=(("10.42.0.5", 8080), ("10.42.0.9", 8080)))))
    delta = rules.delta_text().splitlines()
    assert delta == [
        "delete element ip kubelite endpoints-tcp-1 { 10.43.0.7 . 80 }",
        "add element ip kubelite endpoints-tcp-1 { 10.43.0.7 . 80 : 10.42.0.9 . 8080 }",
        "add element ip kubelite hairpin { 10.42.0.9 . 10.42.0.9 }",
    ]
    rules.commit()
    assert rules.delta_text() == "", "nothing changed, nothing written"


@pytest.mark.parametrize("order", [("one", "two"), ("two", "one")])
def test_a_shared_key_belongs_to_the_smallest_id_and_passes_to_the_next_owner(order: tuple[str, str]) -> None:
    rules = RuleSet(TableConfig())
    compiled = {
        "one": c.compile_service(spec(id="one", cluster_ips=(), external_ips=("192.0.2.1",),
                                      external_endpoints=(("10.42.0.5", 80),))),
        "two": c.compile_service(spec(id="two", cluster_ips=(), external_ips=("192.0.2.1",),
                                      external_endpoints=(("10.42.0.6", 80),)))}
    for sid in order:  # the owner does not depend on which Service came first
        rules.set_service(sid, compiled[sid])
    kernel = FakeKernel()
    kernel.apply(rules.full_text(recreate=True))
    rules.commit()
    assert kernel.sets["endpoints-tcp-0"] == {"192.0.2.1 . 80": "10.42.0.5 . 80"}
    rules.remove_service("one")
    kernel.apply(rules.delta_text())
    assert kernel.sets["endpoints-tcp-0"] == {"192.0.2.1 . 80": "10.42.0.6 . 80"}


def test_failed_apply_leaves_a_full_sync_that_repairs() -> None:
    rules = RuleSet(TableConfig())
    rules.set_service("a", c.compile_service(spec(id="a")))
    kernel = FakeKernel()
    kernel.apply(rules.full_text(recreate=True))
    rules.commit()
    rules.set_service("a", c.compile_service(spec(id="a", internal_endpoints=(("10.42.0.9", 80),))))
    rules.delta_text()
    rules.abort()  # nft refused the delta: the kernel still has the old state
    kernel.chains["services"].clear()  # and someone flushed a chain
    kernel.apply(rules.full_text(recreate=False))
    rules.commit()
    expected = full_state(rules)
    assert kernel.sets == expected.sets and kernel.chains == expected.chains


# ---- IPv6: the ip6 table ----------------------------------------------------------------------------------


def test_ipv6_service_compiles_for_the_ip6_table() -> None:
    one = (("fd00:42::5", 8080),)
    out = c.compile_service(spec(family="ip6", cluster_ips=("fd00:43::10",), node_port=30080,
                                 internal_endpoints=one, external_endpoints=one))
    assert set(out.elements) == {
        ("service-ips", "fd00:43::10 . tcp . 80", "goto svc-svc1"),
        ("endpoints-tcp-0", "fd00:43::10 . 80", "fd00:42::5 . 8080"),
        ("nodeports", "tcp . 30080", "goto np-svc1"),
        ("nodeport-endpoints-tcp-0", "30080", "fd00:42::5 . 8080"),
        ("hairpin", "fd00:42::5 . fd00:42::5", ""),
    }
    shared = c.pick_bundle("ip6", "", "tcp", 1)
    assert dict(shared.chains)["idx-tcp-0"] == ("dnat ip6 to ip6 daddr . tcp dport map @endpoints-tcp-0",)
    assert dict(shared.maps)["endpoints-tcp-0"] == "typeof ip6 daddr . tcp dport : ip6 daddr . tcp dport ;"
    sticky = c.compile_service(spec(family="ip6", cluster_ips=("fd00:43::10",), affinity_timeout=30,
                                    internal_endpoints=one, external_endpoints=one))
    chains = dict(sticky.chains)
    assert chains["aep-svc1-fd00-42--5-8080"] == ("update @affs-svc1-30-fd00-42--5-8080 { ip6 saddr }",
                                                  "meta l4proto tcp dnat ip6 to [fd00:42::5]:8080")
    assert dict(sticky.sets)["affs-svc1-30-fd00-42--5-8080"].startswith("type ipv6_addr ;")


@pytest.mark.parametrize("bad", [
    pytest.param({"family": "ip6"}, id="ipv4-address-in-ip6-spec"),
    pytest.param({"family": "ip6", "cluster_ips": ("fd00::1%eth0",)}, id="zone"),
    pytest.param({"family": "inet"}, id="family"),
    pytest.param({"cluster_ips": ("fd00::1",)}, id="ipv6-address-in-ip-spec"),
])
def test_addresses_must_match_the_family(bad: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="service svc1"):
        c.compile_service(spec(**bad))


def test_ip6_table_skeleton() -> None:
    text = RuleSet(TableConfig(family="ip6", cluster_cidr="fd00:42::/56", service_cidr="fd00:43::/112")).full_text(
        recreate=True)
    assert "add table ip6 kubelite\n" in text and " ip kubelite" not in text
    assert "add map ip6 kubelite service-ips { type ipv6_addr . inet_proto . inet_service : verdict ; }" in text
    assert "add rule ip6 kubelite services ip6 daddr fd00:43::/112 ip6 saddr != fd00:42::/56 jump mark-masq" in text
    assert "fib daddr type local ip6 daddr != ::1 meta l4proto . th dport vmap @nodeports" in text
    assert "ct status dnat ip6 saddr . ip6 daddr @hairpin masquerade" in text


def test_family_configs_split_dual_stack_cidrs() -> None:
    both = c.family_configs(TableConfig(lb="random", cluster_cidr="10.42.0.0/16,fd00:42::/56",
                                        service_cidr="10.43.0.0/16,fd00:43::/112",
                                        nodeport_addresses=("10.100.0.0/24",)))
    assert both["ip"] == TableConfig(lb="random", cluster_cidr="10.42.0.0/16", service_cidr="10.43.0.0/16",
                                     nodeport_addresses=("10.100.0.0/24",), family="ip")
    assert both["ip6"] == TableConfig(lb="random", cluster_cidr="fd00:42::/56", service_cidr="fd00:43::/112",
                                      family="ip6"), "no IPv6 --nodeport-addresses: every IPv6 address"
