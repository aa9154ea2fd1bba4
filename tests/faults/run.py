"""Seeded fault schedules over a migration's whole life, against the real binary, the real
kube-apiserver of scripts/test-env and moto behind the fault proxy (tests/faults/r53proxy.py).

Each schedule (one seed) runs in a namespace of its own:
  1. a zone of someone else is made in moto first, named like the migration's domain, with a
     record; the operator must never touch it;
  2. a zone-file ConfigMap and a HostedZoneMigration (spec.records over the import,
     deletionPolicy Retain or Delete, chosen by the seed) are applied; the migration must reach
     RecordsSynced with Route 53 holding exactly the desired records;
  3. the zone file and spec.records change; the resync must reach the new desired records;
  4. the resource is deleted; Retain leaves the zone and its records, Delete removes them and
     the zone.
All along the proxy injects the seed's faults (delays, resets, lost answers, Throttling,
PriorRequestNotComplete, InvalidChangeBatch for a record deleted meanwhile, 503, 500), the
operator is killed with SIGKILL at random moments and started again, and in some schedules
the kube-apiserver is restarted (scripts/test-env restart kube). The status is sampled every
half second: Stalled=True is a violation but for the one reason the resource asks for
(EXPECTED_STALLS). At the end of each stage Route 53, read directly from moto and never
through the proxy, must hold exactly the desired records in exactly one zone of this resource,
with the status's zone id and record counts saying so.

Usage: run.py [--schedules N] [--first-seed S] [--seed S] [--bin PATH] [--json FILE]
              [--kube-restart-rate R]
N defaults to $ZS_FAULT_SCHEDULES or 5. Needs: eval "$(scripts/test-env env)" and a built
binary (cargo build). Exits 1 if any schedule found a violation; prints the faults injected by
kind, as the proxy counted them.
"""
import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import boto3

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
KINDS = ["delay", "reset", "drop", "throttling", "prior", "invalid", "unavailable", "internal"]
STAGE_TIMEOUT = 120
# The one stall a schedule's resource asks for: it names no spec.source.nameservers (the old
# provider is not asked here: DNS faults are tested on their own), so verification waits for a
# person to name them. Any other Stalled=True is a violation.
EXPECTED_STALLS = {"NoSourceNameservers"}


def r53():
    """Route 53 as moto holds it, read directly: never through the proxy."""
    return boto3.client("route53", endpoint_url=os.environ["ZS_ROUTE53_ENDPOINT"],
                        region_name="us-east-1")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kubectl(*args, stdin=None, check=True, tries=40):
    """kubectl as the admin, retried while the API server restarts."""
    for i in range(tries):
        p = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True)
        if p.returncode == 0 or not check:
            return p
        transient = any(w in p.stderr for w in (
            "connection refused", "was refused", "ServiceUnavailable", "EOF", "timeout", "i/o timeout",
            "the server is currently unable", "TLS handshake", "connection reset"))
        if not transient or i == tries - 1:
            raise RuntimeError(f"kubectl {' '.join(args)}: {p.stderr.strip()}")
        time.sleep(0.5)
    raise AssertionError("unreachable")


def records_of(zone_id, origin):
    """(name, type) -> (ttl, sorted values) of a zone in moto, apex SOA and NS left out."""
    out = {}
    for page in r53().get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id):
        for rr in page["ResourceRecordSets"]:
            if rr["Name"] == origin and rr["Type"] in ("SOA", "NS"):
                continue
            values = sorted(v["Value"] for v in rr.get("ResourceRecords", []))
            out[(rr["Name"], rr["Type"])] = (rr.get("TTL"), values)
    return out


def zones_named(origin):
    """Every zone named `origin`: {id: caller reference}."""
    found, kwargs = {}, {"DNSName": origin}
    while True:
        out = r53().list_hosted_zones_by_name(**kwargs)
        for z in out["HostedZones"]:
            if z["Name"] == origin:
                found[z["Id"].split("/")[-1]] = z["CallerReference"]
        if not out.get("IsTruncated") or out.get("NextDNSName") != origin:
            return found
        kwargs = {"DNSName": out["NextDNSName"], "HostedZoneId": out["NextHostedZoneId"]}


