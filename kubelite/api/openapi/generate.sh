#!/usr/bin/env bash
# Regenerates openapiv2_pb2.py (messages) and openapiv2_pb2.pyi (types for mypy) from openapiv2.proto,
# with grpcio-tools from the project's virtualenv.
#
#   bash kubelite/api/openapi/generate.sh                         # rewrite openapiv2_pb2.py*
#   bash kubelite/api/openapi/generate.sh --out DIR               # write them to DIR instead
#   bash kubelite/api/openapi/generate.sh --compare-upstream F    # also check every message against
#                                                                 # gnostic's OpenAPIv2.proto F: same
#                                                                 # names, numbers, types and labels
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../../.." && pwd)
python=${PYTHON:-$repo/.venv/bin/python}
out=$here
upstream=""

while [ $# -gt 0 ]; do
  case "$1" in
    --out) out=$2; shift 2 ;;
    --compare-upstream) upstream=$2; shift 2 ;;
    *) echo "generate.sh: unknown argument: $1 (allowed: --out DIR, --compare-upstream FILE)" >&2; exit 2 ;;
  esac
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/src/kubelite/api/openapi" "$work/gen"
cp "$here/openapiv2.proto" "$work/src/kubelite/api/openapi/openapiv2.proto"

"$python" -m grpc_tools.protoc -I "$work/src" --python_out="$work/gen" --pyi_out="$work/gen" \
  kubelite/api/openapi/openapiv2.proto

mkdir -p "$out"
for f in openapiv2_pb2.py openapiv2_pb2.pyi; do
  cp "$work/gen/kubelite/api/openapi/$f" "$out/$f"
done

if [ -n "$upstream" ]; then
  mkdir -p "$work/up/openapiv2"
  cp "$upstream" "$work/up/openapiv2/OpenAPIv2.proto"
  "$python" -m grpc_tools.protoc -I "$work/up" --descriptor_set_out="$work/upstream.pb" openapiv2/OpenAPIv2.proto
  "$python" -m grpc_tools.protoc -I "$work/src" --descriptor_set_out="$work/ours.pb" \
    kubelite/api/openapi/openapiv2.proto
  "$python" - "$work/ours.pb" "$work/upstream.pb" <<'PY'
import sys
from google.protobuf import descriptor_pb2

def load(path):
    fds = descriptor_pb2.FileDescriptorSet()
    with open(path, "rb") as f:
        fds.ParseFromString(f.read())
    (fd,) = fds.file
    return fd.package, {m.name: {f.name: (f.number, f.type, f.label, f.type_name, f.HasField("oneof_index"))
                                 for f in m.field} for m in fd.message_type}

(our_pkg, ours), (their_pkg, theirs) = load(sys.argv[1]), load(sys.argv[2])
problems = [] if our_pkg == their_pkg else [f"package {our_pkg} != upstream {their_pkg}"]
for name in sorted(ours.keys() | theirs.keys()):
    if ours.get(name) != theirs.get(name):
        problems.append(f"message {name}: {ours.get(name)} != upstream {theirs.get(name)}")
if problems:
    print("generate.sh: differences from upstream:", *problems, sep="\n  ", file=sys.stderr)
    sys.exit(1)
print(f"generate.sh: {len(ours)} messages match upstream")
PY
fi
