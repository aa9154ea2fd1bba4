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
- zoneshift, records inline (tool `zoneshift`, sizes up to ZS_BENCH_INLINE_MAX [10000]: beyond
  that the resource exceeds the Kubernetes API's object size limit): the release-build operator
  against scripts/test-env's kube-apiserver, from `kubectl create` of the manifest `zoneshift
  import --zone-file` writes until `RecordsSynced=True`; then its next resync, which lists the
  zone and records the full comparison; then the resync after it, within --full-compare-interval;
- zoneshift by zone transfer (tool `zoneshift-axfr`, every size): a BIND 9 `named` of the
  bench's own (config in the work directory, 127.0.0.1 on a free port, transfers allowed to
  127.0.0.1 without a key) serves the same zone file; the resource has only `spec.source`
  (axfr from that server, which is also the server verified against; no cutover approval).
  From `kubectl create` until `RecordsSynced=True`, then until `ShadowVerified=True`; then the
  next import (--import-interval, ZS_BENCH_IMPORT_SECONDS [30]), which transfers, lists, finds
  nothing to change and verifies again. The operator's "full pass" log lines give each pass's
  import, sync and verify times; a sampler (every 0.25 s: the operator's CPU seconds, RSS and
  the counters of its /metrics) splits CPU, memory, Route 53 requests and DNS messages among
  those steps (the second table). A pass that still writes after `RecordsSynced=True` is
  named in a note: the first import did not hold the whole zone.

Columns: wall time; CPU seconds of the client (octoDNS's process, or the operator's) and of
moto meanwhile (the two sides run different moto versions, see above); requests
by operation, from moto's request log (and for zoneshift the DNS messages it sent, by kind,
from its /metrics); the client's peak RSS; and the record sets Route 53 holds
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
import threading
import time
import urllib.request
from collections import Counter
from datetime import datetime
from pathlib import Path

import boto3
import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-bench"
TICK = os.sysconf("SC_CLK_TCK")


def terminate(proc, timeout):
    """SIGTERM, then SIGKILL if `proc` has not ended within `timeout` seconds."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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
        self.cpu_marks = {}
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
        """Where the request log ends now; moto's CPU seconds at that point are kept with it."""
        off = self.log.stat().st_size
        self.cpu_marks.setdefault(off, proc_cpu(self.proc.pid))
        return off

    def cpu_since(self, start):
        """moto's CPU seconds since the offset `start` was taken."""
        return proc_cpu(self.proc.pid) - self.cpu_marks[start]

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

def octodns(work, origin, zone_file, port, max_changes, timeout):
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
            r = subprocess.Popen(["/usr/bin/time", "-f", "%U %S %M", "-o", str(timing),
                                  str(VENV / "bin" / "octodns-sync"), "--config-file", str(cfg), "--doit"],
                                 env=env, stdout=subprocess.DEVNULL, stderr=open(d / f"{label[-7:].strip()}.log", "w"))
            try:
                rc = r.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                # Stop octoDNS itself, so that /usr/bin/time still reports what it used.
                for child in Path(f"/proc/{r.pid}/task/{r.pid}/children").read_text().split():
                    os.kill(int(child), signal.SIGTERM)
                r.wait()
                rc = f"stopped after {timeout} s"
            wall = time.monotonic() - t0
            time.sleep(0.5)  # moto's log line follows its answer
            user, sys_, rss_kb = timing.read_text().split()[-3:]
            rows.append({"run": label, "rc": rc, "wall": wall, "cpu": float(user) + float(sys_),
                         "rss_mib": int(rss_kb) / 1024, "ops": moto.requests(start), "moto_cpu": moto.cpu_since(start)})
            if rc != 0:
                break
        return rows, moto
    except BaseException:
        moto.stop()
        raise


# --- zoneshift ---------------------------------------------------------------------------------

def proc_cpu(pid):
    s = Path(f"/proc/{pid}/stat").read_text()
    f = s[s.rindex(")") + 2:].split()
    return (int(f[11]) + int(f[12])) / TICK


def proc_mem_mib(pid, field="VmHWM"):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def proc_hwm_mib(pid):
    return proc_mem_mib(pid, "VmHWM")


def kubectl(*args, **kw):
    return subprocess.run(["kubectl", *args], check=kw.pop("check", True), text=True,
                          capture_output=True, **kw)


def condition(ns, name, type_):
    r = kubectl("get", "-n", ns, "hzm", name, "-o",
                f'jsonpath={{.status.conditions[?(@.type=="{type_}")].status}}', check=False)
    return r.stdout.strip()


def wait_condition(ns, name, type_, timeout):
    r = kubectl("wait", "-n", ns, f"--for=condition={type_}", f"hzm/{name}", f"--timeout={timeout}s",
                check=False)
    if r.returncode != 0:
        conds = kubectl("get", "-n", ns, "hzm", name, "-o", "jsonpath={.status.conditions}", check=False)
        raise SystemExit(f"bench: {type_} not True within {timeout}s: {conds.stdout.strip()[:2000]}")


def utc_seconds(stamp):
    """An RFC 3339 timestamp of the operator's JSON log, as seconds since the epoch."""
    m = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$", stamp)
    base = datetime.fromisoformat(m.group(1) + (m.group(3).replace("Z", "+00:00")))
    return base.timestamp() + float("0." + (m.group(2) or "0"))


class Operator:
    """`zoneshift run` for one namespace against one moto, with its admin endpoint, its JSON log
    and a sampler: every SAMPLE_SECONDS its CPU seconds, RSS and /metrics counters."""

    SAMPLE_SECONDS = 0.25

    def __init__(self, work, tag, binary, ns, moto, admin, extra):
        self.admin = admin
        self.log_path = work / f"operator-{tag}.log"
        self.samples_path = work / f"samples-{tag}.jsonl"
        env = dict(os.environ, AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing",
                   AWS_REGION="us-east-1")
        self.proc = subprocess.Popen([binary, "run", "--namespace", ns, "--admin-addr", admin,
                                      "--route53-endpoint", moto.url, "--log-format", "json", *extra],
                                     env=env, stdout=open(self.log_path, "w"), stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        for _ in range(150):
            try:
                urllib.request.urlopen(f"http://{admin}/readyz", timeout=2).read()
                break
            except OSError:
                if self.proc.poll() is not None:
                    raise SystemExit(f"bench: the operator exited; see {self.log_path}")
                time.sleep(0.2)
        else:
            self.stop()
            raise SystemExit("bench: the operator never became ready")
        self.samples = []
        self.stopping = threading.Event()
        self.sampler = threading.Thread(target=self._sample, daemon=True)
        self.sampler.start()

    def metrics(self):
        """Route 53 requests and DNS messages (by kind) the operator counted so far."""
        out = {"route53": 0}
        try:
            text = urllib.request.urlopen(f"http://{self.admin}/metrics", timeout=5).read().decode()
        except OSError:
            return None
        for line in text.splitlines():
            m = re.match(r'zoneshift_route53_requests_total(?:\{[^}]*\})? (\S+)$', line)
            if m:
                out["route53"] += int(float(m.group(1)))
            m = re.match(r'zoneshift_dns_queries_total\{kind="([a-z]+)"\} (\S+)$', line)
            if m:
                out[m.group(1)] = int(float(m.group(2)))
        return out

    def _sample(self):
        with open(self.samples_path, "w") as f:
            while not self.stopping.is_set():
                try:
                    s = {"t": time.time(), "cpu": proc_cpu(self.pid), "rss": proc_mem_mib(self.pid, "VmRSS")}
                except OSError:
                    return
                # A busy operator may take a while to answer /metrics: its counters are of the
                # middle of the request, not of the /proc reading.
                t0 = time.time()
                s["m"] = self.metrics()
                s["tm"] = (t0 + time.time()) / 2
                self.samples.append(s)
                f.write(json.dumps(s) + "\n")
                self.stopping.wait(self.SAMPLE_SECONDS)

    def at(self, t, key):
        """A cumulative counter at wall-clock time t, interpolated between samples."""
        when = "t" if key == "cpu" else "tm"

        def value(s):
            if key == "cpu":
                return s["cpu"]
            return s["m"].get(key, 0)
        pts = [s for s in self.samples if key == "cpu" or s["m"] is not None]
        if not pts:
            return 0.0
        if t <= pts[0][when]:
            return value(pts[0])
        for a, b in zip(pts, pts[1:]):
            if a[when] <= t <= b[when]:
                w = (t - a[when]) / max(b[when] - a[when], 1e-9)
                return value(a) + w * (value(b) - value(a))
        return value(pts[-1])

    def peak_rss(self, t0, t1):
        """The highest RSS sampled in [t0, t1], the samples on either side included."""
        inside = [s["rss"] for s in self.samples if t0 - self.SAMPLE_SECONDS <= s["t"] <= t1 + self.SAMPLE_SECONDS]
        return max(inside) if inside else float("nan")

    def passes(self):
        """The "full pass" log lines: name, each step's milliseconds, batches, and when it ended."""
        out = []
        for line in open(self.log_path, errors="replace"):
            if '"full pass"' not in line:
                continue
            try:
                e = json.loads(line)
            except ValueError:
                continue
            fields = e.get("fields", e)
            if fields.get("message") != "full pass":
                continue
            out.append({"end": utc_seconds(e["timestamp"]), "name": fields.get("name"),
                        "import_ms": int(fields["import_ms"]), "sync_ms": int(fields["sync_ms"]),
                        "verify_ms": int(fields["verify_ms"]), "batches": int(fields.get("batches", 0))})
        return out

    def cpu(self):
        return proc_cpu(self.pid)

    def hwm(self):
        return proc_hwm_mib(self.pid)

    def stop(self):
        if hasattr(self, "stopping"):
            self.stopping.set()
        terminate(self.proc, 60)


def dns_delta(m0, m1):
    if not m0 or not m1:
        return {}
    return {k: m1.get(k, 0) - m0.get(k, 0) for k in ("transfer", "authoritative", "recursive", "update")
            if m1.get(k, 0) - m0.get(k, 0)}


def new_namespace(origin, variant):
    ns = f"zs-octo-{os.getpid()}-{variant}-{origin.split('.')[0]}"
    kubectl("apply", "-f", str(ROOT / "crds" / "hostedzonemigration.yaml"))
    kubectl("create", "namespace", ns)
    return ns


def create(manifest):
    # `kubectl create`: a client-side apply keeps a second copy of the records in an
    # annotation, over the API's size limit at 10,000 record sets, and a server-side apply
    # of 10,000 records ran past the kube-apiserver's request timeout on the shared machine
    # (the create took 23 s of server time there).
    r = kubectl("create", "--request-timeout=5m", "-f", str(manifest), check=False)
    if r.returncode != 0:
        raise SystemExit(f"bench: kubectl create failed: {r.stderr.strip()}")


def cleanup(ns, op):
    kubectl("delete", "-n", ns, "hzm", "--all", "--timeout=300s", check=False)
    op.stop()
    kubectl("delete", "namespace", ns, "--wait=false", check=False)


def zoneshift(work, origin, zone_file, port, cfg):
    """Records inline: the manifest `zoneshift import --zone-file` writes, no spec.source."""
    ns = new_namespace(origin, "inline")
    manifest = work / f"zoneshift-inline-{origin}yaml"
    r = subprocess.run([cfg["binary"], "import", "--domain", origin[:-1], "--zone-file", str(zone_file),
                        "--name", "bench", "--namespace", ns], capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"bench: zoneshift import failed: {r.stderr}")
    manifest.write_text(r.stdout)
    moto = Moto(port, work, ROOT / ".venv")
    resync = cfg["resync"]
    op = None
    rows = []
    try:
        op = Operator(work, f"inline-{origin[:-1]}", cfg["binary"], ns, moto, cfg["admin"],
                      ["--route53-rps", str(cfg["rps"]), "--resync-interval", f"{resync}s"])
        cpu0, start, m0 = op.cpu(), moto.offset(), op.metrics()
        t0 = time.monotonic()
        create(manifest)
        wait_condition(ns, "bench", "RecordsSynced", 3600)
        wall = time.monotonic() - t0
        time.sleep(0.5)
        rows.append({"run": "zoneshift inline, initial", "rc": 0, "wall": wall, "cpu": op.cpu() - cpu0,
                     "rss_mib": op.hwm(), "ops": moto.requests(start), "moto_cpu": moto.cpu_since(start), "dns": dns_delta(m0, op.metrics())})
        # The next resync lists the zone and records the comparison in status.lastFullComparison.
        cpu0, start, t0 = op.cpu(), moto.offset(), time.monotonic()
        while not kubectl("get", "-n", ns, "hzm", "bench", "-o",
                          "jsonpath={.status.lastFullComparison.at}").stdout.strip():
            if time.monotonic() - t0 > resync * 4 + 600:
                raise SystemExit("bench: no full comparison was recorded")
            time.sleep(1)
        time.sleep(1)
        rows.append({"run": "zoneshift inline, resync, listing", "rc": 0, "wall": float("nan"),
                     "cpu": op.cpu() - cpu0, "rss_mib": op.hwm(), "ops": moto.requests(start), "moto_cpu": moto.cpu_since(start)})
        # The resync after it, within --full-compare-interval: one whole interval, idle included.
        cpu0, start = op.cpu(), moto.offset()
        time.sleep(resync + 2)
        rows.append({"run": f"zoneshift inline, trusted ({resync}s)", "rc": 0, "wall": float("nan"),
                     "cpu": op.cpu() - cpu0, "rss_mib": op.hwm(), "ops": moto.requests(start), "moto_cpu": moto.cpu_since(start)})
        if condition(ns, "bench", "RecordsSynced") != "True":
            raise SystemExit("bench: RecordsSynced left True")
        return rows, moto, []
    except BaseException:
        moto.stop()
        raise
    finally:
        if op:
            cleanup(ns, op)


def axfr_manifest(path, ns, origin, server):
    path.write_text(
        "apiVersion: zoneshift.io/v1alpha1\nkind: HostedZoneMigration\n"
        f"metadata: {{name: bench, namespace: {ns}}}\n"
        "spec:\n"
        f"  domain: {origin[:-1]}\n"
        "  source:\n"
        f"    nameservers: ['{server}']\n"
        "    axfr: {}\n")


def phase_rows(op, passes, label):
    """Each full pass of `passes`, step by step, with what the operator spent in each step."""
    out = []
    for i, p in enumerate(passes):
        t = p["end"] - (p["import_ms"] + p["sync_ms"] + p["verify_ms"]) / 1000
        for step in ("import", "sync", "verify"):
            t1 = t + p[f"{step}_ms"] / 1000
            out.append({"pass": f"{label} {i + 1}", "step": step, "ms": p[f"{step}_ms"],
                        "cpu": op.at(t1, "cpu") - op.at(t, "cpu"), "rss": op.peak_rss(t, t1),
                        "route53": op.at(t1, "route53") - op.at(t, "route53"),
                        "authoritative": op.at(t1, "authoritative") - op.at(t, "authoritative"),
                        "batches": p["batches"] if step == "sync" else ""})
            t = t1
    return out


def zoneshift_axfr(work, origin, zone_file, port, cfg):
    """spec.source.axfr: the operator transfers the zone from a BIND serving the zone file."""
    ns = new_namespace(origin, "axfr")
    bind = Bind(work, origin, zone_file)
    manifest = work / f"zoneshift-axfr-{origin}yaml"
    axfr_manifest(manifest, ns, origin, bind.server)
    moto = Moto(port, work, ROOT / ".venv")
    op = None
    rows, phases = [], []
    try:
        # --resolver: the bench's BIND (it refuses recursion), so that nothing the gate asks
        # about the parent zone leaves the machine.
        op = Operator(work, f"axfr-{origin[:-1]}", cfg["binary"], ns, moto, cfg["admin"],
                      ["--route53-rps", str(cfg["rps"]), "--resync-interval", f"{cfg['resync']}s",
                       "--import-interval", f"{cfg['import_interval']}s", "--resolver", bind.server])
        cpu0, start, m0, bcpu0 = op.cpu(), moto.offset(), op.metrics(), bind.cpu()
        t0, wall0 = time.monotonic(), time.time()
        create(manifest)
        wait_condition(ns, "bench", "RecordsSynced", 3600)
        synced = time.monotonic() - t0
        time.sleep(0.5)
        rows.append({"run": "zoneshift AXFR, to RecordsSynced", "rc": 0, "wall": synced, "cpu": op.cpu() - cpu0,
                     "rss_mib": op.hwm(), "ops": moto.requests(start), "moto_cpu": moto.cpu_since(start), "dns": dns_delta(m0, op.metrics())})
        wait_condition(ns, "bench", "ShadowVerified", 3600)
        wall, wall1 = time.monotonic() - t0, time.time()
        time.sleep(0.5)
        first = [p for p in op.passes() if wall0 <= p["end"] <= wall1 + 0.5]
        rows.append({"run": "zoneshift AXFR, to ShadowVerified", "rc": 0, "wall": wall, "cpu": op.cpu() - cpu0,
                     "rss_mib": op.hwm(), "ops": moto.requests(start), "moto_cpu": moto.cpu_since(start), "dns": dns_delta(m0, op.metrics()),
                     "passes": first, "synced_s": synced, "bind_cpu": bind.cpu() - bcpu0})
        # A pass that still writes after the first had declared the records in sync means the
        # first pass did not have the whole zone: say so, with what the log says of the transfer.
        late = [f"pass {i + 2}: {p['batches']} batches" for i, p in enumerate(first[1:]) if p["batches"]]
        if late:
            dropped = sum("TrySendError" in line for line in open(op.log_path, errors="replace"))
            rows[-1]["warning"] = (f"wrote after RecordsSynced=True ({'; '.join(late)}); the operator's log "
                                   f"holds {dropped} warnings of a full DNS receive channel (TrySendError)")
        phases += phase_rows(op, first, "first")
        # The next import: AXFR again, list the zone and find nothing to change, verify again.
        cpu0, start, m0, seen = op.cpu(), moto.offset(), op.metrics(), len(op.passes())
        t0 = time.monotonic()
        while len(op.passes()) <= seen:
            if time.monotonic() - t0 > cfg["import_interval"] * 2 + 1800:
                raise SystemExit("bench: no second import came")
            time.sleep(1)
        time.sleep(1)
        again = op.passes()[seen:seen + 1]
        rows.append({"run": "zoneshift AXFR, next import", "rc": 0,
                     "wall": sum(again[0][f"{s}_ms"] for s in ("import", "sync", "verify")) / 1000,
                     "cpu": op.cpu() - cpu0, "rss_mib": op.hwm(), "ops": moto.requests(start), "moto_cpu": moto.cpu_since(start),
                     "dns": dns_delta(m0, op.metrics()), "passes": again})
        phases += phase_rows(op, again, "re-import")
        for c in ("RecordsSynced", "ShadowVerified"):
            if condition(ns, "bench", c) != "True":
                raise SystemExit(f"bench: {c} left True")
        return rows, moto, phases
    except BaseException:
        moto.stop()
        raise
    finally:
        if op:
            cleanup(ns, op)
        bind.stop()


# --- the old provider, for the zone transfer --------------------------------------------------

def free_port():
    """A loopback port free for both TCP and UDP, as BIND listens on both."""
    for _ in range(50):
        with socket.socket() as t:
            t.bind(("127.0.0.1", 0))
            port = t.getsockname()[1]
            try:
                with socket.socket(type=socket.SOCK_DGRAM) as u:
                    u.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise SystemExit("bench: no free loopback port for BIND")


class Bind:
    """Debian's BIND 9 serving the generated zone file, as the old provider zoneshift transfers
    the zone from: a config of its own in the work directory, 127.0.0.1 on a free port, transfers
    allowed to 127.0.0.1 without a key."""

    def __init__(self, work, origin, zone_file):
        self.dir = work / f"named-{origin[:-1]}"
        self.dir.mkdir(parents=True)
        self.port = free_port()
        shutil.copy(zone_file, self.dir / "zone")
        conf = self.dir / "named.conf"
        # The generated zone names in-zone SRV targets that have no address records and SRV
        # owners with underscores: a provider's export as it is. BIND's load-time checks of
        # those are for a zone's author, not for a server handing out what it holds.
        conf.write_text(
            "options {\n"
            f'  directory "{self.dir}";\n  pid-file "{self.dir / "named.pid"}";\n'
            f'  session-keyfile "{self.dir / "session.key"}";\n'
            f"  listen-on port {self.port} {{ 127.0.0.1; }};\n  listen-on-v6 {{ none; }};\n"
            "  recursion no;\n  allow-query { any; };\n  allow-transfer { 127.0.0.1; };\n"
            "  dnssec-validation no;\n  notify no;\n"
            "  check-names primary ignore;\n  check-integrity no;\n};\n"
            f'zone "{origin[:-1]}" {{ type primary; file "zone"; }};\n')
        user = ["-u", "root"] if os.geteuid() == 0 else []
        self.log = self.dir / "named.log"
        self.proc = subprocess.Popen(["/usr/sbin/named", "-g", *user, "-c", str(conf)],
                                     stdout=open(self.log, "w"), stderr=subprocess.STDOUT)
        query = dns.message.make_query(origin, dns.rdatatype.SOA)
        for _ in range(600):
            if self.proc.poll() is not None:
                raise SystemExit(f"bench: named exited ({self.proc.returncode}); see {self.log}")
            try:
                answer = dns.query.udp(query, "127.0.0.1", port=self.port, timeout=0.5)
                if answer.answer:
                    return
            except (dns.exception.Timeout, OSError):
                pass
            time.sleep(0.1)
        self.stop()
        raise SystemExit(f"bench: named did not serve {origin} on port {self.port}; see {self.log}")

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def cpu(self):
        return proc_cpu(self.proc.pid)

    def stop(self):
        terminate(self.proc, 30)


# --- the table ---------------------------------------------------------------------------------

def altered(b):
    if "altered" not in b:
        return ""
    return f"{b['altered']} ({b['resplit']})"


def fmt_ops(ops):
    return " ".join(f"{k}={v}" for k, v in sorted(ops.items())) or "none"


def fmt_row(n, r, b):
    dns_ = " ".join(f"{k}={v}" for k, v in sorted(r.get("dns", {}).items()))
    return (f"{n:>6} | {r['run']:<34} | {r['wall']:>8.1f} | {r['cpu']:>7.2f} | {r['moto_cpu']:>8.2f} | "
            f"{r['rss_mib']:>14.1f} | "
            f"{b.get('identical', ''):>9} | {altered(b):>22} | {b.get('missing', ''):>7} | "
            f"{b.get('extra', ''):>5} | {b.get('apex_ns', ''):<15} | {fmt_ops(r['ops'])}"
            + (f" | DNS {dns_}" if dns_ else "") + ("" if r["rc"] == 0 else f" (exit {r['rc']})" if isinstance(r["rc"], int) else f" ({r['rc']})"))


TOOLS = {"octodns": None, "zoneshift": zoneshift, "zoneshift-axfr": zoneshift_axfr}


def main():
    # A SIGTERM (a timeout, a kill of the run) still stops what the run started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sizes = [int(s) for s in os.environ.get("ZS_BENCH_SIZES", "1000,10000,50000").split(",") if s.strip()]
    seed = int(os.environ.get("ZS_BENCH_SEED", "53"))
    base = int(os.environ.get("ZS_MOTO_PORT", "4614"))
    ports = [int(p) for p in os.environ.get("ZS_BENCH_MOTO_PORTS", f"{base + 20000},{base + 20010}").split(",")]
    cfg = {
        "rps": int(os.environ.get("ZS_BENCH_RPS", "50")),
        "admin": os.environ.get("ZS_BENCH_ADMIN_ADDR", "127.0.0.1:18195"),
        "binary": os.environ.get("ZS_BIN", str(ROOT / "target" / "release" / "zoneshift")),
        "resync": int(os.environ.get("ZS_BENCH_RESYNC_SECONDS", "20")),
        "import_interval": int(os.environ.get("ZS_BENCH_IMPORT_SECONDS", "30")),
    }
    inline_max = int(os.environ.get("ZS_BENCH_INLINE_MAX", "10000"))
    max_changes = int(os.environ.get("ZS_BENCH_OCTODNS_MAX_CHANGES", "500"))
    octodns_timeout = int(os.environ.get("ZS_BENCH_OCTODNS_TIMEOUT", "0")) or None
    tools = os.environ.get("ZS_BENCH_TOOLS", "octodns,zoneshift,zoneshift-axfr").split(",")
    unknown = [t for t in tools if t not in TOOLS]
    if unknown:
        raise SystemExit(f"bench: unknown tool(s) {unknown} in ZS_BENCH_TOOLS; known: {', '.join(TOOLS)}")
    if not os.environ.get("KUBECONFIG"):
        raise SystemExit('bench: KUBECONFIG is not set: eval "$(scripts/test-env env)"')
    if any(t.startswith("zoneshift") for t in tools) and not os.access(cfg["binary"], os.X_OK):
        raise SystemExit(f"bench: no {cfg['binary']}: cargo build --release")
    work = Path(tempfile.mkdtemp(prefix="zs-bench-octodns-"))
    say(f"work directory {work}; seed {seed}; zoneshift --route53-rps {cfg['rps']}; "
        f"octodns-route53 max_changes {max_changes}")
    print(f"{'N':>6} | {'run':<34} | {'wall (s)':>8} | {'CPU (s)':>7} | {'moto CPU':>8} | {'peak RSS (MiB)':>14} | "
          f"{'identical':>9} | {'altered (TXT re-split)':>22} | {'missing':>7} | {'extra':>5} | "
          f"{'apex NS':<15} | requests", flush=True)
    notes, phases = [], []
    for n in sizes:
        origin = f"bench-{n}.example.com."
        zone_file = work / f"{origin}zone"
        zone_file.write_text(zone_text(origin, n, seed))
        expected, expected_ns = expected_sets(zone_file, origin)
        assert len(expected) == n, (len(expected), n)
        for tool in tools:
            if tool == "zoneshift" and n > inline_max:
                say(f"zoneshift inline: {n} record sets do not fit in one resource "
                    f"(ZS_BENCH_INLINE_MAX={inline_max}); skipped")
                continue
            say(f"{tool}: {n} record sets")
            t_start = time.monotonic()
            if tool == "octodns":
                rows, moto = octodns(work, origin, zone_file, ports[0], max_changes, octodns_timeout)
                steps = []
            else:
                rows, moto, steps = TOOLS[tool](work, origin, zone_file, ports[1], cfg)
            try:
                back = read_back(moto.url, origin, expected, expected_ns)
            finally:
                moto.stop()
            say(f"{tool}: {n} record sets done in {time.monotonic() - t_start:.0f} s")
            for i, r in enumerate(rows):
                print(fmt_row(n, r, back if i == len(rows) - 1 else {}), flush=True)
                for p in r.get("passes", []):
                    notes.append(f"{tool} {n} {r['run']}: full pass import {p['import_ms']} ms, "
                                 f"sync {p['sync_ms']} ms ({p['batches']} batches), verify {p['verify_ms']} ms")
                if "warning" in r:
                    notes.append(f"{tool} {n}: {r['warning']}")
                if "synced_s" in r:
                    notes.append(f"{tool} {n}: RecordsSynced after {r['synced_s']:.1f} s, ShadowVerified "
                                 f"after {r['wall']:.1f} s; BIND's CPU meanwhile {r['bind_cpu']:.2f} s")
            phases += [dict(p, n=n) for p in steps]
            if back.get("examples") or back.get("error"):
                notes.append(f"{tool} {n}: {back.get('error') or '; '.join(back['examples'])}")
    if phases:
        # Sampled counters, interpolated: a step shorter than a sampling interval or two gets a
        # share of its neighbours' CPU and requests. The log's wall times are exact.
        print(f"\n{'N':>6} | {'pass':<12} | {'step':<6} | {'wall (ms)':>9} | {'CPU (s)':>7} | "
              f"{'peak RSS (MiB)':>14} | {'Route 53 req':>12} | {'DNS queries':>11} | batches")
        for p in phases:
            print(f"{p['n']:>6} | {p['pass']:<12} | {p['step']:<6} | {p['ms']:>9} | {p['cpu']:>7.2f} | "
                  f"{p['rss']:>14.1f} | {p['route53']:>12.0f} | {p['authoritative']:>11.0f} | {p['batches']}")
    for note in notes:
        print("note:", note)
    say(f"logs kept in {work}")


if __name__ == "__main__":
    main()
