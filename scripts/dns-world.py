"""Helpers of scripts/dns-world that talk to moto with boto3.

Usage:
  dns-world.py sync --endpoint URL --dir DIR --named-pidfile FILE --pin-dir DIR [--interval S]
                    [--tlds com,net,org,uk,co.uk] [--max-records 2000]
      The "Route 53" nameservers' content: every interval, write each public hosted zone moto
      holds into DIR/zones/<name>.zone (apex SOA and NS as moto holds them, TTLs as moto holds
      them), list them in DIR/zones.conf, and send SIGHUP to the named of --named-pidfile when
      anything changed. moto gives every zone the same four nameservers and allows several
      zones of one name: the most recently created one is served, unless the file
      PIN_DIR/route53-zone-<name> names the zone id to serve ("ENDPOINT ZONE-ID": that zone of
      another moto, e.g. a test's own scripts/test-env, whatever the size). DIR/synced is touched after each
      successful pass (readiness). Only zones directly under the world's TLDs (--tlds) and
      with at most --max-records record sets are served: nothing else can be delegated to, and
      reading every zone of every test each second would keep moto busy.
  dns-world.py registrar-nameservers DOMAIN
      The nameservers moto's route53domains holds for DOMAIN (GetDomainDetail), one a line, as
      NAME or NAME=IP,IP when the registry also holds glue.

Approximations of what Route 53 answers: records of a routing policy (several set identifiers
for one name and type) are served together as one RRset with the smallest TTL; an alias is
served as a copy of its target's RRset when the target is in the same zone, and not at all
otherwise.
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import time

import boto3

# Values are written as moto holds them. Names in values without a final dot are absolute in
# Route 53; the zone files are written under `$ORIGIN .` so they stay so.


def log(msg):
    print(time.strftime("%H:%M:%S"), msg, flush=True)


def client(service, endpoint):
    return boto3.client(service, endpoint_url=endpoint, region_name=os.environ.get("AWS_REGION", "us-east-1"))


def zone_name(name):
    """Route 53's presentation of a name (octal escapes, as in \\052) as a zone file name."""
    raw = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), name).lower()
    if not raw.endswith("."):
        raw += "."
    return "".join(c if c.isalnum() or c in "-_*." else f"\\{ord(c):03d}" for c in raw)


def value_of(v):
    # moto nests the apex SOA's value one level deeper than Route 53 does, and its XML then
    # carries the Python repr of that dict: "{'Value': 'ns-2048.awsdns-64.com. ...'}".
    v = v["Value"]
    if isinstance(v, dict):
        return v["Value"]
    m = re.fullmatch(r"\{'Value': '(.*)'\}", v)
    return m.group(1) if m else v


def render(r53, zone_id, name):
    plain = {}  # (name, type) -> [ttl, [values]]
    aliases = []
    for page in r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id):
        for rr in page["ResourceRecordSets"]:
            key = (zone_name(rr["Name"]), rr["Type"])
            if "AliasTarget" in rr:
                aliases.append((key, zone_name(rr["AliasTarget"]["DNSName"])))
                continue
            values = [value_of(v) for v in rr.get("ResourceRecords", [])]
            entry = plain.setdefault(key, [rr.get("TTL", 300), []])
            entry[0] = min(entry[0], rr.get("TTL", 300))
            entry[1].extend(v for v in values if v not in entry[1])
    notes = []
    for key, target in aliases:
        src = plain.get((target, key[1]))
        if src is None:
            notes.append(f"; alias {key[0]} {key[1]} -> {target}: target not in this zone, not served")
            continue
        entry = plain.setdefault(key, [src[0], []])
        entry[1].extend(v for v in src[1] if v not in entry[1])
    apex = zone_name(name)
    order = sorted(plain, key=lambda k: (k != (apex, "SOA"), k[0] != apex, k[0][::-1], k[1]))
    lines = [f"; {apex} = moto hosted zone {zone_id}, written by scripts/dns-world.py sync", "$ORIGIN ."]
    lines += notes
    for key in order:
        ttl, values = plain[key]
        lines += [f"{key[0]} {ttl} IN {key[1]} {v}" for v in values]
    return "\n".join(lines) + "\n"


def list_zones(r53):
    zones = []
    for page in r53.get_paginator("list_hosted_zones").paginate():
        zones += [z for z in page["HostedZones"] if not z.get("Config", {}).get("PrivateZone")]
    return zones  # moto lists zones in creation order


