#!/usr/bin/env bash
# Build the tiny bootable test guest of the libvirt driver tests (issue 7):
# a Debian kernel plus a busybox initramfs whose init powers the machine off
# when the ACPI power button is pressed.
#
#   scripts/build-test-guest.sh OUT_DIR
#
# Output, in OUT_DIR: vmlinuz, initrd.img, cmdline (the kernel command line to
# use) and stamp (what it was built from; a second run with the same inputs does
# nothing). Only apt is used for downloads (`apt-get download`, nothing is
# installed into the host's /boot); busybox-static and cpio are installed with
# apt-get when missing and we are root.
#
# How the guest answers libvirt:
# - SOFT stop: libvirt sends the ACPI power button (virDomainShutdown without a
#   connected guest agent); the kernel's `button` driver turns it into a
#   KEY_POWER input event, which /init waits for on /dev/input/eventN, then it
#   powers off.
# - SOFT reboot: libvirt's QEMU driver implements virDomainReboot without an
#   agent as the same ACPI power button plus a "fake reboot": QEMU runs with
#   -no-shutdown and, when the guest powers off, libvirt resets the machine and
#   lets it run instead of ending it. So powering off on the power button answers
#   both; the guest needs no ctrl-alt-del or reboot handling of its own.
# - With `deskplane.agent` on the kernel command line, /init also starts the
#   QEMU guest agent (Debian's qemu-guest-agent, with its shared libraries
#   copied from this machine) on the org.qemu.guest_agent.0 port. libvirt then
#   prefers the agent for shutdown and reboot (qemu-ga runs /sbin/shutdown, a
#   script here that calls busybox poweroff/reboot), and logoff can guest-exec.
# Each boot prints "deskplane-test-guest: booted" on the serial console once it
# listens to the power button (and "agent running" before, with the agent), so
# a test can count boots in the domain's console log.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUT_DIR" >&2
    exit 2
fi
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)

