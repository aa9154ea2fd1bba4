#!/usr/bin/env python3
"""Writes the starting inputs of the fuzz targets into corpus/ (README.md: "Seeds").

Zone files come from tests/zones, specs from examples/, values and DNS messages are built
here: a few well-formed inputs of each kind, from which libFuzzer's mutations start.
"""
import json
import pathlib
import shutil
import struct

import yaml

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
CORPUS = HERE / "corpus"


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data if isinstance(data, bytes) else data.encode())


for z in sorted((ROOT / "tests" / "zones").glob("*.zone")):
    write("zone_file", z.stem, z.read_bytes())
write("zone_file", "multiline", '$ORIGIN example.com.\n$TTL 3600\n@ IN SOA ns1 hostmaster (\n 2024010101 ; serial\n 7200 900 1209600 300 )\n'
      'dkim._domainkey IN TXT ( "v=DKIM1; k=rsa; " "p=MIGf;MA0" )\n'
      '_sip._tcp 300 IN SRV 10 60 5060 sip\n@ IN CAA 0 issue "letsencrypt.org"\n'
      'loc IN LOC 52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m\n'
      '\\@odd\\. 60 IN TXT "a\\"b" \\059\n*.wild IN AAAA 2001:db8::1\n')

# Values: the first byte picks the type (RecordType::ALL order).
TYPES = ["A", "AAAA", "CAA", "CNAME", "DS", "HTTPS", "MX", "NAPTR", "NS", "PTR", "SOA",
         "SPF", "SRV", "SSHFP", "SVCB", "TLSA", "TXT"]
VALUES = {
    "A": "192.0.2.1", "AAAA": "2001:DB8:0::1", "CAA": '0 issue "letsencrypt.org"',
    "CNAME": "Target.Example.NET", "DS": "12345 13 2 ABCDEF0123456789",
    "HTTPS": '1 . alpn="h2,h3" port=443 ipv4hint=192.0.2.1', "MX": "10 mail.example.com.",
    "NAPTR": '100 10 "U" "E2U+sip" "!^.*$!sip:info@example.com!" .', "NS": "ns1.example.net.",
    "PTR": "host.example.com.", "SOA": "ns1.example.com. hostmaster.example.com. 1 7200 900 1209600 300",
    "SPF": '"v=spf1 -all"', "SRV": "10 60 5060 sip.example.com.", "SSHFP": "1 2 ABCDEF",
    "SVCB": '1 svc.example.com. alpn=h2 mandatory=alpn', "TLSA": "3 1 1 ABCDEF0123",
    "TXT": '"v=spf1 include:_spf.example.com ~all" "second\\"string" \\010unquoted',
}
for i, t in enumerate(TYPES):
    write("record_value", t.lower(), bytes([i]) + VALUES[t].encode())

docs = list(yaml.safe_load_all((ROOT / "examples" / "example-com.yaml").read_text()))
for n, doc in enumerate(d for d in docs if d and d.get("kind") == "HostedZoneMigration"):
    write("spec", f"example-{n}", json.dumps(doc["spec"]))
write("spec", "routing", json.dumps({
    "domain": "Example.COM.", "policy": {"mode": "UpsertOnly", "maxDeletePercent": 10},
    "cutover": {"mode": "Route53Domains", "approved": True, "minimumSoak": "1h30m",
                "loweredNameserverTtl": 60, "finalNameserverTtl": 86400},
    "records": [
        {"name": "www", "type": "A", "ttl": 60, "values": ["192.0.2.1"], "setIdentifier": "blue", "weight": 10},
        {"name": "www", "type": "A", "ttl": 60, "values": ["192.0.2.2"], "setIdentifier": "green", "weight": 0},
        {"name": "@", "type": "A", "alias": {"dnsName": "lb.elb.amazonaws.com.", "hostedZoneId": "Z35SXDOTRQ7X7K"}},
        {"name": "geo", "type": "TXT", "values": ['"x"'], "setIdentifier": "eu", "geoLocation": {"continentCode": "EU"}},
        {"name": "f", "type": "CNAME", "values": ["a.example.net"], "setIdentifier": "p", "failover": "PRIMARY"},
    ] + [{"name": t.lower(), "type": t, "values": [VALUES[t]]} for t in TYPES if t not in ("SOA",)],
}))


# DNS messages, wire format (RFC 1035 4.1).
def name(n):
    out = b""
    for label in n.rstrip(".").split("."):
        if label:
            out += bytes([len(label)]) + label.encode()
    return out + b"\0"


def rr(owner, rtype, rdata, ttl=300):
    return name(owner) + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


def msg(flags, question, answers=(), authority=(), additional=(), qid=0x1234):
    h = struct.pack(">HHHHHH", qid, flags, 1 if question else 0, len(answers), len(authority), len(additional))
    q = name(question[0]) + struct.pack(">HH", question[1], 1) if question else b""
    return h + q + b"".join(answers) + b"".join(authority) + b"".join(additional)


A, NS, CNAME, SOA, MX, TXT, AAAA, SRV, DS, CAA, HTTPS = 1, 2, 5, 6, 15, 16, 28, 33, 43, 257, 65
soa = rr("example.com", SOA, name("ns1.example.com") + name("hostmaster.example.com") + struct.pack(">IIIII", 7, 7200, 900, 1209600, 300), 3600)
AA_RESPONSE = 0x8400  # QR, AA
write("dns_message", "axfr", msg(AA_RESPONSE, ("example.com", 252), [
    soa,
    rr("example.com", NS, name("ns1.example.net"), 172800),
    rr("www.example.com", A, bytes([192, 0, 2, 1])),
    rr("www.example.com", A, bytes([192, 0, 2, 2]), 60),
    rr("v6.example.com", AAAA, bytes(16)),
    rr("mail.example.com", MX, struct.pack(">H", 10) + name("mx.example.com")),
    rr("example.com", TXT, b"\x0bv=spf1 -all\x03a\"b"),
    rr("_sip._tcp.example.com", SRV, struct.pack(">HHH", 10, 60, 5060) + name("sip.example.com")),
    rr("example.com", CAA, b"\x00\x05issueletsencrypt.org"),
    rr("alias.example.com", CNAME, name("Target.Example.NET")),
    rr("sub.example.com", DS, struct.pack(">HBB", 12345, 13, 2) + bytes(range(32))),
    rr("svc.example.com", HTTPS, struct.pack(">H", 1) + b"\0" + struct.pack(">HH", 1, 3) + b"\x02h2"),
    rr("outside.example.org", A, bytes([192, 0, 2, 9])),
    soa,
]))
write("dns_message", "answer", msg(AA_RESPONSE, ("www.example.com", A), [rr("www.example.com", A, bytes([192, 0, 2, 1]))]))
write("dns_message", "nxdomain", msg(AA_RESPONSE | 3, ("nope.example.com", A), authority=[soa]))
write("dns_message", "referral", msg(0x8000, ("example.com", NS), authority=[
    rr("example.com", NS, name("ns-1.awsdns-01.org"), 172800),
    rr("example.com", NS, name("NS-2.awsdns-02.CO.UK."), 86400),
], additional=[rr("ns-1.awsdns-01.org", A, bytes([205, 251, 192, 1]))]))
write("dns_message", "refused", msg(0x8005, ("example.com", 252)))