class Desired:
    """The records a schedule asks for: a zone file and spec.records laid over it."""

    def __init__(self, rng, domain):
        self.rng, self.domain, self.origin = rng, domain, domain + "."
        self.file = {}  # (relative name, type) -> (ttl, [values as in the zone file])
        for i in range(rng.randint(3, 7)):
            self.add_file_record(f"h{i}")
        self.file[("@", "MX")] = (3600, ["10 mx.mail.example.net."])
        self.spec = {("www", "CNAME"): (300, ["app.example.net."])}

    def add_file_record(self, name):
        kind = self.rng.choice(["A", "TXT", "AAAA"])
        n = self.rng.randint(1, 3)
        if kind == "A":
            vals = [f"192.0.2.{self.rng.randint(1, 254)}" for _ in range(n)]
        elif kind == "AAAA":
            vals = [f"2001:db8::{self.rng.randint(1, 65534):x}" for _ in range(n)]
        else:
            vals = [f'"v{self.rng.randint(0, 10**6)}"' for _ in range(n)]
        self.file[(name, kind)] = (self.rng.choice([60, 300, 3600]), sorted(set(vals)))

    def change(self):
        """A change at the old provider and in spec.records: one record added, one removed,
        one changed, one spec record added."""
        names = sorted(k for k in self.file if k[0].startswith("h"))
        del self.file[names[0]]
        key = names[-1]
        ttl, vals = self.file[key]
        self.file[key] = (ttl + 1, vals)
        self.add_file_record(f"n{self.rng.randint(0, 999)}")
        self.spec[("api", "A")] = (60, ["192.0.2.250"])

    def zone_file(self):
        lines = [f"$ORIGIN {self.origin}", "$TTL 3600",
                 "@ IN SOA ns1.old.example.net. hostmaster.example.net. 1 7200 900 1209600 300",
                 "@ IN NS ns1.old.example.net.", "@ IN NS ns2.old.example.net."]
        for (name, kind), (ttl, vals) in sorted(self.file.items()):
            lines += [f"{name} {ttl} IN {kind} {v}" for v in vals]
        return "\n".join(lines) + "\n"

    def spec_records(self):
        return [{"name": n, "type": t, "ttl": ttl, "values": vals}
                for (n, t), (ttl, vals) in sorted(self.spec.items())]

    def expected(self):
        """What Route 53 must hold, as records_of() reads it."""
        out = {}
        for (name, kind), (ttl, vals) in {**self.file, **self.spec}.items():
            fq = self.origin if name == "@" else f"{name}.{self.origin}"
            out[(fq, kind)] = (ttl, sorted(vals))
        return out


class Operator:
    """The zoneshift binary, watched namespace only, pointed at the proxy; killable."""

    def __init__(self, binary, ns, endpoint, log):
        self.binary, self.ns, self.endpoint, self.log = binary, ns, endpoint, log
        self.proc = None
        self.kills = 0
        self.lock = threading.Lock()

    def start(self):
        env = dict(os.environ, KUBECONFIG=os.environ["ZS_OPERATOR_KUBECONFIG"])
        self.proc = subprocess.Popen(
            [self.binary, "run", "--namespace", self.ns, "--route53-endpoint", self.endpoint,
             "--route53-rps", "50", "--resync-interval", "3s", "--change-poll-interval", "1s",
             "--import-interval", "2s", "--dns-timeout", "1s", "--log-format", "text",
             "--admin-addr", f"127.0.0.1:{free_port()}"],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def kill(self):
        with self.lock:
            if self.proc and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGKILL)
                self.proc.wait()
                self.kills += 1

    def restart(self):
        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self.start()

    def stop(self):
        self.kill()


