"""Writes a large realistic zone file: mixed types, wildcards, long TXT, SRV, CAA, varied TTLs,
IDN names. Deterministic for a given size, so runs compare.

Usage: gen-big-zone.py ORIGIN COUNT > file.zone
"""
import sys


def main(origin, count):
    origin = origin.rstrip(".") + "."
    out = [f"$ORIGIN {origin}", "$TTL 3600",
           f"@ IN SOA ns1.old-provider.net. hostmaster.{origin} 1 7200 900 1209600 300",
           "  IN NS ns1.old-provider.net.", "  IN NS ns2.old-provider.net."]
    ttls = [60, 300, 600, 3600, 86400]
    n = 0
    i = 0
    while n < count:
        ttl = ttls[i % len(ttls)]
        kind = i % 10
        if kind in (0, 1, 2):
            out.append(f"host{i} {ttl} IN A 10.{(i >> 16) & 255}.{(i >> 8) & 255}.{i & 255}")
        elif kind == 3:
            out.append(f"host{i} {ttl} IN AAAA 2001:db8::{i:x}")
        elif kind == 4:
            out.append(f"alias{i} {ttl} IN CNAME host{i - 4}.{origin}")
        elif kind == 5:
            out.append(f"svc{i} {ttl} IN MX {i % 50} mx{i}.mail.example.net.")
        elif kind == 6:
            key = ("MIIB" + "Q" * 300 + f"{i:08d}")
            out.append(f'dkim{i}._domainkey {ttl} IN TXT "{key[:255]}" "{key[255:]}"')
        elif kind == 7:
            out.append(f"_svc{i}._tcp {ttl} IN SRV 10 {i % 100} {1024 + i % 60000} host{i - 7}.{origin}")
        elif kind == 8:
            out.append(f"*.wild{i} {ttl} IN A 192.0.2.{i % 250 + 1}")
        else:
            out.append(f"n{i}.xn--bcher-kva {ttl} IN A 198.51.100.{i % 250 + 1}")
        n += 1
        i += 1
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
