"""zoneshift and octoDNS on the same Route 53 API, one seeded zone file, side by side.

Run through scripts/bench-octodns (it makes the venv). For each size N: one zone file of N
record sets (A with one to three values, AAAA, CNAME, MX, TXT with one or two strings, SRV,
CAA, PTR, NS delegations, wildcards; seeded, so runs compare), then, each against a fresh
moto_server on its own port:

Each tool runs on the newest moto it reads correctly: octoDNS on moto 5.1.22 (in
.venv-bench; moto 5.2 answers ListHealthChecks without `IsTruncated`, on which octodns-route53
fails before its first change), zoneshift on moto 5.2.5 (scripts/test-env's .venv; moto 5.1
wraps values in CDATA, which the Rust SDK's XML parser skips).

- octoDNS: `octodns-sync --doit` with `max_changes: 500` (at its default of 1000, moto 5.1.22
  refused its first batch of a 1,000-set zone, 999 values by octoDNS's count, with "Number of
  records limit of 1000 exceeded"; ZS_BENCH_OCTODNS_MAX_CHANGES=1000 shows it) from the zone
  file (octodns-bind) to Route 53
  (octodns-route53), then the same again with nothing to change (the no-op sync);
- zoneshift: the release-build operator against scripts/test-env's kube-apiserver, from
  `kubectl create` of the manifest `zoneshift import --zone-file` writes until
  `RecordsSynced=True`; then its next resync, which lists the zone and records the full
  comparison; then the resync after it, within --full-compare-interval.

Columns: wall time; CPU seconds of the client (octoDNS's process, or the operator's); requests
by operation, from moto's request log; the client's peak RSS; and the record sets Route 53 holds
after the tool's last run against the zone file (identical, altered, missing, extra; the apex SOA and NS are
compared apart). moto, the kube-apiserver and the client share the machine's cores: CPU seconds
and request counts do not depend on what else runs, wall time does.
"""
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import boto3
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-bench"
TICK = os.sysconf("SC_CLK_TCK")


def say(*a):
    print("bench:", *a, file=sys.stderr, flush=True)


# --- the zone file ---------------------------------------------------------------------------

def zone_text(origin, n, seed):
    """N record sets of the types both tools carry, names unique per set."""
    rnd = random.Random(seed)
    ttls = [60, 300, 3600, 86400]
    out = [f"$ORIGIN {origin}", "$TTL 3600",
           f"@ 3600 IN SOA ns1.old-provider.net. hostmaster.{origin} 1 7200 900 1209600 300",
           "@ 172800 IN NS ns1.old-provider.net.", "@ 172800 IN NS ns2.old-provider.net."]
    kinds = ["a"] * 25 + ["aaaa"] * 10 + ["cname"] * 10 + ["mx"] * 8 + ["txt"] * 8 + \
        ["dkim"] * 8 + ["srv"] * 7 + ["caa"] * 5 + ["ptr"] * 5 + ["ns"] * 4 + ["wild"] * 10
    for i in range(n):
        k = rnd.choice(kinds)
        ttl = rnd.choice(ttls)
        ip4 = lambda: f"10.{rnd.randrange(256)}.{rnd.randrange(256)}.{rnd.randrange(1, 255)}"
        if k == "a":
            for v in sorted({ip4() for _ in range(rnd.randint(1, 3))}):
                out.append(f"a{i} {ttl} IN A {v}")
        elif k == "aaaa":
            out.append(f"v6-{i} {ttl} IN AAAA 2001:db8:{rnd.randrange(65536):x}::{i:x}")
        elif k == "cname":
            out.append(f"www{i} {ttl} IN CNAME a{rnd.randrange(max(i, 1))}.{origin}")
        elif k == "mx":
            out.append(f"mail{i} {ttl} IN MX 10 mx1.mail{i}.example.net.")
            out.append(f"mail{i} {ttl} IN MX 20 mx2.mail{i}.example.net.")
        elif k == "txt":
            out.append(f'txt{i} {ttl} IN TXT "v=spf1 include:_spf{i}.example.net ~all"')
        elif k == "dkim":
            key = "MIIB" + "".join(rnd.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123456789+/")
                                   for _ in range(380))
            out.append(f'sel{i}._domainkey {ttl} IN TXT "v=DKIM1; k=rsa; p={key[:200]}" "{key[200:]}"')
        elif k == "srv":
            out.append(f"_sip{i}._tcp {ttl} IN SRV 10 {rnd.randrange(100)} {rnd.randrange(1024, 65535)} a{i}.{origin}")
        elif k == "caa":
            out.append(f'caa{i} {ttl} IN CAA 0 issue "letsencrypt.org"')
        elif k == "ptr":
            out.append(f"ptr{i} {ttl} IN PTR host{i}.example.net.")
        elif k == "ns":
            out.append(f"sub{i} {ttl} IN NS ns1.sub{i}.example.net.")
            out.append(f"sub{i} {ttl} IN NS ns2.sub{i}.example.net.")
        else:
            out.append(f"*.w{i} {ttl} IN A {ip4()}")
    return "\n".join(out) + "\n"


