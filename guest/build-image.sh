#!/usr/bin/env bash
# Build ucloud's tiny test guest disk from Debian packages.
#
#   guest/build-image.sh OUTPUT.qcow2
#
# No mounts and no root needed (works as root too). Packages are fetched with
# `apt-get download` into a cache (UCLOUD_GUEST_CACHE, default
# ~/.cache/ucloud/guest) and reused on later runs. See guest/README.md.
set -euo pipefail

PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
export LC_ALL=C MTOOLS_SKIP_CHECK=1

prog=${0##*/}
die() { printf '%s: error: %s\n' "$prog" "$*" >&2; exit 1; }
say() { printf '%s: %s\n' "$prog" "$*" >&2; }

[ $# -eq 1 ] && [ -n "$1" ] || { echo "usage: $prog OUTPUT.qcow2" >&2; exit 2; }
output=$1
script_dir=$(cd "$(dirname "$0")" && pwd)

cache=${UCLOUD_GUEST_CACHE:-$HOME/.cache/ucloud/guest}
kernel_meta=${UCLOUD_GUEST_KERNEL_META:-linux-image-cloud-amd64}
disk_mib=64          # virtual size of the image; VMs get a bigger overlay
part_start_mib=1
syslinux_mbr=${UCLOUD_GUEST_SYSLINUX_MBR:-/usr/lib/syslinux/mbr/mbr.bin}
# Kernel command line. Besides the serial console and `quiet` (printing to the
# emulated UART is slow), these cut ~0.3 s of boot under TCG: no_timer_check
# skips the IO-APIC timer test, 8250.nr_uarts=1 probes a single UART, i8042.*
# skip PS/2 mouse and PnP probing, cryptomgr.notests skips crypto self-tests.
kernel_append=${UCLOUD_GUEST_APPEND:-console=ttyS0 quiet no_timer_check 8250.nr_uarts=1 i8042.noaux i8042.nopnp cryptomgr.notests}

# Modules we want, in any order; their dependencies are resolved from each
# module's modinfo `depends=` (the .deb ships no modules.dep). Missing
# optional ones are skipped; missing required ones are an error.
required_modules="virtio_pci virtio_net virtio_blk"
optional_modules="virtio_rng button evdev"

for tool in apt-get apt-cache dpkg-deb ldd cpio gzip mkfs.vfat mcopy syslinux parted qemu-img truncate dd; do
  command -v "$tool" >/dev/null 2>&1 || die "missing tool '$tool' (packages: busybox-static dropbear-bin mtools dosfstools syslinux syslinux-common parted qemu-utils cpio)"
done
[ -r "$syslinux_mbr" ] || die "missing $syslinux_mbr (install syslinux-common)"

output_dir=$(dirname -- "$output")
mkdir -p -- "$output_dir"
mkdir -p -- "$cache"

work=$(mktemp -d "${TMPDIR:-/tmp}/ucloud-guest.XXXXXX")
partial="$output_dir/.${output##*/}.partial.$$"
kernel_unpack=
cleanup() {
  if [ -n "$kernel_unpack" ]; then kill "$kernel_unpack" 2>/dev/null || true; wait "$kernel_unpack" 2>/dev/null || true; fi
  rm -rf -- "$work"; rm -f -- "$partial"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- packages --
apt_hint="package lists are missing or stale: run 'apt-get update' (as root) and try again"

small_packages="busybox-static dropbear-bin libtomcrypt1 libtommath1"

# One apt-cache call (each call re-reads all package lists, ~0.5 s, when apt
# keeps no pkgcache.bin) gives the candidate versions and the kernel package
# the meta package depends on, e.g. linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2).
declare -A candidate
kernel_pkg=
pkg_name=
while IFS= read -r line; do
  case $line in
    "Package: "*) pkg_name=${line#Package: } ;;
    "Version: "*) candidate[$pkg_name]=${line#Version: } ;;
    "Depends: "*)
      [ "$pkg_name" = "$kernel_meta" ] || continue
      dep=$(printf '%s\n' "${line#Depends: }" | tr ',|' '\n\n' |
        sed -n 's/^ *\(linux-image-[^ ]*\)\( *(= *\([^)]*\))\)\{0,1\}.*$/\1 \3/p' | head -n 1)
      if [ -n "$dep" ]; then
        kernel_pkg=${dep%% *}
        [ -n "${dep#* }" ] && candidate[$kernel_pkg]=${dep#* }
      fi
      ;;
  esac
done < <(apt-cache show --no-all-versions "$kernel_meta" $small_packages 2>/dev/null || true)

if [ -z "$kernel_pkg" ]; then
  # Offline with a warm cache: use the newest kernel we already have.
  cached=$(cd "$cache" && ls linux-image-*-cloud-amd64_*.deb 2>/dev/null | sort -V | tail -n 1) || true
  [ -n "$cached" ] || die "cannot resolve the dependency of '$kernel_meta' with apt-cache; $apt_hint"
  kernel_pkg=${cached%%_*}
  say "warning: apt-cache cannot resolve '$kernel_meta'; using cached $cached"
fi
packages="$kernel_pkg $small_packages"

apt_opts=()
# As root, apt drops to the _apt user, which may not be able to write into
# the cache under /root; download as root instead of warning about it.
[ "$(id -u)" -eq 0 ] && apt_opts+=(-o APT::Sandbox::User=root)

# Echo the cached .deb for a package: the apt candidate version if apt knows
# it, else the newest cached file (offline).
cached_deb() {
  local pkg=$1 ver=${candidate[$1]:-} f
  if [ -n "$ver" ]; then
    for f in "$cache/${pkg}_${ver//:/%3a}_"*.deb; do
      [ -f "$f" ] && { echo "$f"; return 0; }
    done
    return 1
  fi
  f=$(ls "$cache/${pkg}_"*.deb 2>/dev/null | sort -V | tail -n 1) || true
  [ -n "$f" ] && { echo "$f"; return 0; }
  return 1
}

missing=()
for pkg in $packages; do
  cached_deb "$pkg" >/dev/null || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "downloading ${missing[*]} into $cache"
  if ! (cd "$cache" && apt-get "${apt_opts[@]}" -q download "${missing[@]}") >"$work/apt.log" 2>&1; then
    cat "$work/apt.log" >&2
    if grep -qE "Unable to locate package|Can't select candidate|has no installation candidate|No packages found|Can't find a source to download" "$work/apt.log"; then
      die "apt-get download failed: $apt_hint"
    fi
    die "apt-get download ${missing[*]} failed (see above)"
  fi
fi

declare -A deb
for pkg in $packages; do
  deb[$pkg]=$(cached_deb "$pkg") || die "no .deb for $pkg in $cache after download; $apt_hint"
done

# ------------------------------------------------------------------ unpack --
ex="$work/x"
mkdir -p "$ex"
# The kernel (~100 MB of modules) unpacks in the background while the rest of
# the root file system is assembled.
kdir="$ex/$kernel_pkg"
mkdir -p "$kdir"
dpkg-deb -x "${deb[$kernel_pkg]}" "$kdir" &
kernel_unpack=$!
for pkg in $packages; do
  [ "$pkg" = "$kernel_pkg" ] && continue
  mkdir -p "$ex/$pkg"
  dpkg-deb -x "${deb[$pkg]}" "$ex/$pkg" || die "dpkg -x ${deb[$pkg]} failed (corrupt download? delete it and retry)"
done

# ------------------------------------------------------------------ rootfs --
root="$work/root"
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc/acpi,etc/dropbear,etc/ucloud,lib/modules,lib64,lib/x86_64-linux-gnu,proc,sys,dev,run,tmp,root/.ssh,var/log,mnt}
ln -s ../run "$root/var/run"
: >"$root/var/log/lastlog"; : >"$root/var/log/wtmp"   # dropbear logs logins here
chmod 755 "$root"
chmod 1777 "$root/tmp"
chmod 700 "$root/root" "$root/root/.ssh" "$root/etc/dropbear"

# busybox + applet links
install -m 755 "$ex/busybox-static/bin/busybox" "$root/bin/busybox"
"$root/bin/busybox" --list-full | while read -r applet; do
  [ "$applet" = bin/busybox ] && continue
  [ -e "$root/$applet" ] || ln -s /bin/busybox "$root/$applet"
done
[ -e "$root/bin/sh" ] || ln -s /bin/busybox "$root/bin/sh"

# dropbear with the libraries ldd reports, plus the dynamic loader
install -m 755 "$ex/dropbear-bin/usr/sbin/dropbear" "$root/usr/sbin/dropbear"
libpath="$ex/libtomcrypt1/usr/lib/x86_64-linux-gnu:$ex/libtommath1/usr/lib/x86_64-linux-gnu"
LD_LIBRARY_PATH=$libpath ldd "$root/usr/sbin/dropbear" >"$work/ldd.txt" 2>&1 ||
  { cat "$work/ldd.txt" >&2; die "ldd dropbear failed"; }
if grep -q 'not found' "$work/ldd.txt"; then
  cat "$work/ldd.txt" >&2; die "dropbear has unresolved libraries"
fi
while read -r a b c _; do
  if [ "$b" = "=>" ] && [ "${c#/}" != "$c" ]; then
    cp -L "$c" "$root/lib/x86_64-linux-gnu/$a"        # soname => path
  elif [ "${a#/}" != "$a" ]; then
    mkdir -p "$root$(dirname "$a")"; cp -L "$a" "$root$a" # the loader
  fi
done <"$work/ldd.txt"
chmod 755 "$root"/lib/x86_64-linux-gnu/* "$root"/lib64/*

# /etc
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
tty:x:5:
nogroup:x:65534:
EOF
printf 'root:*:19000:0:99999:7:::\n' >"$root/etc/shadow"
chmod 600 "$root/etc/shadow"
printf '/bin/sh\n/bin/ash\n' >"$root/etc/shells"
printf 'ucloud-guest\n' >"$root/etc/hostname"
printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
cat >"$root/etc/profile" <<'EOF'
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root
PS1='\u@\h:\w\$ '
EOF

# power-off helper: used by acpid (power button) and by init's signal traps
cat >"$root/usr/sbin/ucloud-poweroff" <<'EOF'
#!/bin/sh
# Announce on the serial console, then power off now (QEMU exits).
echo UCLOUD-GUEST-POWEROFF >/dev/console
exec /bin/busybox poweroff -f
EOF
chmod 755 "$root/usr/sbin/ucloud-poweroff"
# busybox acpid maps the KEY_POWER input event to "PWRF", runs /etc/acpi/<action>
printf 'PWRF poweroff\n' >"$root/etc/acpid.conf"
ln -s /usr/sbin/ucloud-poweroff "$root/etc/acpi/poweroff"

# Optional guest agent, written separately: guest/ucloud-init (or
# UCLOUD_GUEST_INIT) is installed as /usr/sbin/ucloud-init when it exists.
agent=${UCLOUD_GUEST_INIT:-$script_dir/ucloud-init}
if [ -f "$agent" ]; then
  install -m 755 "$agent" "$root/usr/sbin/ucloud-init"
  say "including $agent as /usr/sbin/ucloud-init"
fi

cat >"$root/init" <<'EOF'
#!/bin/sh
# PID 1 of the ucloud test guest (busybox sh). See guest/README.md.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root

mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t devtmpfs -o nosuid,mode=755 devtmpfs /dev
exec </dev/console >/dev/console 2>&1
mkdir -p /dev/pts /dev/shm
mount -t devpts -o nosuid,noexec,gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o nosuid,nodev,mode=755 tmpfs /run
mount -t tmpfs -o nosuid,nodev,mode=1777 tmpfs /tmp
hostname ucloud-guest
: >/run/utmp

# Modules, dependencies first (order written by build-image.sh).
while read -r m; do
  insmod "/lib/modules/$m.ko" >/dev/null 2>&1 || echo "init: insmod $m failed"
done </etc/ucloud/modules

# Power button (QMP system_powerdown) -> acpid -> /etc/acpi/poweroff.
# Started before the boot marker so a power-down sent right after it works.
if [ -e /dev/input/event0 ]; then
  acpid -c /etc/acpi -a /etc/acpid.conf -l /run/acpid.log -p /run/acpid.pid
else
  echo "init: no input event devices; the power button will not work"
fi
# `poweroff`/`halt`/`reboot` inside the guest signal PID 1.
trap '/usr/sbin/ucloud-poweroff' USR1 USR2
trap 'echo UCLOUD-GUEST-REBOOT >/dev/console; reboot -f' TERM

echo UCLOUD-GUEST-BOOTED >/dev/console
disks=
for d in /sys/block/vd*; do
  [ -r "$d/size" ] || continue
  disks="$disks ${d##*/}=$(cat "$d/size")"
done
echo "UCLOUD-GUEST-DISKS$disks" >/dev/console

# Boot record (the HA tests read them): each boot writes "UCLOUD-BOOT <slot>
# <boot id>" into the next free 512-byte slot of the MiB after the image's
# 64 MiB, where the disk goes beyond it, and says so on the console.
base=$((64 * 2048))
if [ -b /dev/vda ] && [ "$(cat /sys/block/vda/size)" -ge $((base + 2048)) ]; then
  n=0
  while [ $n -lt 2048 ] && [ -n "$(dd if=/dev/vda bs=512 skip=$((base + n)) count=1 2>/dev/null | tr -d '\000')" ]; do
    n=$((n + 1))
  done
  id=$(cat /proc/sys/kernel/random/boot_id)
  # fsync: the guest's flush makes QEMU write its qcow2 metadata, so a reader on the host sees it.
  if [ $n -lt 2048 ] && printf 'UCLOUD-BOOT %s %s\n' "$n" "$id" | dd of=/dev/vda bs=512 seek=$((base + n)) count=1 conv=sync,notrunc,fsync 2>/dev/null; then
    echo "UCLOUD-GUEST-BOOT-RECORD $n $id" >/dev/console
  fi
fi

# Network: IPv6 SLAAC with EUI-64 addresses (no privacy addresses).
ip link set lo up
for c in default $(cd /sys/class/net && ls -d eth* 2>/dev/null); do
  p=/proc/sys/net/ipv6/conf/$c
  [ -d "$p" ] || continue
  echo 1 >"$p/accept_ra"
  echo 1 >"$p/autoconf"
  echo 0 >"$p/addr_gen_mode"
  echo 0 >"$p/use_tempaddr"
  [ "$c" = default ] || ip link set "$c" up
done

dropbear -F -E -R -s -p 22 </dev/null >/dev/console 2>&1 &

if [ -f /usr/sbin/ucloud-init ]; then
  if [ -x /usr/sbin/ucloud-init ]; then
    /usr/sbin/ucloud-init </dev/null >/dev/console 2>&1 &
  else
    sh /usr/sbin/ucloud-init </dev/null >/dev/console 2>&1 &
  fi
fi

# Debug aid: boot with `ucloud.shell` on the kernel command line for a shell
# on the serial console (off by default: its prompt would garble the log).
case " $(cat /proc/cmdline) " in
  *" ucloud.shell "*)
    (while :; do setsid cttyhack sh -l; sleep 1; done) </dev/null >/dev/null 2>&1 & ;;
