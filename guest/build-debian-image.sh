#!/usr/bin/env bash
# Build a stock Debian cloud image (what Debian's genericcloud image is, for
# what matters to ucloud) from Debian's packages, with no loop mounts.
#
#   guest/build-debian-image.sh OUTPUT.qcow2
#
# Nothing of ucloud goes into the image: no keys, no seed, no datasource or
# ds-identify settings; /etc/cloud is Debian's own. Needs root (mmdebstrap
# keeps file owners; run it in a container or VM you may write to). The
# downloaded .debs are kept in UCLOUD_DEBIAN_CACHE (default
# ~/.cache/ucloud/debian-debs) for the next build. See guest/README.md.
set -euo pipefail

PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export LC_ALL=C MTOOLS_SKIP_CHECK=1

prog=${0##*/}
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }
say() { printf '%s: %s\n' "$prog" "$*" >&2; }

[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: $prog OUTPUT.qcow2 | --cached" >&2; exit 2; }
output=$1
[ "$(id -u)" -eq 0 ] || die "run as root (mmdebstrap must keep file owners)"

suite=${UCLOUD_DEBIAN_SUITE:-bookworm}
case $suite in bookworm) version=12 ;; trixie) version=13 ;; *) version=$suite ;; esac

# --cached: the image for this very script (and suite), built once per machine
# into ~/.cache/ucloud and rebuilt only when this script changes; prints its path.
if [ "$output" = --cached ]; then
  dir=${UCLOUD_IMAGE_CACHE:-$HOME/.cache/ucloud}
  hash=$(sha256sum "$0" | cut -c1-12)
  cached="$dir/debian-$version-cloud-$hash.qcow2"
  mkdir -p -- "$dir"
  exec 9>"$dir/.debian-$version-cloud.lock"
  flock 9    # test files and benchmarks started together build it once
  if [ ! -f "$cached" ]; then
    "$0" "$cached" >&2
    find "$dir" -maxdepth 1 -name "debian-$version-cloud-*.qcow2" ! -name "${cached##*/}" -delete
  fi
  echo "$cached"
  exit 0
