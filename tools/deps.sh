#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Install the Debian packages mcsi needs to build and test, but only the
# missing ones. Idempotent; takes a few milliseconds when nothing is missing.
# Debian 12, run as root (or with sudo available).
set -euo pipefail

pkgs=(build-essential pkg-config libiscsi-dev libiscsi-bin liblua5.4-dev lua5.4
      lua-unit libssl-dev libisal-dev tgt istgt libreadline-dev nftables
      iproute2 valgrind procps tmux perl strace    # strace: test_loop_syscalls counts an export's syscalls
      clang libclang-rt-14-dev util-linux    # make fuzz: clang-14, its libFuzzer runtime, unshare; test_layers: clang's AST
      libjansson-dev socat python3           # mcsid: JSON (jansson); its tests: socat, python3
      libnbd-bin qemu-utils qemu-block-extra fio     # NBD exports: clients (nbdinfo, nbdcopy, qemu-img, qemu-io, fio) and the peer qemu-nbd
      python3-libnbd e2fsprogs               # NBD byte-granular tests: libnbd's Python binding; mkfs.ext4/debugfs/e2fsck over nbdfuse
      libgnutls28-dev gnutls-bin             # NBD over TCP: TLS (GnuTLS); its tests make keys with certtool and psktool
      lua-cjson                              # mcsi.connect: JSON in Lua (the daemon client)
      libseccomp-dev                         # mcsid's policy runners: their seccomp filter
      libsystemd-dev                         # mcsid: handover through the service manager's fd store (sd_notify FDSTORE)
      man-db groff-base                      # test_install.sh: the man pages render (man -l, groff -ww)
      dpkg-dev debhelper lintian adduser     # make deb (dpkg-buildpackage, dh, lintian); mcsid's postinst (addgroup)
      systemd systemd-container)             # test_systemd.sh: systemd 252 as PID 1 of a container (systemd-nspawn)

installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${pkgs[@]}" 2>/dev/null || true)
missing=()
for p in "${pkgs[@]}"; do
    # "ii " = wanted install, installed OK. Anything else (absent, rc, half-installed) is missing.
    if ! grep -qx "$p ii " <<<"$installed"; then
        missing+=("$p")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

echo "deps.sh: installing missing packages: ${missing[*]}"
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        sudo=(sudo)
    else
        echo "deps.sh: not root and no sudo; install these by hand: ${missing[*]}" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update </dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y "${missing[@]}" </dev/null
echo "deps.sh: done"