need_pkgs=()
if ! dpkg -s busybox-static >/dev/null 2>&1; then need_pkgs+=(busybox-static); fi
if ! command -v cpio >/dev/null 2>&1; then need_pkgs+=(cpio); fi
if [[ ${#need_pkgs[@]} -gt 0 ]]; then
    if [[ $(id -u) -ne 0 ]]; then
        echo "build-test-guest: missing Debian packages: ${need_pkgs[*]} (run as root or install them)" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y "${need_pkgs[@]}" >/dev/null
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# `apt-get download` drops privileges to _apt, which must be able to write here.
chmod 0777 "$work"

# The cloud kernel is the smallest Debian kernel that boots under KVM and TCG.
kernel_pkg=${DESKPLANE_TEST_KERNEL_PKG:-}
if [[ -z $kernel_pkg ]]; then
    kernel_pkg=$(apt-cache depends linux-image-cloud-amd64 2>/dev/null |
        awk '/Depends: linux-image-/ {print $2; exit}')
fi
busybox_ver=$(dpkg-query -W -f='${Version}' busybox-static)
qga_ver=$(apt-cache policy qemu-guest-agent 2>/dev/null | awk '/Candidate:/ {print $2}')
if [[ -z $qga_ver || $qga_ver == "(none)" ]]; then
    echo "build-test-guest: qemu-guest-agent is not in apt's index (run apt-get update)" >&2
    exit 1
fi
script_sum=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)

kernel_src=
if [[ -n $kernel_pkg ]]; then
    kernel_ver=$(apt-cache policy "$kernel_pkg" 2>/dev/null | awk '/Candidate:/ {print $2}')
    stamp="kernel=$kernel_pkg $kernel_ver busybox=$busybox_ver qga=$qga_ver script=$script_sum"
else
    # No apt index (offline machine): fall back to the running kernel, if /boot has it.
    kernel_src=/boot/vmlinuz-$(uname -r)
    if [[ ! -r $kernel_src ]]; then
        echo "build-test-guest: no linux-image-cloud-amd64 in apt's index (run apt-get update)" \
            "and no readable $kernel_src" >&2
        exit 1
    fi
    stamp="kernel=$kernel_src busybox=$busybox_ver qga=$qga_ver script=$script_sum"
fi

if [[ -f $out/stamp && $(cat "$out/stamp") == "$stamp" && -s $out/vmlinuz && -s $out/initrd.img ]]; then
    echo "build-test-guest: $out is up to date ($stamp)"
    exit 0
fi

root=$work/root
mkdir -p "$root"/{bin,dev,proc,sys,lib/modules}
if [[ -z $kernel_src ]]; then
    (cd "$work" && apt-get download "$kernel_pkg" >/dev/null 2>&1) || {
        echo "build-test-guest: apt-get download $kernel_pkg failed" >&2
        exit 1
    }
    dpkg-deb -x "$work"/"$kernel_pkg"_*.deb "$work/kernel"
    kernel_src=$(ls "$work"/kernel/boot/vmlinuz-*)
    moddir=$(ls -d "$work"/kernel/lib/modules/*)
else
    moddir=/lib/modules/$(uname -r)
fi
# `button` reports the ACPI power button and `evdev` exposes it as
# /dev/input/eventN; the virtio stack gives the guest agent its port. Debian
# builds them all as modules; /init loads them in this (dependency) order.
modules="drivers/acpi/button drivers/input/evdev drivers/virtio/virtio_ring drivers/virtio/virtio
drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci_legacy_dev drivers/virtio/virtio_pci
drivers/char/virtio_console"
for m in $modules; do
    if [[ -f $moddir/kernel/$m.ko ]]; then
        cp "$moddir/kernel/$m.ko" "$root/lib/modules/"
    elif [[ -f $moddir/kernel/$m.ko.xz ]]; then
        xz -dc "$moddir/kernel/$m.ko.xz" >"$root/lib/modules/$(basename "$m").ko"
    else
        echo "build-test-guest: kernel module $m not found in $moddir" >&2
        exit 1
    fi
done

(cd "$work" && apt-get download qemu-guest-agent >/dev/null 2>&1) || {
    echo "build-test-guest: apt-get download qemu-guest-agent failed" >&2
    exit 1
}
dpkg-deb -x "$work"/qemu-guest-agent_*.deb "$work/qga"
cp "$work/qga/usr/sbin/qemu-ga" "$root/bin/qemu-ga"
# The agent is linked dynamically: take its libraries (and the loader) from
# this machine, where qemu-system-x86's dependencies have installed them.
if ldd "$root/bin/qemu-ga" | grep -q "not found"; then
    echo "build-test-guest: libraries of qemu-ga are missing here:" >&2
    ldd "$root/bin/qemu-ga" | grep "not found" >&2
    exit 1
fi
for lib in $(ldd "$root/bin/qemu-ga" | awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}'); do
    cp -L --parents "$lib" "$root/"
done
mkdir -p "$root/sbin"
cat >"$root/sbin/shutdown" <<'EOF'
#!/bin/sh
# qemu-ga runs `shutdown -h -P|-H|-r +0 MESSAGE`.
echo "deskplane-test-guest: agent shutdown $*" >/dev/console
sync
case " $* " in
*" -r "*) reboot -f ;;
*) poweroff -f ;;
esac
EOF
chmod 0755 "$root/sbin/shutdown"

cp /bin/busybox "$root/bin/busybox"
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in button evdev virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci virtio_console; do
    insmod "/lib/modules/$m.ko" 2>/dev/null
done

case " $(cat /proc/cmdline) " in
*" deskplane.agent "*)
    # virtio_console finds its ports asynchronously: wait up to 5 s for ours.
    port=
    for _ in $(seq 50); do
        for p in /sys/class/virtio-ports/*; do
            [ "$(cat "$p/name" 2>/dev/null)" = org.qemu.guest_agent.0 ] && port=/dev/${p##*/}
        done
        [ -n "$port" ] && [ -e "$port" ] && break
        sleep 0.1
    done
    if [ -n "$port" ]; then
        mkdir -p /var/run /tmp
        qemu-ga -m virtio-serial -p "$port" -t /tmp >/dev/console 2>&1 &
        echo "deskplane-test-guest: agent running on $port" >/dev/console
    else
        echo "deskplane-test-guest: no guest agent port" >/dev/console
    fi
    ;;
esac

# Find the input device of the ACPI power button ("Power Button", LNXPWRBN).
dev=
for e in /sys/class/input/event*; do
    case "$(cat "$e/device/name" 2>/dev/null)" in
        *"Power Button"*) dev=/dev/input/${e##*/} ;;
    esac
done
if [ -z "$dev" ]; then
    echo "deskplane-test-guest: booted, but has no ACPI power button" >/dev/console
    exec sleep 2147483647
fi
# Open the device before saying we are up: evdev queues events only for
# readers that have it open, so a press right after the message is not lost.
exec 3<"$dev"
echo "deskplane-test-guest: booted" >/dev/console
# Block until the button sends its first input event (24 bytes on x86_64).
dd of=/dev/null bs=24 count=1 <&3 2>/dev/null
echo "deskplane-test-guest: power button, powering off" >/dev/console
sync
poweroff -f
EOF
chmod 0755 "$root/init"

(cd "$root" && find . | cpio -o -H newc --quiet | gzip -9) >"$work/initrd.img"
install -m 0644 "$kernel_src" "$out/vmlinuz"
install -m 0644 "$work/initrd.img" "$out/initrd.img"
# `quiet`: every console character costs an emulated UART write under TCG.
echo "console=ttyS0 panic=-1 quiet" >"$out/cmdline"
echo "$stamp" >"$out/stamp"
# qemu (user libvirt-qemu under qemu:///system) must be able to read the files.
chmod 0755 "$out"
echo "build-test-guest: built $out ($stamp)"