def expected_sets(path, origin):
    """(name, type) -> (ttl, sorted canonical values), and the apex NS values."""
    z = dns.zone.from_file(str(path), origin=origin, relativize=False, check_origin=False)
    sets, apex_ns = {}, []
    for name, node in z.nodes.items():
        for rds in node.rdatasets:
            key = (name.to_text().lower(), dns.rdatatype.to_text(rds.rdtype))
            values = sorted(r.to_text() for r in rds)
            if name.to_text().lower() == origin and key[1] in ("SOA", "NS"):
                if key[1] == "NS":
                    apex_ns = values
                continue
            sets[key] = (rds.ttl, values)
    return sets, apex_ns


# --- moto --------------------------------------------------------------------------------------

class Moto:
    def __init__(self, port, work, venv):
        self.port = port
        self.log = work / f"moto-{port}-{time.time():.0f}.log"
        if socket.socket().connect_ex(("127.0.0.1", port)) == 0:
            raise SystemExit(f"bench: port {port} is taken: set ZS_BENCH_MOTO_PORTS")
        self.proc = subprocess.Popen([str(venv / "bin" / "moto_server"), "-p", str(port)],
                                     stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        for _ in range(200):
            if socket.socket().connect_ex(("127.0.0.1", port)) == 0:
                return
            time.sleep(0.1)
        raise SystemExit(f"bench: moto_server did not start on {port}")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def offset(self):
        return self.log.stat().st_size

    def requests(self, start, end=None):
        """Requests logged between two offsets, by Route 53 operation."""
        with open(self.log, "rb") as f:
            f.seek(start)
            text = f.read((end or self.offset()) - start).decode(errors="replace")
        ops = Counter()
        text = re.sub(r"\x1b\[[0-9;]*m", "", text)  # werkzeug colours some status codes
        for m in re.finditer(r'"(GET|POST|DELETE) (\S+) HTTP', text):
            ops[operation(m.group(1), m.group(2).split("?")[0])] += 1
        return ops

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)


def operation(method, path):
    p = path.replace("/2013-04-01", "")
    table = [
        (r"^/hostedzone/[^/]+/rrset/?$", {"GET": "ListResourceRecordSets", "POST": "ChangeResourceRecordSets"}),
        (r"^/hostedzone/[^/]+$", {"GET": "GetHostedZone", "DELETE": "DeleteHostedZone"}),
        (r"^/hostedzone/?$", {"GET": "ListHostedZones", "POST": "CreateHostedZone"}),
        (r"^/hostedzonesbyname", {"GET": "ListHostedZonesByName"}),
        (r"^/change/", {"GET": "GetChange"}),
        (r"^/healthcheck", {"GET": "ListHealthChecks", "POST": "CreateHealthCheck"}),
        (r"^/tags/", {"GET": "ListTagsForResource", "POST": "ChangeTagsForResource"}),
    ]
    for pattern, by_method in table:
        if re.match(pattern, p) and method in by_method:
            return by_method[method]
    return f"{method} {p}"


