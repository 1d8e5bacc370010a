#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""tests/sh/layer_fields.py [-j N] ROOT FILE...: which files of core/ touch a
field of a struct that they may not touch (core/LAYERS: the fields rule).

For each C file, clang's AST (clang -Xclang -ast-dump=json -fsyntax-only)
is walked: every MemberExpr (a.f, p->f) names the FieldDecl it reads or
writes; the FieldDecl's location is the header (or file) that defines the
struct. The toucher is the file where the member's name is spelled (so a
static inline accessor in transport.h, included by api_info.c, is the
transport's own code). The rule (core/LAYERS): a struct's fields are touched
by files of the folder that defines it and of the level directly above it,
never from two levels up nor from beside; core/ itself (mcsi.h,
status_list.h, level 0) is everybody's, and so are the base values that
core/LAYERS lists on its "values" line; system headers are not checked.

Prints one line per violation, "toucher:line: struct.field (owner folder)",
deduplicated, sorted; exits 0 even when there are some (the caller counts).
Exit 2 when clang fails on a file, or a member's field is not found in its
AST (a check that cannot look must not pass).
Runs the files in parallel processes (-j N, default: the CPUs, at most 4).
"""
import json
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor


def folder_of(path):
    """The layer folder of core/ a path (absolute, or as clang names it from
    ROOT) is in: 'transport', 'core' for core/*.h, None outside core/."""
    rel = os.path.relpath(os.path.normpath(os.path.join(ROOT, path)), CORE)
    if rel.startswith('..'):
        return None
    parts = rel.split(os.sep)
    return 'core' if len(parts) == 1 else parts[0]


class Walker:
    """Walks one translation unit's JSON AST in document order. clang writes a
    location's "file" only when it differs from the previous location written,
    so the current file is carried along as the dump is read."""

    def __init__(self):
        self.file = None
        self.line = 0
        self.fields = {}     # FieldDecl id -> (file, record name, field name)
        self.members = []    # (file, line, FieldDecl id)
        self.records = []    # stack of enclosing RecordDecl names

    def bare(self, loc):
        """A bare location (has "offset"): update the current file/line."""
        if 'file' in loc:
            self.file = loc['file']
        if 'line' in loc:
            self.line = loc['line']

    def loc(self, loc):
        """Read a location (bare, or spellingLoc + expansionLoc) in order;
        return the spelling's (file, line)."""
        if not loc:
            return None
        if 'offset' in loc:
            self.bare(loc)
            return (self.file, self.line)
        spelled = None
        for key in loc:
            if key in ('spellingLoc', 'expansionLoc') and loc[key]:
                self.bare(loc[key])
                if key == 'spellingLoc':
                    spelled = (self.file, self.line)
        return spelled

    def node(self, n):
        kind = n.get('kind')
        here = self.loc(n.get('loc'))
        rng = n.get('range') or {}
        self.loc(rng.get('begin'))
        end = self.loc(rng.get('end'))
        if kind == 'FieldDecl' and here:
            rec = self.records[-1] if self.records else '?'
            self.fields[n['id']] = (here[0], rec, n.get('name', ''))
        elif kind == 'MemberExpr' and end and 'referencedMemberDecl' in n:
            self.members.append((end[0], end[1], n['referencedMemberDecl']))
        record = kind == 'RecordDecl'
        if record:
            self.records.append(n.get('name') or (self.records[-1] if self.records else '(anonymous)'))
        for key, v in n.items():
            if key not in ('loc', 'range'):
                self.any(v)
        if record:
            self.records.pop()

    def any(self, v):
        """Anything else, in document order: locations nested elsewhere (a
        referenced declaration's, an attribute's) still move clang's current
        file."""
        if isinstance(v, list):
            for x in v:
                self.any(x)
        elif isinstance(v, dict):
            if 'kind' in v and 'id' in v:
                self.node(v)
            elif 'offset' in v:
                self.bare(v)
            else:
                for x in v.values():
                    self.any(x)


def read_layers(path):
    """core/LAYERS: {folder: level} and the set of value structs."""
    level, values = {'core': 0}, set()
    with open(path) as f:
        for line in f:
            words = line.split('#', 1)[0].split()
            if not words:
                continue
            if words[0] == 'values':
                values.update(words[1:])
            else:
                level[words[1]] = int(words[0])
    return level, values


def may_touch(user, owner, record):
    """The rule: own folder, the level directly above, public, and the values
    (only a struct of level 0, base, can be one)."""
    if owner == user or owner == 'core':
        return True
    if user not in LEVEL or owner not in LEVEL:
        return False
    if record in VALUES and LEVEL[owner] == 0:
        return True
    return LEVEL[user] == LEVEL[owner] + 1


def check(path, cflags):
    out = subprocess.run(['clang', *cflags, '-Xclang', '-ast-dump=json', '-fsyntax-only', path],
                         cwd=ROOT, capture_output=True)
    if out.returncode != 0:
        sys.stderr.write(out.stderr.decode(errors='replace'))
        return None
    w = Walker()
    w.node(json.loads(out.stdout))
    found = set()
    for file, line, fid in w.members:
        if fid not in w.fields:             # never seen its declaration: the walk is wrong
            sys.stderr.write(f'{path}: {file}:{line}: a member whose field was not found in the AST\n')
            return None
        ffile, rec, fname = w.fields[fid]
        owner = folder_of(ffile)
        user = folder_of(file)
        if owner is None or user is None or may_touch(user, owner, rec):
            continue
        found.add((os.path.relpath(os.path.join(ROOT, file), ROOT), line, rec, fname, owner))
    return found


def main():
    global ROOT, CORE, LEVEL, VALUES
    args = sys.argv[1:]
    jobs = min(os.cpu_count() or 1, 4)
    if args[:1] == ['-j']:
        jobs = int(args[1])
        args = args[2:]
    ROOT = os.path.abspath(args[0])
    CORE = os.path.join(ROOT, 'core')
    files = args[1:]
    LEVEL, VALUES = read_layers(os.path.join(CORE, 'LAYERS'))
    folders = sorted(d for d in os.listdir(CORE) if os.path.isdir(os.path.join(CORE, d)))
    cflags = ['-std=gnu11', '-D_GNU_SOURCE', '-Icore'] + ['-Icore/' + d for d in folders]
    cflags += subprocess.run(['pkg-config', '--cflags', 'libiscsi', 'libcrypto'],
                             capture_output=True, text=True).stdout.split()
    with ProcessPoolExecutor(jobs) as pool:     # forked: the globals above come along
        results = list(pool.map(check, files, [cflags] * len(files)))
    if any(r is None for r in results):
        sys.exit(2)
    for f, line, rec, name, owner in sorted(set().union(*results)):
        print(f'{f}:{line}: {rec}.{name} ({owner})')


if __name__ == '__main__':
    ROOT = CORE = LEVEL = VALUES = None
    main()
