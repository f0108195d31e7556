#!/usr/bin/env bash
# Regenerates the Python modules of cri/api.proto: api_pb2.py (messages), api_pb2.pyi (types for mypy)
# and api_pb2_grpc.py (service stubs), with grpcio-tools from the project's virtualenv.
#
#   bash cri/generate.sh                         # rewrite cri/api_pb2*.py*
#   bash cri/generate.sh --out DIR               # write them to DIR instead (the unit tests compare)
#   bash cri/generate.sh --compare-upstream F    # also check every message and enum we declare
#                                                # against upstream's api.proto F: same field names,
#                                                # numbers, types and labels
#
# protoc runs on a copy placed at kubelite/cri/api.proto so the generated code imports
# `from kubelite.cri import api_pb2` (the package path), not a bare top-level `api_pb2`.
# The generated code names the protobuf and grpcio versions it needs; after regenerating with a
# newer grpcio-tools, raise the lower bounds of `protobuf` and `grpcio` in pyproject.toml to match
# (tests/unit/cri/test_api_proto.py fails until they do).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
out=$here
upstream=""

while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --compare-upstream) upstream=$2; shift 2 ;;
    *) echo "cri/generate.sh: unknown argument: $1 (allowed: --out DIR, --compare-upstream FILE)" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/kubelite/cri" "$work/gen"
cp "$here/api.proto" "$work/src/kubelite/cri/api.proto"

"$python" -m grpc_tools.protoc -I "$work/src" \
  --python_out="$work/gen" --pyi_out="$work/gen" --grpc_python_out="$work/gen" \
  kubelite/cri/api.proto

mkdir -p "$out"
for f in api_pb2.py api_pb2.pyi api_pb2_grpc.py; do
  cp "$work/gen/kubelite/cri/$f" "$out/$f"
done

if [ -n "$upstream" ]; then
  mkdir -p "$work/up/k8s"
  cp "$upstream" "$work/up/k8s/upstream.proto"
  "$python" -m grpc_tools.protoc -I "$work/up" --descriptor_set_out="$work/upstream.pb" k8s/upstream.proto
  "$python" -m grpc_tools.protoc -I "$work/src" --descriptor_set_out="$work/ours.pb" kubelite/cri/api.proto
  "$python" - "$work/ours.pb" "$work/upstream.pb" <<'EOF'
import sys
from google.protobuf import descriptor_pb2

def load(path):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())
    (fd,) = fds.file
    messages, enums, methods, reserved = {}, {}, {}, {}
    def walk(prefix, msgs, ens):
        for e in ens:
            enums[prefix + e.name] = {v.name: v.number for v in e.value}
        for m in msgs:
            if m.options.map_entry:
                continue
            messages[prefix + m.name] = {f.name: (f.number, f.type, f.label, f.type_name.split(".")[-1]) for f in m.field}
            reserved[prefix + m.name] = (set(m.reserved_name), {n for r in m.reserved_range for n in range(r.start, r.end)})
            walk(prefix + m.name + ".", m.nested_type, m.enum_type)
    walk("", fd.message_type, fd.enum_type)
    for s in fd.service:
        for m in s.method:
            methods[f"{s.name}/{m.name}"] = (m.input_type, m.output_type, m.server_streaming)
    return messages, enums, methods, reserved

ours, theirs = load(sys.argv[1]), load(sys.argv[2])
problems = []
our_reserved = ours[3]
for kind, (o, t) in zip(("message", "enum", "rpc"), zip(ours[:3], theirs[:3])):
    for name, body in o.items():
        if name not in t:
            problems.append(f"{kind} {name}: not in upstream")
        elif kind == "rpc":
            if body != t[name]:
                problems.append(f"rpc {name}: {body} != upstream {t[name]}")
        else:
            for field, value in body.items():
                if field not in t[name]:
                    problems.append(f"{kind} {name}.{field}: not in upstream")
                elif value != t[name][field]:
                    problems.append(f"{kind} {name}.{field}: {value} != upstream {t[name][field]}")
            names, numbers = our_reserved.get(name, (set(), set()))
            for field in t[name].keys() - body.keys():
                # Left out on purpose when we reserve both its name and its number.
                if not (field in names and t[name][field][0] in numbers):
                    problems.append(f"{kind} {name}.{field}: upstream has it, we do not")
if problems:
    print("cri/generate.sh: differences from upstream:", *problems, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print(f"cri/generate.sh: {len(ours[0])} messages, {len(ours[1])} enums, {len(ours[2])} RPCs match upstream")
EOF
fi
