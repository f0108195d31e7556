# cython: boundscheck=False, wraparound=False, initializedcheck=False
"""Compiled kernel of kubelite.native.nft_compiler: the per-service formatting loops only.

The API, validation and errors live in nft_compiler.py, whose ``compile_service_py`` and
``render_elements_py`` define the output; tests hold this module's output equal to theirs.
"""

cdef str SERVICE_IPS = "service-ips"
cdef str NODEPORTS = "nodeports"
cdef str NO_ENDPOINT_SERVICES = "no-endpoint-services"
cdef str NO_ENDPOINT_NODEPORTS = "no-endpoint-nodeports"
cdef str HAIRPIN = "hairpin"
cdef dict EMPTY_VERDICTS = {"reject": "goto reject-chain", "drop": "drop"}
cdef dict ADDRESS_TYPES = {"ip": "ipv4_addr", "ip6": "ipv6_addr"}


cdef inline str _ep_name(str ip, object port):
    return ip.replace(".", "-").replace(":", "-") + "-" + str(port)


cdef tuple _affinity_chain(str sid, long timeout, tuple endpoints, bint masquerade, str numgen, str fam):
    cdef list rules = []
    cdef list targets = []
    cdef Py_ssize_t i
    cdef str name
    if masquerade:
        rules.append("jump mark-masq")
    for i in range(len(endpoints)):
        ip, port = endpoints[i]
        name = _ep_name(ip, port)
        rules.append(f"{fam} saddr @affs-{sid}-{timeout}-{name} goto aep-{sid}-{name}")
        targets.append(f"{i} : goto aep-{sid}-{name}")
    rules.append(f"numgen {numgen} mod {len(endpoints)} vmap {{ {', '.join(targets)} }}")
    return tuple(rules)


cdef void _add_endpoints(list elements, str map_prefix, str key, tuple endpoints):
    cdef Py_ssize_t i
    for i in range(len(endpoints)):
        ip, tport = endpoints[i]
        elements.append((map_prefix + str(i), key, f"{ip} . {tport}"))


def compile_service(spec, str numgen):
    """(elements, chains, sets[, picks]) of one service port; see nft_compiler.compile_service_py."""
    cdef str sid = spec.id
    cdef str proto = spec.protocol
    cdef str fam = spec.family
    cdef long port = spec.port
    cdef long node_port = spec.node_port
    cdef long timeout = spec.affinity_timeout
    cdef tuple cluster_ips = spec.cluster_ips
    cdef tuple external_ips = spec.external_ips
    cdef tuple internal = spec.internal_endpoints
    cdef tuple external = spec.external_endpoints
    cdef bint masq = spec.external_masquerade
    cdef Py_ssize_t n_int = len(internal)
    cdef Py_ssize_t n_ext = len(external)
    cdef bint affinity = timeout > 0
    cdef list elements = []
    cdef list chains = []
    cdef list sets = []
    cdef list picks
    cdef tuple masq_rules
    cdef str int_target, ext_target, np_target, key, vip, name, set_name, dnat, np_dnat, target
    cdef str suffix = f" . {proto} . {port}"
    cdef str port_suffix = f" . {port}"
    cdef str endpoints_map = f"endpoints-{proto}-"
    cdef str nodeport_map = f"nodeport-endpoints-{proto}-"
    cdef list used

    if affinity:
        int_target = f"goto aff-{sid}"
        ext_target = f"goto affx-{sid}"
        np_target = ext_target
    else:
        int_target = f"goto svc-{sid}"
        ext_target = f"goto ext-{sid}"
        np_target = f"goto np-{sid}"

    for vip in cluster_ips:
        key = vip + suffix
        if n_int:
            elements.append((SERVICE_IPS, key, int_target))
            if not affinity:
                _add_endpoints(elements, endpoints_map, vip + port_suffix, internal)
        else:
            elements.append((NO_ENDPOINT_SERVICES, key, EMPTY_VERDICTS[spec.internal_empty]))
    for vip in external_ips:
        key = vip + suffix
        if n_ext:
            elements.append((SERVICE_IPS, key, ext_target))
            if not affinity:
                _add_endpoints(elements, endpoints_map, vip + port_suffix, external)
        else:
            elements.append((NO_ENDPOINT_SERVICES, key, EMPTY_VERDICTS[spec.external_empty]))
    if node_port:
        key = f"{proto} . {node_port}"
        if n_ext:
            elements.append((NODEPORTS, key, np_target))
            if not affinity:
                _add_endpoints(elements, nodeport_map, str(node_port), external)
        else:
            elements.append((NO_ENDPOINT_NODEPORTS, key, EMPTY_VERDICTS[spec.external_empty]))

    cdef bint has_internal = n_int > 0 and len(cluster_ips) > 0
    cdef bint has_external = n_ext > 0 and (len(external_ips) > 0 or node_port > 0)
    used = []
    if has_internal:
        used.extend(internal)
    if has_external:
        for ep in external:
            if ep not in used:
                used.append(ep)
    for ep in used:
        ip = ep[0]
        elements.append((HAIRPIN, f"{ip} . {ip}", ""))

    if affinity:
        if has_internal:
            chains.append((f"aff-{sid}", _affinity_chain(sid, timeout, internal, False, numgen, fam)))
        if has_external:
            chains.append((f"affx-{sid}", _affinity_chain(sid, timeout, external, masq, numgen, fam)))
        for ep in used:
            ip, tport = ep
            name = _ep_name(ip, tport)
            set_name = f"affs-{sid}-{timeout}-{name}"
            sets.append((set_name, f"type {ADDRESS_TYPES[fam]} ; flags dynamic,timeout ; timeout {timeout}s ;"))
            target = f"[{ip}]:{tport}" if fam == "ip6" else f"{ip}:{tport}"
            chains.append((f"aep-{sid}-{name}", (
                f"update @{set_name} {{ {fam} saddr }}",
                f"meta l4proto {proto} dnat {fam} to {target}",
            )))
    else:
        masq_rules = ("jump mark-masq",) if masq else ()
        picks = []
        if n_int and cluster_ips:
            chains.append((f"svc-{sid}", (f"numgen {numgen} mod {n_int} vmap @pick-{proto}-{n_int}",)))
            picks.append(("", proto, n_int))
        if n_ext and external_ips:
            chains.append((f"ext-{sid}", masq_rules + (f"numgen {numgen} mod {n_ext} vmap @pick-{proto}-{n_ext}",)))
            if ("", proto, n_ext) not in picks:
                picks.append(("", proto, n_ext))
        if n_ext and node_port:
            chains.append((f"np-{sid}", masq_rules + (f"numgen {numgen} mod {n_ext} vmap @nppick-{proto}-{n_ext}",)))
            picks.append(("np", proto, n_ext))
        return tuple(elements), tuple(chains), tuple(sets), tuple(picks)
    return tuple(elements), tuple(chains), tuple(sets)


def render_elements(str family_table, str name, list items):
    """``add element`` commands, 1000 elements per command; see nft_compiler.render_elements_py."""
    cdef list out = []
    cdef list body
    cdef Py_ssize_t start, i, end, n = len(items)
    cdef str k, v
    cdef str head = f"add element {family_table} {name} {{ "
    for start in range(0, n, 1000):
        end = min(start + 1000, n)
        body = []
        for i in range(start, end):
            k, v = items[i]
            body.append(f"{k} : {v}" if v else k)
        out.append(head + ", ".join(body) + " }\n")
    return "".join(out)