esac

# PID 1 must never exit. `wait` (unlike a foreground sleep) lets the traps run at once.
while :; do
  sleep 3600 &
  wait $!
done
EOF
chmod 755 "$root/init"

# kernel and modules: resolve dependencies, copy (decompressed) in load order
wait "$kernel_unpack" || { kernel_unpack=; die "dpkg -x ${deb[$kernel_pkg]} failed (corrupt download? delete it and retry)"; }
kernel_unpack=
vmlinuz=$(ls "$kdir"/boot/vmlinuz-* 2>/dev/null | head -n 1) || true
[ -n "$vmlinuz" ] || die "no /boot/vmlinuz-* in ${deb[$kernel_pkg]}"
kver=${vmlinuz##*/vmlinuz-}
kconfig="$kdir/boot/config-$kver"
moddir="$kdir/lib/modules/$kver"
[ -d "$moddir" ] || die "no lib/modules/$kver in ${deb[$kernel_pkg]}"
find_module() { # name -> path of its .ko[.xz|.zst|.gz], or nothing
  local n=$1 alt=${1//_/-}
  find "$moddir/kernel" \( -name "$n.ko" -o -name "$n.ko.*" -o -name "$alt.ko" -o -name "$alt.ko.*" \) -print -quit
}
module_cat() {
  case $1 in
    *.ko) cat "$1" ;;
    *.ko.xz) xz -dc "$1" ;;
    *.ko.zst) zstd -qdc "$1" ;;
    *.ko.gz) gzip -dc "$1" ;;
    *) die "unknown module format: $1" ;;
  esac
}
builtin_module() { # is this module built into the kernel (=y)?
  [ -f "$moddir/modules.builtin" ] && grep -qE "/${1//_/[-_]}\.ko$" "$moddir/modules.builtin"
}
order=()
declare -A seen
add_module() { # name required(1/0)
  local name=$1 req=$2 src deps d
  [ -n "${seen[$name]:-}" ] && return 0
  seen[$name]=1
  src=$(find_module "$name")
  if [ -z "$src" ]; then
    builtin_module "$name" && return 0
    [ "$req" = 1 ] && die "kernel module $name not found in $kernel_pkg"
    say "note: module $name not found (built in or absent); skipping"
    return 0
  fi
  module_cat "$src" >"$root/lib/modules/$name.ko"
  deps=$(tr '\0' '\n' <"$root/lib/modules/$name.ko" | sed -n 's/^depends=//p' | head -n 1)
  for d in ${deps//,/ }; do add_module "$d" 1; done
  order+=("$name")
}
for m in $required_modules; do add_module "$m" 1; done
for m in $optional_modules; do add_module "$m" 0; done
printf '%s\n' "${order[@]}" >"$root/etc/ucloud/modules"
say "modules: ${order[*]}"
if [ -f "$kconfig" ] && grep -q '^CONFIG_ACPI_BUTTON=y' "$kconfig"; then
  say "note: ACPI button driver is built into the kernel"
fi

# ---------------------------------------------------------------- initramfs --
# A /dev/console node must exist before /init runs (the kernel opens it for
# init's stdio). Creating device nodes needs root, so append a hand-written
# newc entry for it instead: the kernel accepts concatenated cpio archives.
newc_entry() { # name mode(octal) rdevmajor rdevminor
  local name=$1 mode=$2 maj=$3 min=$4 namesize hdr pad
  namesize=$(( ${#name} + 1 ))
  hdr=$(printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
    1 $((8#$mode)) 0 0 1 0 0 0 0 "$maj" "$min" "$namesize" 0)
  printf '%s%s\0' "$hdr" "$name"
  pad=$(( (4 - (110 + namesize) % 4) % 4 ))
  [ $pad -gt 0 ] && head -c $pad /dev/zero
  return 0
}
{
  (cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet)
  newc_entry dev/console 020600 5 1
  newc_entry TRAILER!!! 0 0 0
} | gzip -6 -n >"$work/initrd.gz"

# ------------------------------------------------------------------- disk --
cat >"$work/syslinux.cfg" <<EOF
DEFAULT ucloud
PROMPT 0
TIMEOUT 0
NOESCAPE 1
LABEL ucloud
  LINUX /vmlinuz
  INITRD /initrd.gz
  APPEND $kernel_append
EOF

part_mib=$(( disk_mib - part_start_mib ))
start_sector=$(( part_start_mib * 2048 ))
end_sector=$(( disk_mib * 2048 - 1 ))

fat="$work/fat.img"
mkfs.vfat -F 16 -n UCLOUD -h "$start_sector" -C "$fat" $(( part_mib * 1024 )) >/dev/null
mcopy -i "$fat" "$vmlinuz" ::/vmlinuz
mcopy -i "$fat" "$work/initrd.gz" ::/initrd.gz
mcopy -i "$fat" "$work/syslinux.cfg" ::/syslinux.cfg
syslinux --install "$fat"

raw="$work/disk.raw"
truncate -s "${disk_mib}M" "$raw"
# (parted calls `udevadm settle`, which may be missing: keep its chatter quiet)
parted -s "$raw" mklabel msdos mkpart primary fat16 "${start_sector}s" "${end_sector}s" set 1 boot on \
  >"$work/parted.log" 2>&1 || { cat "$work/parted.log" >&2; die "parted failed"; }
dd if="$fat" of="$raw" bs=1M seek="$part_start_mib" conv=notrunc,sparse status=none
dd if="$syslinux_mbr" of="$raw" bs=440 count=1 conv=notrunc status=none

qemu-img convert -f raw -O qcow2 "$raw" "$partial"
mv -f -- "$partial" "$output"
say "built $output (kernel $kver, initrd $(( $(stat -c %s "$work/initrd.gz") / 1024 )) KiB, disk ${disk_mib} MiB)"
