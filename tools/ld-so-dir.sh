#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# tools/ld-so-dir.sh DIR: exit 0 when the dynamic linker searches DIR, i.e. DIR
# is one of ldconfig's directories (its built-in /lib and /usr/lib, the
# multiarch directory, /usr/local/lib and the others of /etc/ld.so.conf and
# /etc/ld.so.conf.d), compared after symbolic links (/lib is /usr/lib on a
# merged /usr); else 1. make install and make uninstall run ldconfig after
# changing the library in such a directory.
dir=$(realpath -m "${1:?usage: ld-so-dir.sh DIR}") || exit 1
PATH=$PATH:/sbin:/usr/sbin
command -v ldconfig >/dev/null 2>&1 || exit 1
# -v lists the directories, "DIR: (from FILE:LINE)"; -N -X change nothing.
ldconfig -v -N -X 2>/dev/null | sed -n 's|^\(/[^:]*\):.*|\1|p' | while read -r d; do realpath -m "$d"; done \
    | grep -qxF "$dir"