fi
mirror=${UCLOUD_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${UCLOUD_DEBIAN_CACHE:-$HOME/.cache/ucloud/debian-debs/$suite}
disk_mib=2048       # virtual size, as Debian's genericcloud image (2 GiB)
boot_mib=64         # FAT partition with syslinux, kernel and initrd
syslinux_mbr=${UCLOUD_GUEST_SYSLINUX_MBR:-/usr/lib/syslinux/mbr/mbr.bin}

# What the official image has that matters here. Bookworm's genericcloud image
# configures the network with netplan rendering for systemd-networkd, and
# resolves names through systemd-resolved; networkd also takes RDNSS from
# router advertisements. (No ifupdown: with it, cloud-init would render
# /etc/network/interfaces, which ignores RDNSS.) dbus lets logind handle the
# ACPI power button; sudo is what cloud-init gives the default user.
packages=(
  linux-image-cloud-amd64 systemd-sysv udev dbus cloud-init cloud-guest-utils
  openssh-server sudo netplan.io systemd-resolved iproute2 fdisk e2fsprogs
  ca-certificates locales
)
# Kernel command line of Debian's cloud images.
append="console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0"

for tool in mmdebstrap mke2fs mkfs.vfat mcopy syslinux parted qemu-img truncate dd uuidgen; do
  command -v "$tool" >/dev/null 2>&1 || die "missing tool '$tool' (packages: mmdebstrap e2fsprogs dosfstools mtools syslinux syslinux-common parted qemu-utils uuid-runtime)"
done
[ -r "$syslinux_mbr" ] || die "missing $syslinux_mbr (install syslinux-common)"

output_dir=$(dirname -- "$output")
mkdir -p -- "$output_dir" "$cache"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/ucloud-debian.XXXXXX")
partial="$output_dir/.${output##*/}.partial.$$"
cleanup() { rm -rf -- "$work"; rm -f -- "$partial"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$SECONDS
root="$work/root"
# No fsync per file while unpacking (the image file is written once at the
# end); the .debs come from and go back to $cache. Documentation and
# translations stay, as in Debian's image: leaving them out made mmdebstrap
# pipe every essential package through its Python tar filter (34 of 135 s).
# The initramfs is made once, after every package is in: during the install
# update-initramfs is a no-op (diverted), or the kernel's postinst and the
# trigger at the end would each make it (16-18 s apiece).
say "mmdebstrap $suite from $mirror (packages cached in $cache)"
mmdebstrap --variant=minbase --mode=root --quiet \
  --include="$(IFS=,; echo "${packages[*]}")" \
  --dpkgopt='force-unsafe-io' \
  --skip=download/empty \
  --essential-hook='chroot "$1" dpkg-divert --quiet --local --rename --add /usr/sbin/update-initramfs && printf "#!/bin/sh\nexit 0\n" >"$1/usr/sbin/update-initramfs" && chmod 755 "$1/usr/sbin/update-initramfs"' \
  --customize-hook='rm -f "$1/usr/sbin/update-initramfs" && chroot "$1" dpkg-divert --quiet --local --rename --remove /usr/sbin/update-initramfs && chroot "$1" update-initramfs -c -k "$(ls "$1/lib/modules")"' \
  --setup-hook='mkdir -p "$1"/var/cache/apt/archives' \
  --setup-hook="cp -a '$cache'/. \"\$1\"/var/cache/apt/archives/ 2>/dev/null || true" \
  --customize-hook="cp -a \"\$1\"/var/cache/apt/archives/*.deb '$cache'/ 2>/dev/null || true" \
  --customize-hook='rm -f "$1"/var/cache/apt/archives/*.deb' \
  "$suite" "$root" "$mirror" >"$work/mmdebstrap.log" 2>&1 ||
  { tail -n 40 "$work/mmdebstrap.log" >&2; die "mmdebstrap failed"; }
say "root file system in $(( SECONDS - started )) s"

# First-boot state, as Debian's image build leaves it: no host keys (cloud-init
# makes them), an empty machine-id, no package lists.
rm -f "$root"/etc/ssh/ssh_host_*
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old
printf 'localhost\n' >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\nff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n' >"$root/etc/hosts"
ln -sf ../run/systemd/resolve/stub-resolv.conf "$root/etc/resolv.conf"
# cloud-init's locale module sets en_US.UTF-8 (its Debian default) on first
# boot; generated here, as in Debian's image, it finds it already set instead
# of failing without `locales` or spending seconds in locale-gen under TCG.
printf 'en_US.UTF-8 UTF-8\n' >"$root/etc/locale.gen"
chroot "$root" locale-gen >/dev/null
printf 'LANG=en_US.UTF-8\n' >"$root/etc/default/locale"
# Unit links that the maintainer scripts make only when systemd runs.
for unit in systemd-networkd.service systemd-resolved.service; do
  [ -f "$root/lib/systemd/system/$unit" ] || continue
  mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
  ln -sf "/lib/systemd/system/$unit" "$root/etc/systemd/system/multi-user.target.wants/$unit"
done

kernel=$(ls "$root"/boot/vmlinuz-* 2>/dev/null | sort -V | tail -n 1) || true
[ -n "$kernel" ] || die "no kernel in /boot"
kver=${kernel##*/vmlinuz-}
initrd="$root/boot/initrd.img-$kver"
[ -f "$initrd" ] || die "no initrd for $kver"

root_uuid=$(uuidgen)
cat >"$root/etc/fstab" <<EOF
UUID=$root_uuid / ext4 rw,discard,errors=remount-ro 0 1
EOF

# ------------------------------------------------------------------- disk --
boot_start=2048                                  # sectors (1 MiB)
boot_end=$(( (1 + boot_mib) * 2048 - 1 ))
root_start=$(( boot_end + 1 ))
root_end=$(( disk_mib * 2048 - 1 ))
root_bytes=$(( (root_end - root_start + 1) * 512 ))

cat >"$work/syslinux.cfg" <<EOF
DEFAULT debian
PROMPT 0
TIMEOUT 0
LABEL debian
  LINUX /vmlinuz
  INITRD /initrd.img
  APPEND root=UUID=$root_uuid ro $append
EOF
fat="$work/boot.img"
mkfs.vfat -F 16 -n BOOT -h "$boot_start" -C "$fat" $(( boot_mib * 1024 )) >/dev/null
mcopy -i "$fat" "$kernel" ::/vmlinuz
mcopy -i "$fat" "$initrd" ::/initrd.img
mcopy -i "$fat" "$work/syslinux.cfg" ::/syslinux.cfg
syslinux --install "$fat"

# The root file system is the last partition, so growpart can grow it.
ext="$work/root.img"
mke2fs -q -F -t ext4 -L root -U "$root_uuid" -d "$root" -E root_owner=0:0 "$ext" "$(( root_bytes / 1024 ))k"

raw="$work/disk.raw"
truncate -s "${disk_mib}M" "$raw"
parted -s "$raw" mklabel msdos \
  mkpart primary fat16 "${boot_start}s" "${boot_end}s" set 1 boot on \
  mkpart primary ext4 "${root_start}s" "${root_end}s" >"$work/parted.log" 2>&1 ||
  { cat "$work/parted.log" >&2; die "parted failed"; }
dd if="$fat" of="$raw" bs=512 seek="$boot_start" conv=notrunc,sparse status=none
dd if="$ext" of="$raw" bs=1M seek="$(( root_start / 2048 ))" conv=notrunc,sparse status=none
dd if="$syslinux_mbr" of="$raw" bs=440 count=1 conv=notrunc status=none

qemu-img convert -f raw -O qcow2 "$raw" "$partial"
mv -f -- "$partial" "$output"
say "built $output in $(( SECONDS - started )) s ($suite, kernel $kver, cloud-init $(dpkg-query --admindir="$root/var/lib/dpkg" -W -f='${Version}' cloud-init), $(( $(stat -c %s "$output") / 1048576 )) MiB qcow2, ${disk_mib} MiB virtual)"
