#!/usr/bin/python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""nbd_pattern.py URI REGION ROUNDS SEED: a byte-granular pattern test of an
NBD export through libnbd (python3-libnbd), a client nobody here wrote.

Two connections (threads), each with many commands in flight at once. Every
round picks a 1 MiB window of the first REGION bytes and cuts it into disjoint
byte ranges of random length (1 byte to 24 KiB, some much longer), so that
ranges of different commands share LUN blocks without sharing bytes: each
range becomes a write of random bytes, a FUA write, or a write zeroes, all
sent at once, spread over both connections. Once all are answered, random
ranges of the window (overlapping each other) are read back at once and
compared with a shadow copy kept here. At the end the whole region is read
and compared. Prints one line per failure; exit 0 when everything matched.
"""
import random
import sys
import threading

import nbd

WINDOW = 1 << 20


def connect(uri):
    h = nbd.NBD()
    h.connect_uri(uri)
    return h


def run_batch(h, cmds, errors):
    """cmds: (kind, offset, data_or_len, expected). Sends all, waits for all."""
    pending = {}
    for kind, off, arg, _ in cmds:
        if kind == "write":
            c = h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(arg)), off)
        elif kind == "fua":
            c = h.aio_pwrite(nbd.Buffer.from_bytearray(bytearray(arg)), off, flags=nbd.CMD_FLAG_FUA)
        elif kind == "zero":
            c = h.aio_zero(arg, off)
        else:
            buf = nbd.Buffer(arg)
            c = h.aio_pread(buf, off)
            pending[c] = (off, arg, buf)
            continue
        pending[c] = None
    results = {}
    while pending:
        h.poll(-1)
        for c in list(pending):
            try:
                done = h.aio_command_completed(c)
            except nbd.Error as e:
                errors.append("command at %s failed: %s" % (c, e))
                pending.pop(c)
                continue
            if done:
                v = pending.pop(c)
                if v:
                    results[(v[0], v[1])] = bytes(v[2].to_bytearray())
    return results


def ranges(rng, base):
    cuts = sorted(rng.sample(range(WINDOW), 96))
    out = []
    for i in range(0, len(cuts) - 1, 2):
        a, b = cuts[i], cuts[i + 1]
        if rng.random() < 0.7:
            b = min(b, a + rng.randint(1, 24 << 10))
        out.append((base + a, b - a))
    return out


def main():
    uri, region, rounds, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = random.Random(seed)
    hs = [connect(uri), connect(uri)]
    errors = []
    shadow = bytearray()
    for off in range(0, region, 32 << 20):
        shadow += hs[0].pread(min(32 << 20, region - off), off)
    for _ in range(rounds):
        base = rng.randrange(0, region - WINDOW)
        cmds = [[], []]
        for off, n in ranges(rng, base):
            k = rng.random()
            if k < 0.15:
                cmds[rng.randrange(2)].append(("zero", off, n, None))
                shadow[off:off + n] = bytes(n)
            else:
                data = rng.randbytes(n)
                cmds[rng.randrange(2)].append(("fua" if k < 0.3 else "write", off, data, None))
                shadow[off:off + n] = data
        threads = [threading.Thread(target=run_batch, args=(hs[i], cmds[i], errors)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        reads = [[], []]
        for _ in range(64):
            off = base + rng.randrange(WINDOW)
            n = rng.randint(1, min(64 << 10, base + WINDOW - off))
            reads[rng.randrange(2)].append(("read", off, n, None))
        got = [{}, {}]
        threads = [threading.Thread(target=lambda i=i: got[i].update(run_batch(hs[i], reads[i], errors)))
                   for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for g in got:
            for (off, n), data in g.items():
                if data != bytes(shadow[off:off + n]):
                    errors.append("read of %d bytes at %d differs from the shadow" % (n, off))
    for off in range(0, region, 32 << 20):
        n = min(32 << 20, region - off)
        if hs[0].pread(n, off) != bytes(shadow[off:off + n]):
            errors.append("final read of %d bytes at %d differs from the shadow" % (n, off))
    for h in hs:
        h.shutdown()
    for e in errors[:20]:
        print(e)
    print("%d rounds, %d errors" % (rounds, len(errors)))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