def route53_sets(url, origin):
    """What Route 53 holds, in the same form as expected_sets."""
    c = boto3.client("route53", endpoint_url=url, region_name="us-east-1",
                     aws_access_key_id="testing", aws_secret_access_key="testing")
    zones = [z for z in c.list_hosted_zones()["HostedZones"] if z["Name"] == origin]
    if len(zones) != 1:
        return None, [], f"{len(zones)} zones named {origin}"
    sets, apex_ns = {}, []
    for page in c.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zones[0]["Id"]):
        for rr in page["ResourceRecordSets"]:
            name = rr["Name"].replace("\\052", "*").lower()
            values = []
            for v in rr.get("ResourceRecords", []):
                try:
                    rd = dns.rdata.from_text(dns.rdataclass.IN, rr["Type"], v["Value"], origin=dns.name.root,
                                           relativize=False)
                    values.append(rd.to_text())
                except Exception:  # kept as Route 53 gave it: it then counts as altered
                    values.append("unparsed: " + v["Value"])
            if name == origin and rr["Type"] in ("SOA", "NS"):
                if rr["Type"] == "NS":
                    apex_ns = sorted(values)
                continue
            sets[(name, rr["Type"])] = (rr.get("TTL"), sorted(values))
    return sets, apex_ns, ""


def joined(ttl_values):
    """A TXT set with its strings joined: what DKIM and SPF readers see."""
    ttl, values = ttl_values
    return ttl, sorted("".join(re.findall(r'"((?:[^"\\]|\\.)*)"', v)) for v in values)


def short(ttl_values):
    ttl, values = ttl_values
    return f"{ttl} " + " | ".join(v if len(v) < 60 else f"{v[:28]}...{v[-28:]}" for v in values)


def read_back(url, origin, expected, expected_ns):
    got, apex_ns, err = route53_sets(url, origin)
    if got is None:
        return {"error": err}
    identical = sum(1 for k, v in expected.items() if got.get(k) == v)
    altered = [k for k, v in expected.items() if k in got and got[k] != v]
    resplit = [k for k in altered if k[1] == "TXT" and joined(got[k]) == joined(expected[k])]
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    return {
        "identical": identical, "altered": len(altered), "resplit": len(resplit), "missing": len(missing),
        "extra": len(extra),
        "apex_ns": "the zone file's" if apex_ns == expected_ns else "Route 53's",
        "examples": [f"{k[0]} {k[1]}: {short(expected[k])} -> {short(got[k])}" for k in altered[:2]]
        + [f"missing {k[0]} {k[1]}" for k in missing[:3]],
    }


# --- octoDNS -----------------------------------------------------------------------------------

def octodns(work, origin, zone_file, port, max_changes):
    d = work / f"octodns-{origin[:-1]}"
    (d / "zones").mkdir(parents=True)
    shutil.copy(zone_file, d / "zones" / f"{origin[:-1]}.zone")
    cfg = d / "config.yaml"
    cfg.write_text(
        "providers:\n"
        "  zonefile:\n    class: octodns_bind.ZoneFileProvider\n"
        f"    directory: {d / 'zones'}\n    file_extension: .zone\n"
        "  route53:\n    class: octodns_route53.Route53Provider\n"
        "    access_key_id: testing\n    secret_access_key: testing\n"
        f"    max_changes: {max_changes}\n"
        f"zones:\n  {origin}:\n    sources: [zonefile]\n    targets: [route53]\n")
    moto = Moto(port, work, VENV)
    env = dict(os.environ, AWS_ENDPOINT_URL=moto.url, AWS_DEFAULT_REGION="us-east-1")
    rows = []
    try:
        for label in ("octoDNS initial", "octoDNS no-op"):
            start = moto.offset()
            timing = d / "time"
            t0 = time.monotonic()
            r = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", "-o", str(timing),
                                str(VENV / "bin" / "octodns-sync"), "--config-file", str(cfg), "--doit"],
                               env=env, stdout=subprocess.DEVNULL, stderr=open(d / f"{label[-7:].strip()}.log", "w"))
            wall = time.monotonic() - t0
            time.sleep(0.5)  # moto's log line follows its answer
            user, sys_, rss_kb = timing.read_text().split()[-3:]
            rows.append({"run": label, "rc": r.returncode, "wall": wall, "cpu": float(user) + float(sys_),
                         "rss_mib": int(rss_kb) / 1024, "ops": moto.requests(start)})
        return rows, moto
    except BaseException:
        moto.stop()
        raise


