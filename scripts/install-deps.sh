#!/usr/bin/env bash
# Installs what ucloud and its test suite need on Debian 12 (run as root).
# Used by scripts/quickstart.sh and by CI, so both machines get the same set.
set -euo pipefail

PACKAGES=(
  # VMs
  qemu-system-x86 qemu-utils qemu-block-extra
  # the sandbox qemu-img runs in when it reads a user's image (src/storage/sandbox.ts)
  bubblewrap
  # state
  etcd-server etcd-client
  # networking (bridges, taps, VXLAN, router advertisements, bridge filtering)
  iproute2 radvd nftables
  # route_mode bgp: each host announces its VMs' addresses to the upstream (src/host/network/bird.ts)
  bird2
  # building the test guest image without mounts (mtools and dosfstools also make the cidata disk of a VM without a network)
  busybox-static dropbear-bin mtools dosfstools syslinux syslinux-common parted cpio kmod xz-utils
  # building the stock Debian cloud image of the e2e test and bench/cloud-image (guest/build-debian-image.sh)
  mmdebstrap e2fsprogs util-linux
  # Ceph image stores and the single-node test cluster
  ceph-mon ceph-osd ceph-mgr ceph-common uuid-runtime
  # tools the tests and the guest recipe use (gcc + libc6-dev: the static raw-frame tool of the cross-tenant test)
  openssh-client ca-certificates gcc libc6-dev
  # rdisc6: the tests read radvd's router advertisements (RDNSS)
  ndisc6
  # migration TLS: `ucloud host certs` makes the cluster CA and host certificates; the TLS test captures the stream
  openssl tcpdump
  # `ucloud host preflight` pings the other hosts over the underlay
  iputils-ping
  # the web dashboard's e2e test drives Debian's headless Chromium (puppeteer-core; no browser is downloaded)
  chromium
  # the metrics test starts its own Prometheus and checks docs/prometheus/ with promtool
  prometheus
)

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: run as root (sudo $0)" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
# The package starts a Prometheus on :9090 for the machine; the tests start their own, so none is left running.
if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
echo "install-deps: $(qemu-system-x86_64 --version | head -1); etcd $(etcd --version | head -1 | awk '{print $3}'); node $(node --version)"
