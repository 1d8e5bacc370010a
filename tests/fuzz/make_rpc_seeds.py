#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""make_rpc_seeds.py DIR: writes the seed corpus of tests/fuzz/fuzz_rpc.c
(make fuzz-seeds): what a client of mcsid sends, one JSON-RPC request per
line. Seeds: every method with good parameters and with bad ones (unknown
name, wrong type, missing required), notifications, pipelines of several
methods, batches, ids of every kind, huge numbers, deep nesting, invalid
UTF-8, framing oddities (CR LF, blank lines, a partial last line)."""
import json
import os
import sys

PORTAL = "127.0.0.1:3260"
TARGET = "iqn.2026-11.org.mcsi.test:plain"

# Each method with parameters that pass the schema (the daemon has no
# target: what needs one fails fast, and that is reached).
GOOD = {
    "GetVersion": {},
    "LoginToTarget": {"TargetName": TARGET, "TargetPortal": PORTAL, "HeaderDigest": "CRC32C",
                      "MaximumConnections": 2, "LoginTimeoutMs": 200},
    "LogoutFromTarget": {"UniqueSessionId": 1},
    "AddConnectionToSession": {"UniqueSessionId": "0x1", "TargetPortal": {"Address": "127.0.0.2", "Port": 3260},
                               "Weight": 3},
    "RemoveConnectionFromSession": {"UniqueSessionId": 1, "UniqueConnectionId": "2"},
    "SessionList": {},
    "GetSessionInfo": {"UniqueSessionId": 1},
    "SetLoadBalancePolicy": {"UniqueSessionId": 1, "LoadBalancePolicy": "round-robin",
                             "Paths": [{"UniqueConnectionId": 2, "Weight": 1, "Active": True, "Primary": False}]},
    "ScsiInquiry": {"UniqueSessionId": 1, "Lun": 0, "PageCode": 0x80},
    "ScsiReadCapacity": {"UniqueSessionId": 1, "Lun": 1},
    "ScsiReportLuns": {"UniqueSessionId": 1},
    "SendTargets": {"TargetPortal": PORTAL},
    "AddTargetPortal": {"TargetPortal": "[::1]:3260"},
    "RemoveTargetPortal": {"TargetPortal": PORTAL},
    "ListTargetPortals": {},
    "ListTargets": {},
    "PersistentLoginTarget": {"TargetName": TARGET, "Portals": [PORTAL, "127.0.0.2"], "Connections": 2,
                              "LoadBalancePolicy": 1, "HeaderDigest": "None", "RecoveryTimeoutMs": 1000,
                              "Exports": [{"Lun": 1, "Tcp": "127.0.0.1:0", "ReadOnly": True}]},
    "ListPersistentTargets": {},
    "RemovePersistentTarget": {"TargetName": TARGET},
    "Subscribe": {"Kinds": ["conn-failed", "session-failed", "policy-failed"]},
    "Unsubscribe": {},
    "ExportLun": {"UniqueSessionId": 1, "Lun": 1, "Tcp": "127.0.0.1:0", "ExportName": "disk", "MaxClients": 2},
    "UnexportLun": {"ExportId": 1},
    "ListExports": {"UniqueSessionId": 1},
    "AttachPolicy": {"UniqueSessionId": 1, "PolicyScript": "failover", "Options": {"connections": 2}},
    "DetachPolicy": {"PolicyId": 1},
    "ListPolicies": {},
    "ScsiRead": {"UniqueSessionId": 1, "Lun": 1, "Lba": 0, "Blocks": 8},
    "ScsiWrite": {"UniqueSessionId": 1, "Lun": 1, "Lba": 0, "Data": "AAAAAA=="},
    "ScsiCommand": {"UniqueSessionId": 1, "Lun": 1, "Cdb": "1200000024000000", "Direction": "read", "Length": 36},
    "ScsiTestUnitReady": {"UniqueSessionId": 1},
    "LunReset": {"UniqueSessionId": 1, "Lun": 1},
    "AbortTask": {"UniqueSessionId": 1, "Tag": 7},
}

# Values of the wrong kind for a parameter, by what it should be.
WRONG = [None, True, -1, 1.5, "x", [], {}, "0x", 2 ** 63, -(2 ** 63)]


def req(method, params=None, id_=1, **extra):
    m = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        m["params"] = params
    m.update(extra)
    return json.dumps(m, separators=(",", ":")).encode()


def lines(*ls):
    return b"".join(l + b"\n" for l in ls)


def seeds():
    out = {}
    for name, params in GOOD.items():
        out["good-" + name] = lines(req(name, params))
        out["bad-unknown-" + name] = lines(req(name, dict(params, NoSuchParameter=1)))
        for i, key in enumerate(params):
            p = dict(params)
            p[key] = WRONG[i % len(WRONG)]
            out["bad-type-%s-%s" % (name, key)] = lines(req(name, p))
            p = dict(params)
            del p[key]
            out["bad-missing-%s-%s" % (name, key)] = lines(req(name, p))
        out["notification-" + name] = lines(json.dumps({"jsonrpc": "2.0", "method": name, "params": params}).encode())
    # the same session id as every form of id
    for i, v in enumerate([0, 1, "1", "0x1", "0X10", "18446744073709551615", "18446744073709551616", "-1", "+1", " 1",
                           "", "0x", 2 ** 63 - 1]):
        out["session-id-%02d" % i] = lines(req("GetSessionInfo", {"UniqueSessionId": v}))
    # portals in every form
    for i, v in enumerate(["h", "h:1", "h:65535", "h:0", "h:65536", "[::1]", "[::1]:3260", "[::1", "a b", "a/b",
                           {"Address": "h"}, {"Address": "::1", "Port": 1}, {"Address": "h", "Port": 0},
                           {"Address": "", "Port": 1}, {"Address": "h", "Extra": 1}, "x" * 90, "10.0.0.1:3260,1"]):
        out["portal-%02d" % i] = lines(req("SendTargets", {"TargetPortal": v}))
    # a session of everything in one input
    everything = [req(name, params, id_=i) for i, (name, params) in enumerate(GOOD.items())]
    out["pipeline-all"] = lines(req("Subscribe", {}, id_="s"), *everything)
    out["pipeline-persist"] = lines(req("PersistentLoginTarget", GOOD["PersistentLoginTarget"], 1),
                                    req("ListPersistentTargets", {}, 2), req("PersistentLoginTarget",
                                                                             {"TargetName": TARGET,
                                                                              "TargetPortal": PORTAL}, 3),
                                    req("RemovePersistentTarget", {"TargetName": TARGET}, 4),
                                    req("ListPersistentTargets", {}, 5))
    out["pipeline-portals"] = lines(req("AddTargetPortal", {"TargetPortal": PORTAL}, 1),
                                    req("ListTargetPortals", {}, 2), req("ListTargets", {}, 3),
                                    req("RemoveTargetPortal", {"TargetPortal": PORTAL}, 4))
    out["pipeline-login-persistent"] = lines(req("LoginToTarget", {"TargetName": TARGET, "TargetPortal": PORTAL,
                                                                   "IsPersistent": True}, 1),
                                             req("ExportLun", {"UniqueSessionId": 1, "Lun": 1, "Socket": "/x/y",
                                                               "IsPersistent": True}, 2))
    out["pipeline-too-many"] = lines(*[req("LoginToTarget", GOOD["LoginToTarget"], i) for i in range(12)])
    out["pipeline-same-id"] = lines(*[req("GetVersion", {}, 5) for _ in range(4)])
    out["chap-params"] = lines(req("LoginToTarget", {"TargetName": TARGET, "TargetPortal": PORTAL,
                                                     "Username": "u", "SecretFile": "/nonexistent",
                                                     "TargetUsername": "t", "TargetSecretFile": "/dev/null"}),
                               req("PersistentLoginTarget", {"TargetName": TARGET, "TargetPortal": PORTAL,
                                                             "ChapAccount": "acct"}, 2),
                               req("SendTargets", {"TargetPortal": PORTAL, "ChapAccount": "nope"}, 3))
    out["io-edges"] = lines(req("ScsiRead", {"UniqueSessionId": 1, "Lba": 0, "Length": 16 << 20}, 1),
                            req("ScsiRead", {"UniqueSessionId": 1, "Lba": 0, "Blocks": 0}, 2),
                            req("ScsiRead", {"UniqueSessionId": 1, "Lba": 0, "Blocks": 1, "Length": 1}, 3),
                            req("ScsiWrite", {"UniqueSessionId": 1, "Lba": 0, "Data": "A==="}, 4),
                            req("ScsiWrite", {"UniqueSessionId": 1, "Lba": 0, "Data": "AA A"}, 5),
                            req("ScsiCommand", {"UniqueSessionId": 1, "Cdb": "12" * 17}, 6),
                            req("ScsiCommand", {"UniqueSessionId": 1, "Cdb": "1g"}, 7),
                            req("ScsiCommand", {"UniqueSessionId": 1, "Cdb": "00", "Direction": "write",
                                                "Data": ""}, 8),
                            req("ScsiCommand", {"UniqueSessionId": 1, "Cdb": "00", "Direction": "sideways"}, 9),
                            req("ScsiInquiry", {"UniqueSessionId": 1, "PageCode": 256}, 10))
    out["policy-edges"] = lines(req("AttachPolicy", {"UniqueSessionId": 1, "PolicyScript": "../../etc/passwd"}, 1),
                                req("SetLoadBalancePolicy", {"UniqueSessionId": 1, "LoadBalancePolicy": 99,
                                                             "Paths": [1, {"UniqueConnectionId": "x"}]}, 2),
                                req("SetLoadBalancePolicy", {"UniqueSessionId": 1, "LoadBalancePolicy": 1,
                                                             "Paths": [{"UniqueConnectionId": 1}] * 33}, 3),
                                req("Subscribe", {"Kinds": ["nope"]}, 4), req("Subscribe", {"Kinds": [1]}, 5),
                                req("DetachPolicy", {"PolicyId": 2 ** 62}, 6))
    out["exports-edges"] = lines(req("ExportLun", {"UniqueSessionId": 1, "Lun": 1}, 1),
                                 req("ExportLun", {"UniqueSessionId": 1, "Lun": 1, "Socket": "relative"}, 2),
                                 req("ExportLun", {"UniqueSessionId": 1, "Lun": 1, "Tcp": "a b"}, 3),
                                 req("UnexportLun", {}, 4), req("UnexportLun", {"Socket": "/nope"}, 5),
                                 req("PersistentLoginTarget", {"TargetName": TARGET, "TargetPortal": PORTAL,
                                                               "Exports": [{"Lun": -1}]}, 6),
                                 req("PersistentLoginTarget", {"TargetName": TARGET, "TargetPortal": PORTAL,
                                                               "Exports": [5]}, 7))
    # the JSON-RPC frame itself
    out["frame-batch"] = lines(b'[' + req("GetVersion") + b',' + req("SessionList", id_=2) + b']', b'[]')
    out["frame-not-object"] = lines(b'1', b'"x"', b'null', b'true', b'{}', b'{"jsonrpc":"2.0"}')
    out["frame-bad-version"] = lines(b'{"jsonrpc":"1.0","id":1,"method":"GetVersion"}',
                                     b'{"jsonrpc":2,"id":1,"method":"GetVersion"}',
                                     b'{"id":1,"method":"GetVersion"}')
    out["frame-bad-id"] = lines(b'{"jsonrpc":"2.0","id":1.5,"method":"GetVersion"}',
                                b'{"jsonrpc":"2.0","id":[1],"method":"GetVersion"}',
                                b'{"jsonrpc":"2.0","id":{},"method":"GetVersion"}',
                                b'{"jsonrpc":"2.0","id":null,"method":"GetVersion"}',
                                b'{"jsonrpc":"2.0","id":"","method":"GetVersion"}',
                                b'{"jsonrpc":"2.0","id":-9223372036854775808,"method":"GetVersion"}')
    out["frame-bad-method"] = lines(b'{"jsonrpc":"2.0","id":1,"method":5}', b'{"jsonrpc":"2.0","id":2}',
                                    b'{"jsonrpc":"2.0","id":3,"method":"NoSuchMethod"}',
                                    b'{"jsonrpc":"2.0","id":4,"method":""}',
                                    b'{"jsonrpc":"2.0","id":5,"method":"' + "\u20ac".encode() * 30 + b'"}')
    out["frame-bad-params"] = lines(b'{"jsonrpc":"2.0","id":1,"method":"GetVersion","params":[]}',
                                    b'{"jsonrpc":"2.0","id":2,"method":"GetVersion","params":1}',
                                    b'{"jsonrpc":"2.0","id":3,"method":"GetVersion","params":null}',
                                    b'{"jsonrpc":"2.0","id":4,"method":"GetVersion","extra":1}',
                                    b'{"jsonrpc":"2.0","id":5,"id":6,"method":"GetVersion"}',
                                    b'{"jsonrpc":"2.0","id":7,"method":"SendTargets","params":{"' +
                                    "\u00e9".encode() * 40 + b'":1}}')
    out["frame-not-json"] = lines(b'{', b'}', b'{"jsonrpc":"2.0",', b'garbage', b'{"a":1}{"b":2}', b'\x00', b'\xff')
    out["frame-crlf-blank"] = b"\r\n  \t\r\n" + req("GetVersion") + b"\r\n\n" + req("SessionList", id_=2) + b"\n"
    out["frame-partial-last"] = lines(req("GetVersion")) + req("SessionList", id_=2)
    out["numbers-huge"] = lines(b'{"jsonrpc":"2.0","id":99999999999999999999,"method":"GetVersion"}',
                                b'{"jsonrpc":"2.0","id":1,"method":"GetSessionInfo","params":'
                                b'{"UniqueSessionId":1e400}}',
                                b'{"jsonrpc":"2.0","id":2,"method":"ScsiRead","params":{"UniqueSessionId":1,'
                                b'"Lba":9223372036854775807,"Blocks":9223372036854775807}}',
                                b'{"jsonrpc":"2.0","id":3,"method":"ScsiRead","params":{"UniqueSessionId":1,'
                                b'"Lba":0,"Length":18446744073709551615}}',
                                b'{"jsonrpc":"2.0","id":4,"method":"DetachPolicy","params":{"PolicyId":'
                                b'9223372036854775807}}',
                                b'{"jsonrpc":"2.0","id":5,"method":"SetLoadBalancePolicy","params":'
                                b'{"UniqueSessionId":1,"LoadBalancePolicy":-9223372036854775808}}',
                                b'{"jsonrpc":"2.0","id":6,"method":"PersistentLoginTarget","params":'
                                b'{"TargetName":"t","TargetPortal":"h","Connections":9223372036854775807}}',
                                b'{"jsonrpc":"2.0","id":7,"method":"LoginToTarget","params":{"TargetName":"t",'
                                b'"TargetPortal":"h","LoginTimeoutMs":9223372036854775807,'
                                b'"MaximumConnections":4294967296}}')
    out["nesting-deep"] = lines(b'{"jsonrpc":"2.0","id":1,"method":"AttachPolicy","params":{"UniqueSessionId":1,'
                                b'"PolicyScript":"failover","Options":' + b'{"a":' * 100 + b'1' + b'}' * 100 + b'}}',
                                b'[' * 3000 + b']' * 3000,
                                b'{"jsonrpc":"2.0","id":2,"method":"SetLoadBalancePolicy","params":'
                                b'{"UniqueSessionId":1,"LoadBalancePolicy":1,"Paths":' + b'[' * 500 + b']' * 500 +
                                b'}}')
    out["utf8-invalid"] = lines(b'{"jsonrpc":"2.0","id":1,"method":"Get\xffVersion"}',
                                b'{"jsonrpc":"2.0","id":"\xc3","method":"GetVersion"}',
                                b'{"jsonrpc":"2.0","id":2,"method":"LoginToTarget","params":{"TargetName":'
                                b'"iqn.\xed\xa0\x80","TargetPortal":"h"}}',
                                b'{"jsonrpc":"2.0","id":3,"method":"SendTargets","params":{"TargetPortal":"\xc0\xaf"}}')
    out["utf8-escapes"] = lines(b'{"jsonrpc":"2.0","id":1,"method":"LoginToTarget","params":{"TargetName":'
                                b'"iqn.\\ud800","TargetPortal":"h"}}',
                                b'{"jsonrpc":"2.0","id":2,"method":"LoginToTarget","params":{"TargetName":'
                                b'"iqn.\\u0000x","TargetPortal":"h"}}',
                                b'{"jsonrpc":"2.0","id":3,"method":"PersistentLoginTarget","params":{"TargetName":'
                                b'"' + "\U0001d11e".encode() * 80 + b'","TargetPortal":"h"}}',
                                b'{"jsonrpc":"2.0","id":4,"method":"ListPersistentTargets"}')
    out["long-strings"] = lines(req("LoginToTarget", {"TargetName": "i" * 300, "TargetPortal": PORTAL}),
                                req("PersistentLoginTarget", {"TargetName": "\u00e9" * 150, "TargetPortal": PORTAL,
                                                              "PolicyScript": "p" * 2000}, 2),
                                req("LoginToTarget", {"TargetName": TARGET, "TargetPortal": PORTAL,
                                                      "Username": "u" * 300, "SecretFile": "/dev/null"}, 3))
    return out


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_rpc_seeds.py DIR")
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    for name, data in sorted(seeds().items()):
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print("make_rpc_seeds.py: %d seeds in %s" % (len(seeds()), d))


if __name__ == "__main__":
    main()