class Schedule:
    def __init__(self, seed, binary, proxy_port, verbose, kube_restart_rate):
        self.seed = seed
        self.kube_restart_rate = kube_restart_rate
        self.rng = random.Random(seed)
        self.binary, self.proxy_port, self.verbose = binary, proxy_port, verbose
        self.ns = f"zs-fault-{seed}-{os.getpid()}"
        self.domain = f"f{seed}-{os.getpid()}.example.com"
        self.origin = self.domain + "."
        self.violations = []
        self.stalls = []
        self.kube_restarts = 0
        self.done = threading.Event()

    def say(self, msg):
        if self.verbose:
            print(f"  [{self.seed}] {msg}", flush=True)

    def violation(self, msg):
        self.violations.append(msg)
        print(f"  [{self.seed}] VIOLATION: {msg}", flush=True)

    def proxy(self, spec=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.proxy_port}/__faults",
                                     data=json.dumps(spec or {}).encode() if spec else None,
                                     method="PUT" if spec else "GET")
        return json.load(urllib.request.urlopen(req, timeout=10))

    def get(self):
        """The resource, or None once the API server says it is gone (not while the API server
        is away)."""
        for _ in range(120):
            p = kubectl("get", "-n", self.ns, "hzm/m", "-o", "json", check=False)
            if p.returncode == 0:
                return json.loads(p.stdout)
            if "NotFound" in p.stderr or "not found" in p.stderr:
                return None
            time.sleep(0.5)
        raise RuntimeError(f"kubectl get hzm/m: {p.stderr.strip()}")

    @staticmethod
    def condition(obj, t):
        for c in ((obj or {}).get("status") or {}).get("conditions", []):
            if c["type"] == t:
                return c
        return None

    def watch_status(self):
        """Samples the status: a stall is a violation; so is RecordsSynced=True for the current
        generation with Route 53 not holding what that generation asks (checked at once)."""
        while not self.done.is_set():
            obj = self.get()
            c = self.condition(obj, "Stalled")
            if c and c["status"] == "True" and c["reason"] not in EXPECTED_STALLS:
                key = (c["reason"], c.get("message", "")[:200])
                if key not in self.stalls:
                    self.stalls.append(key)
                    self.violation(f"Stalled=True {c['reason']}: {c.get('message')}")
            self.done.wait(0.5)

    def chaos(self, op):
        """SIGKILLs the operator at random moments and starts it again."""
        while not self.done.is_set():
            if self.done.wait(self.rng.uniform(1.0, 8.0)):
                break
            op.kill()
            self.say("operator killed")
            self.done.wait(self.rng.uniform(0.0, 1.5))
            op.restart()

    def restart_kube(self, delay):
        """Restarts the kube-apiserver once, `delay` seconds into the schedule."""
        if self.done.wait(delay):
            return
        self.say("restarting kube-apiserver")
        p = subprocess.run([os.path.join(ROOT, "scripts", "test-env"), "restart", "kube"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            self.violation(f"scripts/test-env restart kube failed: {p.stderr.strip()[-300:]}")
        self.kube_restarts += 1

    def converged(self, desired, zone_holder):
        """RecordsSynced=True for the current generation and Route 53 holding the records."""
        obj = self.get()
        if not obj:
            return False
        st = obj.get("status") or {}
        c = self.condition(obj, "RecordsSynced")
        if not c or c["status"] != "True" or st.get("observedGeneration") != obj["metadata"]["generation"]:
            return False
        if c.get("observedGeneration") not in (None, obj["metadata"]["generation"]):
            return False
        zone = st.get("hostedZoneId")
        if not zone:
            self.violation("RecordsSynced=True without status.hostedZoneId")
            return False
        held = records_of(zone, self.origin)
        if held != desired.expected():
            return False  # maybe the import has not seen the new zone file yet
        zone_holder["id"] = zone
        zone_holder["status"] = st
        return True

    def wait_converged(self, desired, stage):
        holder = {}
        deadline = time.time() + STAGE_TIMEOUT
        while time.time() < deadline:
            if self.converged(desired, holder):
                return holder
            time.sleep(0.5)
        obj = self.get()
        held = records_of(holder.get("id") or ((obj or {}).get("status") or {}).get("hostedZoneId") or "", self.origin) if ((obj or {}).get("status") or {}).get("hostedZoneId") else {}
        missing = {k: v for k, v in desired.expected().items() if held.get(k) != v}
        extra = {k: v for k, v in held.items() if k not in desired.expected()}
        self.violation(f"{stage}: not converged in {STAGE_TIMEOUT}s; conditions "
                       f"{[(c['type'], c['status'], c['reason']) for c in ((obj or {}).get('status') or {}).get('conditions', [])]}; "
                       f"missing or different {missing}; extra {extra}")
        return None

    def check_synced(self, holder, desired, uid, stage):
        zones = zones_named(self.origin)
        ours = [z for z, ref in zones.items() if ref == f"zoneshift-{uid}"]
        if ours != [holder["id"]]:
            self.violation(f"{stage}: zones of this resource {ours}, status says {holder['id']}")
        st = holder["status"]
        n = len(desired.expected())
        counts = st.get("records") or {}
        if counts.get("desired") != n or counts.get("inSync") != n or counts.get("pending") not in (0, None):
            self.violation(f"{stage}: status.records {counts}, {n} desired and all in Route 53")
        zr = self.condition({"status": st}, "ZoneReady")
        if not zr or zr["status"] != "True":
            self.violation(f"{stage}: ZoneReady is {zr}")

    def run(self, log):
        rates_total = self.rng.uniform(0.1, 0.45)
        weights = [self.rng.random() for _ in KINDS]
        rates = {k: rates_total * w / sum(weights) for k, w in zip(KINDS, weights)}
        policy = self.rng.choice(["Retain", "Delete"])
        desired = Desired(self.rng, self.domain)
        self.say(f"policy {policy}, fault rate {rates_total:.2f}")

        # Someone else's zone of the same name, with a record: never to be touched.
        foreign = r53().create_hosted_zone(Name=self.domain, CallerReference=f"someone-else-{self.seed}-{os.getpid()}")["HostedZone"]["Id"].split("/")[-1]
        r53().change_resource_record_sets(HostedZoneId=foreign, ChangeBatch={"Changes": [{
            "Action": "CREATE", "ResourceRecordSet": {
                "Name": f"keep.{self.origin}", "Type": "TXT", "TTL": 60,
                "ResourceRecords": [{"Value": '"not zoneshift\'s"'}]}}]})
        foreign_before = records_of(foreign, self.origin)

        kubectl("create", "namespace", self.ns)
        self.apply_config_map(desired)
        self.proxy({"seed": self.seed, "rates": rates})
        op = Operator(self.binary, self.ns, f"http://127.0.0.1:{self.proxy_port}", log)
        op.start()
        threads = [threading.Thread(target=self.watch_status, daemon=True),
                   threading.Thread(target=self.chaos, args=(op,), daemon=True)]
        if self.rng.random() < self.kube_restart_rate:
            delay = self.rng.uniform(0.5, 6.0)
            threads.append(threading.Thread(target=self.restart_kube, args=(delay,), daemon=True))
        for t in threads:
            t.start()
        uid = None
        try:
            kubectl("apply", "-n", self.ns, "-f", "-", stdin=json.dumps(self.manifest(desired, policy)))
            uid = json.loads(kubectl("get", "-n", self.ns, "hzm/m", "-o", "json").stdout)["metadata"]["uid"]
            holder = self.wait_converged(desired, "create+import")
            if holder:
                self.check_synced(holder, desired, uid, "create+import")
                desired.change()
                self.apply_config_map(desired)
                kubectl("apply", "-n", self.ns, "-f", "-", stdin=json.dumps(self.manifest(desired, policy)))
                holder = self.wait_converged(desired, "change+resync")
                if holder:
                    self.check_synced(holder, desired, uid, "change+resync")
            kubectl("delete", "-n", self.ns, "hzm/m", "--wait=false")
            deadline = time.time() + STAGE_TIMEOUT
            while time.time() < deadline and self.get() is not None:
                time.sleep(0.5)
            if self.get() is not None:
                obj = self.get()
                self.violation(f"delete: the resource is still there after {STAGE_TIMEOUT}s: {[(c['type'], c['status'], c['reason'], c.get('message')) for c in (obj.get('status') or {}).get('conditions', [])]}")
        finally:
            self.done.set()
            for t in threads:
                t.join(timeout=30)
            op.stop()
        counts = self.proxy()

        # After deletion: Retain keeps the zone and its records, Delete leaves none of ours.
        ours = [z for z, ref in zones_named(self.origin).items() if ref == f"zoneshift-{uid}"]
        if policy == "Retain":
            if len(ours) != 1:
                self.violation(f"Retain: {len(ours)} zones of this resource remain, not 1")
            elif records_of(ours[0], self.origin) != desired.expected():
                self.violation("Retain: the retained zone's records changed at deletion")
        elif ours:
            self.violation(f"Delete: zones of this resource remain: {ours}")
        if foreign not in zones_named(self.origin):
            self.violation("someone else's zone of the same name was deleted")
        elif records_of(foreign, self.origin) != foreign_before:
            self.violation("someone else's zone of the same name was changed")

        # Leave moto as it was.
        for z in ours + [foreign]:
            for (name, kind), (ttl, vals) in records_of(z, self.origin).items():
                r53().change_resource_record_sets(HostedZoneId=z, ChangeBatch={"Changes": [{
                    "Action": "DELETE", "ResourceRecordSet": {
                        "Name": name, "Type": kind, "TTL": ttl,
                        "ResourceRecords": [{"Value": v} for v in vals]}}]})
            r53().delete_hosted_zone(Id=z)
        kubectl("delete", "namespace", self.ns, "--wait=false", check=False)
        return {"seed": self.seed, "policy": policy, "fault_rate": round(rates_total, 3),
                "operator_kills": op.kills, "kube_restarts": self.kube_restarts,
                "requests": counts["requests"], "injected": counts["injected"],
                "emulated": counts.get("emulated", {}),
                "violations": self.violations}

    def apply_config_map(self, desired):
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "zone"},
              "data": {"zone": desired.zone_file()}}
        kubectl("apply", "-n", self.ns, "-f", "-", stdin=json.dumps(cm))

    def manifest(self, desired, policy):
        return {"apiVersion": "zoneshift.io/v1alpha1", "kind": "HostedZoneMigration",
                "metadata": {"name": "m"},
                "spec": {"domain": self.domain,
                         "hostedZone": {"deletionPolicy": policy},
                         "source": {"zoneFile": {"configMapKeyRef": {"name": "zone", "key": "zone"}}},
                         "records": desired.spec_records(),
                         "policy": {"mode": "Sync", "maxDeletePercent": 100}}}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schedules", type=int, default=int(os.environ.get("ZS_FAULT_SCHEDULES", "5")))
    ap.add_argument("--first-seed", type=int, default=int(os.environ.get("ZS_FAULT_FIRST_SEED", "1")))
    ap.add_argument("--seed", type=int, action="append", help="run only these seeds")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "debug", "zoneshift"))
    ap.add_argument("--json", help="write each schedule's result here")
    ap.add_argument("--kube-restart-rate", type=float, default=0.25,
                    help="the share of schedules that restart the kube-apiserver once")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    for var in ("ZS_ROUTE53_ENDPOINT", "KUBECONFIG", "ZS_OPERATOR_KUBECONFIG"):
        if var not in os.environ:
            sys.exit(f"{var} is not set: run eval \"$(scripts/test-env env)\"")
    if not os.access(a.bin, os.X_OK):
        sys.exit(f"no binary at {a.bin}: run cargo build")
    seeds = a.seed or list(range(a.first_seed, a.first_seed + a.schedules))
    # SIGTERM unwinds like Ctrl-C: the operator and the proxy are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    kubectl("apply", "-f", os.path.join(ROOT, "crds", "hostedzonemigration.yaml"))
    kubectl("wait", "--for=condition=Established", "crd/hostedzonemigrations.zoneshift.io", "--timeout=30s")

    proxy = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "faults", "r53proxy.py"),
                              "--upstream", os.environ["ZS_ROUTE53_ENDPOINT"], "--port", "0"],
                             stdout=subprocess.PIPE, text=True)
    port = int(proxy.stdout.readline().split()[1])
    results, totals = [], {}
    started = time.time()
    log_dir = os.path.join(ROOT, ".test-env", "faults")
    os.makedirs(log_dir, exist_ok=True)
    try:
        for seed in seeds:
            t0 = time.time()
            with open(os.path.join(log_dir, f"operator-{seed}.log"), "w") as log:
                r = Schedule(seed, a.bin, port, a.verbose, a.kube_restart_rate).run(log)
            r["seconds"] = round(time.time() - t0, 1)
            results.append(r)
            for k, n in r["injected"].items():
                totals[k] = totals.get(k, 0) + n
            print(f"faults: seed {seed}: {'ok' if not r['violations'] else 'VIOLATIONS'} "
                  f"({r['policy']}, {r['requests']} requests, injected {r['injected']}, "
                  f"{r['operator_kills']} kills, {r['kube_restarts']} kube restarts, {r['seconds']}s)",
                  flush=True)
    finally:
        proxy.terminate()
        proxy.wait()
    bad = [r for r in results if r["violations"]]
    print(f"faults: {len(results)} schedules in {time.time() - started:.0f}s, "
          f"{sum(r['requests'] for r in results)} Route 53 requests, injected by kind "
          f"{dict(sorted(totals.items()))}, {sum(r['operator_kills'] for r in results)} operator kills, "
          f"{sum(r['kube_restarts'] for r in results)} kube-apiserver restarts; "
          f"{len(bad)} schedules with violations{': seeds ' + ', '.join(str(r['seed']) for r in bad) if bad else ''}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"schedules": results, "injected": totals}, f, indent=1)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
