#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tests/sh/seccomp_exec.py ALLOWED_FILE FAMILIES [--mdwe] -- PROGRAM ARGS...

Runs PROGRAM under a seccomp filter that allows exactly the system calls
named in ALLOWED_FILE (one a line; names this architecture lacks are
ignored) and kills the whole process (SIGSYS) at any other, as a unit's
SystemCallFilter= would refuse it; socket() only for the address families
FAMILIES lists (comma-separated numbers: RestrictAddressFamilies=); with
--mdwe, as MemoryDenyWriteExecute=yes, no mmap() both writable and
executable and no mprotect()/pkey_mprotect() to executable. Loading
a filter needs no_new_privs (setpriv --no-new-privs) or CAP_SYS_ADMIN.
The filter is libseccomp's (through ctypes), as in systemd."""
import ctypes
import os
import sys

SCMP_ACT_KILL_PROCESS = 0x80000000
SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_CMP_EQ = 4
SCMP_CMP_MASKED_EQ = 7
PROT_WRITE, PROT_EXEC = 2, 4


class ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                ("datum_a", ctypes.c_uint64), ("datum_b", ctypes.c_uint64)]


def main(argv):
    mdwe = len(argv) > 3 and argv[3] == "--mdwe"
    if mdwe:
        del argv[3]
    if len(argv) < 5 or argv[3] != "--":
        sys.exit("usage: seccomp_exec.py ALLOWED_FILE FAMILIES [--mdwe] -- PROGRAM ARGS...")
    with open(argv[1]) as f:
        names = {line.strip() for line in f if line.strip()}
    families = [int(x) for x in argv[2].split(",") if x]
    lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                                           ctypes.c_uint, ctypes.POINTER(ArgCmp)]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    ctx = lib.seccomp_init(SCMP_ACT_KILL_PROCESS)
    if not ctx:
        sys.exit("seccomp_init failed")

    def allow(nr, cmps=()):
        arr = (ArgCmp * max(1, len(cmps)))(*cmps)
        rc = lib.seccomp_rule_add_array(ctx, SCMP_ACT_ALLOW, nr, len(cmps), arr)
        if rc < 0:
            sys.exit("seccomp_rule_add(%d): %s" % (nr, os.strerror(-rc)))

    for name in sorted(names):
        nr = lib.seccomp_syscall_resolve_name(name.encode())
        if nr < 0:
            continue                      # not a call of this architecture
        if name == "socket":
            for fam in families:
                allow(nr, [ArgCmp(0, SCMP_CMP_EQ, fam, 0)])
        elif mdwe and name == "mmap":
            for prot in (0, PROT_WRITE, PROT_EXEC):     # not both
                allow(nr, [ArgCmp(2, SCMP_CMP_MASKED_EQ, PROT_WRITE | PROT_EXEC, prot)])
        elif mdwe and name in ("mprotect", "pkey_mprotect"):
            allow(nr, [ArgCmp(2, SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)])
        else:
            allow(nr)
    rc = lib.seccomp_load(ctx)
    if rc < 0:
        sys.exit("seccomp_load: %s" % os.strerror(-rc))
    os.execv(argv[4], argv[4:])


if __name__ == "__main__":
    main(sys.argv)