def chosen_zones(r53, args, warned):
    by_name = {}
    for z in list_zones(r53):
        name = z["Name"].lower().rstrip(".")
        # Only a zone directly under a TLD of the world can be delegated to, and reading every
        # zone each second (other tests' zones, benchmarks of 50000 records) would load moto.
        if name.split(".", 1)[-1] not in args.tlds:
            continue
        count = z.get("ResourceRecordSetCount", 0)
        if count > args.max_records:
            if (name, "big") not in warned:
                warned.add((name, "big"))
                log(f"{name}: {count} record sets, more than --max-records {args.max_records}: not served")
            continue
        by_name.setdefault(name, []).append(z["Id"].split("/")[-1])
    chosen = {}  # name -> (endpoint, zone id); endpoint None: args.endpoint
    for f in os.listdir(args.pin_dir):
        # "ENDPOINT ZONE-ID": a zone of another moto (a test's own scripts/test-env).
        fields = f.startswith("route53-zone-") and open(os.path.join(args.pin_dir, f)).read().split()
        if fields and len(fields) == 2:
            chosen[f[len("route53-zone-"):]] = (fields[0], fields[1].split("/")[-1])
    for name, ids in by_name.items():
        if name in chosen:
            continue
        pin = os.path.join(args.pin_dir, f"route53-zone-{name}")
        if os.path.exists(pin):
            want = open(pin).read().strip().split("/")[-1]
            if want in ids:
                chosen[name] = (None, want)
            elif (name, want) not in warned:
                warned.add((name, want))
                log(f"{pin} names {want}, which moto does not hold: {name} is not served")
            continue
        chosen[name] = (None, ids[-1])
    return chosen


def write_if_changed(path, text):
    try:
        with open(path) as f:
            if f.read() == text:
                return False
    except FileNotFoundError:
        pass
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)
    return True


def hup(pidfile):
    try:
        pid = int(open(pidfile).read().strip())
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().replace(b"\0", b" ").decode()
    except (OSError, ValueError):
        log(f"no named to reload ({pidfile})")
        return
    if "named" not in cmdline:
        log(f"pid {pid} of {pidfile} is not named: not signalled")
        return
    os.kill(pid, signal.SIGHUP)


def sync(args):
    r53 = client("route53", args.endpoint)
    zones_dir = os.path.join(args.dir, "zones")
    os.makedirs(zones_dir, exist_ok=True)
    served = {}  # name -> zone id, to log what changes
    others = {}  # endpoint -> client, for zones pinned to another moto
    warned = set()
    failing = False
    while True:
        started = time.monotonic()
        try:
            chosen = chosen_zones(r53, args, warned)
            changed = False
            for name, (endpoint, zid) in sorted(chosen.items()):
                if endpoint and endpoint not in others:
                    others[endpoint] = client("route53", endpoint)
                text = render(others[endpoint] if endpoint else r53, zid, name)
                path = os.path.join(zones_dir, f"{name}.zone")
                if write_if_changed(path, text):
                    changed = True
                    check = subprocess.run(["named-checkzone", name, path], capture_output=True, text=True)
                    if check.returncode != 0:
                        log(f"{name}: zone {zid} does not load in BIND: {check.stdout.strip()}")
                    was = served.get(name, (None, None))[1]
                    log(f"{name}: serving moto zone {zid}" + ("" if was in (None, zid) else f" instead of {was}")
                        + (" (changed)" if was == zid else ""))
            for f in os.listdir(zones_dir):
                if f.endswith(".zone") and f[: -len(".zone")] not in chosen:
                    os.remove(os.path.join(zones_dir, f))
                    changed = True
                    log(f"{f[:-5]}: no longer in moto, not served")
            conf = "".join(
                f'zone "{n}" {{ type primary; file "{os.path.join(zones_dir, n)}.zone"; allow-transfer {{ none; }}; }};\n'
                for n in sorted(chosen)
            )
            changed |= write_if_changed(os.path.join(args.dir, "zones.conf"), conf)
            if changed:
                hup(args.named_pidfile)
            served = chosen
            with open(os.path.join(args.dir, "synced"), "w") as f:
                f.write(f"{time.time()}\n")
            if failing:
                log("moto answers again")
                failing = False
        except Exception as e:  # moto restarting, a zone deleted between list and read, ...
            if not failing:
                log(f"sync failed, retrying every {args.interval}s: {e}")
                failing = True
        time.sleep(max(0.0, args.interval - (time.monotonic() - started)))


def registrar_nameservers(args):
    endpoint = os.environ["ZS_ROUTE53_ENDPOINT"]
    detail = client("route53domains", endpoint).get_domain_detail(DomainName=args.domain)
    for ns in detail.get("Nameservers", []):
        glue = ns.get("GlueIps") or []
        print(ns["Name"].rstrip(".") + ("=" + ",".join(glue) if glue else ""))


def main(argv):
    p = argparse.ArgumentParser(prog="dns-world.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("sync")
    s.add_argument("--endpoint", required=True)
    s.add_argument("--dir", required=True)
    s.add_argument("--named-pidfile", required=True)
    s.add_argument("--pin-dir", required=True)
    s.add_argument("--interval", type=float, default=1.0)
    s.add_argument("--tlds", default="com,net,org,uk,co.uk", type=lambda v: set(v.split(",")))
    s.add_argument("--max-records", type=int, default=2000)
    r = sub.add_parser("registrar-nameservers")
    r.add_argument("domain")
    args = p.parse_args(argv[1:])
    if args.cmd == "sync":
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        sync(args)
    else:
        registrar_nameservers(args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