# --- zoneshift ---------------------------------------------------------------------------------

def proc_cpu(pid):
    s = Path(f"/proc/{pid}/stat").read_text()
    f = s[s.rindex(")") + 2:].split()
    return (int(f[11]) + int(f[12])) / TICK


def proc_hwm_mib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def kubectl(*args, **kw):
    return subprocess.run(["kubectl", *args], check=kw.pop("check", True), text=True,
                          capture_output=True, **kw)


def condition(ns, name, type_):
    r = kubectl("get", "-n", ns, "hzm", name, "-o",
                f'jsonpath={{.status.conditions[?(@.type=="{type_}")].status}}', check=False)
    return r.stdout.strip()


def zoneshift(work, origin, zone_file, port, rps, admin, binary, resync):
    ns = f"zs-octo-{os.getpid()}-{origin.split('.')[0]}"
    manifest = work / f"zoneshift-{port}.yaml"
    r = subprocess.run([binary, "import", "--domain", origin[:-1], "--zone-file", str(zone_file),
                        "--name", "bench", "--namespace", ns], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench: zoneshift import failed: {r.stderr}")
    manifest.write_text(r.stdout)
    kubectl("apply", "-f", str(ROOT / "crds" / "hostedzonemigration.yaml"))
    kubectl("create", "namespace", ns)
    moto = Moto(port, work, ROOT / ".venv")
    env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
               AWS_REGION="us-east-1")
    log = open(work / f"operator-{port}.log", "w")
    op = subprocess.Popen([binary, "run", "--namespace", ns, "--admin-addr", admin,
                           "--route53-endpoint", moto.url, "--route53-rps", str(rps),
                           "--resync-interval", f"{resync}s", "--log-format", "json"],
                          env=env, stdout=log, stderr=subprocess.STDOUT)
    rows = []
    try:
        for _ in range(150):
            if subprocess.run(["curl", "-sf", f"http://{admin}/readyz"], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise SystemExit("bench: the operator never became ready")
        cpu0, start = proc_cpu(op.pid), moto.offset()
        t0 = time.monotonic()
        # `kubectl create`: a client-side apply keeps a second copy of the records in an
        # annotation, over the API's size limit at 10,000 record sets, and a server-side apply
        # of 10,000 records ran past the kube-apiserver's request timeout on the shared machine
        # (the create took 23 s of server time there).
        r = kubectl("create", "--request-timeout=5m", "-f", str(manifest), check=False)
        if r.returncode != 0:
            raise SystemExit(f"bench: kubectl create failed: {r.stderr.strip()}")
        kubectl("wait", "-n", ns, "--for=condition=RecordsSynced", "hzm/bench", "--timeout=1800s")
        wall = time.monotonic() - t0
        time.sleep(0.5)
        rows.append({"run": "zoneshift initial", "rc": 0, "wall": wall, "cpu": proc_cpu(op.pid) - cpu0,
                     "rss_mib": proc_hwm_mib(op.pid), "ops": moto.requests(start)})
        # The next resync lists the zone and records the comparison in status.lastFullComparison.
        cpu0, start, t0 = proc_cpu(op.pid), moto.offset(), time.monotonic()
        while not kubectl("get", "-n", ns, "hzm", "bench", "-o",
                          "jsonpath={.status.lastFullComparison.at}").stdout.strip():
            if time.monotonic() - t0 > resync * 4 + 600:
                raise SystemExit("bench: no full comparison was recorded")
            time.sleep(1)
        time.sleep(1)
        rows.append({"run": "zoneshift resync, listing", "rc": 0, "wall": float("nan"),
                     "cpu": proc_cpu(op.pid) - cpu0, "rss_mib": proc_hwm_mib(op.pid),
                     "ops": moto.requests(start)})
        # The resync after it, within --full-compare-interval: one whole interval, idle included.
        cpu0, start = proc_cpu(op.pid), moto.offset()
        time.sleep(resync + 2)
        rows.append({"run": f"zoneshift resync, trusted ({resync}s window)", "rc": 0, "wall": float("nan"),
                     "cpu": proc_cpu(op.pid) - cpu0, "rss_mib": proc_hwm_mib(op.pid),
                     "ops": moto.requests(start)})
        if condition(ns, "bench", "RecordsSynced") != "True":
            raise SystemExit("bench: RecordsSynced left True")
        return rows, moto
    except BaseException:
        moto.stop()
        raise
    finally:
        kubectl("delete", "-n", ns, "hzm", "--all", "--timeout=300s", check=False)
        op.send_signal(signal.SIGTERM)
        op.wait(timeout=60)
        kubectl("delete", "namespace", ns, "--wait=false", check=False)


# --- the table ---------------------------------------------------------------------------------

def altered(b):
    if "altered" not in b:
        return ""
    return f"{b['altered']} ({b['resplit']})"


def fmt_ops(ops):
    return " ".join(f"{k}={v}" for k, v in sorted(ops.items())) or "none"


def main():
    sizes = [int(s) for s in os.environ.get("ZS_BENCH_SIZES", "1000,10000").split(",") if s.strip()]
    seed = int(os.environ.get("ZS_BENCH_SEED", "53"))
    rps = int(os.environ.get("ZS_BENCH_RPS", "50"))
    base = int(os.environ.get("ZS_MOTO_PORT", "4614"))
    ports = [int(p) for p in os.environ.get("ZS_BENCH_MOTO_PORTS", f"{base + 20000},{base + 20010}").split(",")]
    admin = os.environ.get("ZS_BENCH_ADMIN_ADDR", "127.0.0.1:18195")
    binary = os.environ.get("ZS_BIN", str(ROOT / "target" / "release" / "zoneshift"))
    resync = int(os.environ.get("ZS_BENCH_RESYNC_SECONDS", "20"))
    max_changes = int(os.environ.get("ZS_BENCH_OCTODNS_MAX_CHANGES", "500"))
    tools = os.environ.get("ZS_BENCH_TOOLS", "octodns,zoneshift").split(",")
    if not os.environ.get("KUBECONFIG"):
        raise SystemExit('bench: KUBECONFIG is not set: eval "$(scripts/test-env env)"')
    if "zoneshift" in tools and not os.access(binary, os.X_OK):
        raise SystemExit(f"bench: no {binary}: cargo build --release")
    work = Path(tempfile.mkdtemp(prefix="zs-bench-octodns-"))
    say(f"work directory {work}; seed {seed}; zoneshift --route53-rps {rps}; "
        f"octodns-route53 max_changes {max_changes}")
    print(f"{'N':>6} | {'run':<34} | {'wall (s)':>8} | {'CPU (s)':>7} | {'peak RSS (MiB)':>14} | "
          f"{'identical':>9} | {'altered (TXT re-split)':>22} | {'missing':>7} | {'extra':>5} | apex NS | requests")
    notes = []
    for n in sizes:
        origin = f"bench-{n}.example.com."
        zone_file = work / f"{origin}zone"
        zone_file.write_text(zone_text(origin, n, seed))
        expected, expected_ns = expected_sets(zone_file, origin)
        assert len(expected) == n, (len(expected), n)
        for tool in tools:
            say(f"{tool}: {n} record sets")
            if tool == "octodns":
                rows, moto = octodns(work, origin, zone_file, ports[0], max_changes)
            else:
                rows, moto = zoneshift(work, origin, zone_file, ports[1], rps, admin, binary, resync)
            try:
                back = read_back(moto.url, origin, expected, expected_ns)
            finally:
                moto.stop()
            for i, r in enumerate(rows):
                b = back if i == len(rows) - 1 else {}
                print(f"{n:>6} | {r['run']:<34} | {r['wall']:>8.1f} | {r['cpu']:>7.2f} | {r['rss_mib']:>14.1f} | "
                      f"{b.get('identical', ''):>9} | {altered(b):>22} | {b.get('missing', ''):>7} | "
                      f"{b.get('extra', ''):>5} | {b.get('apex_ns', ''):<7} | {fmt_ops(r['ops'])}"
                      + ("" if r["rc"] == 0 else f" (exit {r['rc']})"), flush=True)
            if back.get("examples") or back.get("error"):
                notes.append(f"{tool} {n}: {back.get('error') or '; '.join(back['examples'])}")
    for note in notes:
        print("note:", note)
    say(f"logs kept in {work}")


if __name__ == "__main__":
    main()
