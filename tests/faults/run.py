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
A share of the schedules (--cutover-rate, picked by the seed) go through the cutover instead:
their migration is of example.net in the DNS world of scripts/dns-world (--dns-world), imported
by AXFR from the world's old provider with spec.records overriding some of it, changed at the
old provider and in spec.records, then approved once only the approval is missing; the
"registrar" switches the parent when the phase is CuttingOver, and the migration must reach
Completed with Route 53, the old provider's apex NS set and the status's timeline as they
should be (CutoverSchedule); then it is deleted as above. The world's example.net is restored
after each of them, and the pin file that has the world serve this moto's zone removed.
All along the proxy injects the seed's faults (delays, resets, lost answers, Throttling,
PriorRequestNotComplete, InvalidChangeBatch for a record deleted meanwhile, 503, 500), the
operator is killed with SIGKILL at random moments and started again, and in some schedules
the kube-apiserver is restarted (scripts/test-env restart kube). In cutover schedules (a share
of them, --dns-fault-rate) the DNS world fails too: its old provider (before the approval: after
it, an old provider that stops answering is a real failure of the soak, SourceUnhealthy) or its
parent's server is frozen (SIGSTOP) for 1 to 4 seconds at random moments, so imports, probes and
delegation polls time out. The status is sampled every
half second: Stalled=True is a violation but for the reasons that need a person at that stage
(EXPECTED_STALLS, CUTOVER_EXPECTED_STALLS, DELETION_AFTER_SWITCH_STALLS). At the end of each stage Route 53, read directly from moto and never
through the proxy, must hold exactly the desired records in exactly one zone of this resource,
with the status's zone id and record counts saying so.

Usage: run.py [--schedules N] [--first-seed S] [--seed S] [--bin PATH] [--json FILE]
              [--kube-restart-rate R] [--cutover-rate R] [--dns-fault-rate R] [--dns-world PATH]
N defaults to $ZS_FAULT_SCHEDULES or 5. Needs: eval "$(scripts/test-env env)" and a built
binary (cargo build); with a cutover rate above 0, a DNS world that serves example.net
(ZS_WORLD_DOMAINS="example.com example.net" scripts/dns-world up), which run.py asks itself. Exits 1 if any schedule found a violation; prints the faults injected by
kind, as the proxy counted them.
"""
import argparse
import datetime
import json
import os
import random
import re
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
# A cutover schedule's resource names the old provider and everything the gate needs is there
# (its NS TTL is already at loweredNameserverTtl, no DS record, nothing to acknowledge, the
# TSIG key allows the transfer and the update of the apex NS set): no stall is expected from
# creation to completion. Not LoweringTtl, OldProviderNsUnchanged (Update mode does it),
# OldProviderNsUpdateFailed, Mismatch, SourceUnhealthy, DelegationChanged or
# PartialDelegation: each would mean zoneshift got something wrong.
CUTOVER_EXPECTED_STALLS = set()
# Deleting with deletionPolicy Delete after the switch: the domain is delegated to the zone, so
# emptying it would take the domain off the Internet, and zoneshift refuses until a person
# moves the delegation away (here the schedule does, after checking nothing was deleted) and
# the delegation's TTLs have passed (rule 9 of docs/migration-runbook.md). DeletionBlocked is
# the one stall allowed then, and only then.
DELETION_AFTER_SWITCH_STALLS = {"DeletionBlocked"}
# The DNS world's names (scripts/dns-world): the old provider's two servers, which the parent
# delegates a world domain to, and Route 53's four, which moto hands every zone.
OLD_NAMESERVERS = ["ns1.old-provider.net", "ns2.old-provider.net"]
R53_NAMESERVERS = ["ns-2048.awsdns-64.com", "ns-2049.awsdns-65.net", "ns-2050.awsdns-66.org",
                   "ns-2051.awsdns-67.co.uk"]
CUTOVER_DOMAIN = "example.net"
# The Route 53 apex NS TTL zoneshift sets at completion: small, so that deletion with Delete
# after the delegation moved away waits seconds (the parent's NS TTL plus this one).
FINAL_NS_TTL = 15
CUTOVER_TIMEOUT = 240
# Phases that follow the switch request: none may come before the approval.
SWITCH_PHASES = {"CuttingOver", "Propagating", "Completed"}


def takes_cutover(seed, rate):
    """Whether a seed's schedule goes through the cutover: seed times the golden ratio, modulo
    1, below the rate. Any run of consecutive seeds gets the rate's share, evenly spread (seeds
    1-5 at 0.2: seed 5 alone; at 0.5: seeds 2, 4, 5)."""
    return (seed * 0.6180339887498949) % 1.0 < rate


def normalized(names):
    return sorted(n.lower().rstrip(".") for n in names)


def instant(text):
    """An RFC 3339 time of the status, as seconds since the epoch."""
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


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


def apex_ns_ttl(zone_id, origin):
    """The TTL of a zone's apex NS set in moto."""
    out = r53().list_resource_record_sets(HostedZoneId=zone_id, StartRecordName=origin,
                                          StartRecordType="NS", MaxItems="1")
    for rr in out["ResourceRecordSets"]:
        if rr["Name"] == origin and rr["Type"] == "NS":
            return rr.get("TTL")
    return None


class DnsWorld:
    """One domain of the DNS world (scripts/dns-world, one per machine): its old provider, its
    parent's delegation, and the pin file that has the world's Route 53 nameservers serve a
    zone of this test-env's moto for it (scripts/dns-world.py, chosen_zones)."""

    def __init__(self, script, domain):
        self.script, self.domain = os.path.abspath(script), domain
        # Held by the schedule's own reads and changes of the world and by a freeze: the
        # schedule never reads a frozen server, nor changes the delegation while one is frozen.
        self.lock = threading.RLock()
        self.pin = os.path.join(os.path.dirname(os.path.dirname(self.script)), ".test-env",
                                "dns-world", f"route53-zone-{domain}")
        env = {}
        for line in self.run("env").splitlines():
            k, _, v = line.removeprefix("export ").partition("=")
            env[k] = v
        self.resolver = env["ZS_RESOLVER"]
        self.old_provider = env["ZS_WORLD_OLD_PROVIDER"]
        self.parent = env["ZS_WORLD_PARENT"]
        self.key_file = env["ZS_WORLD_TSIG_KEY_FILE"]
        self.parent_ns_ttl = int(env["ZS_WORLD_PARENT_NS_TTL"])
        self.child_ns_ttl = int(env["ZS_WORLD_CHILD_NS_TTL"])
        self.state = os.path.dirname(self.pin)

    def freeze(self, server, seconds):
        """Freezes one of the world's servers (SIGSTOP), then lets it go on (SIGCONT): what
        asks it meanwhile times out, as when a provider's server hangs. `server` is the
        world's process name (bind-old, the old provider; knot-tld, the parent's server)."""
        with self.lock:
            pid = int(open(os.path.join(self.state, f"{server}.pid")).read().strip())
            cmd = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")[0]
            if not cmd.endswith((b"named", b"knotd")):
                raise RuntimeError(f"pid {pid} of {server} is {cmd!r}, not the world's server")
            os.kill(pid, signal.SIGSTOP)
            try:
                time.sleep(seconds)
            finally:
                os.kill(pid, signal.SIGCONT)

    def run(self, *args):
        with self.lock:
            return self._run(*args)

    def _run(self, *args):
        p = subprocess.run([self.script, *args], capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"dns-world {' '.join(args)}: {p.stderr.strip()[-300:]}")
        return p.stdout

    def dig(self, server, *args):
        with self.lock:
            return self._dig(server, *args)

    def _dig(self, server, *args):
        host, port = server.rsplit(":", 1)
        p = subprocess.run(["dig", "-p", port, f"@{host}", "+tcp", "+time=2", "+tries=2", *args],
                           capture_output=True, text=True, timeout=30)
        if p.returncode != 0:
            raise RuntimeError(f"dig @{server} {' '.join(args)}: {p.stdout.strip()[-300:]}")
        return p.stdout

    def check_served(self):
        """Fails unless the world's old provider serves the domain."""
        out = self.dig(self.old_provider, "+norec", self.domain, "SOA")
        if "status: NOERROR" not in out or " aa" not in out.split("flags:", 1)[-1].split(";", 1)[0]:
            sys.exit(f"the DNS world's old provider does not serve {self.domain}: start the world "
                     f"with ZS_WORLD_DOMAINS=\"example.com {self.domain}\" scripts/dns-world up")

    def axfr(self):
        """(name, type) -> (ttl, sorted values) of the old provider's zone, as records_of()
        reads a zone: apex SOA and NS left out."""
        origin, out = self.domain + ".", {}
        text = self.dig(self.old_provider, "-k", self.key_file, "+noall", "+answer", self.domain, "AXFR")
        for line in text.splitlines():
            f = line.split(None, 4)
            if len(f) < 5 or f[3] in ("SOA", "TSIG") or (f[0] == origin and f[3] == "NS"):
                continue
            ttl, values = out.get((f[0], f[3]), (int(f[1]), []))
            out[(f[0], f[3])] = (min(ttl, int(f[1])), sorted(values + [f[4].strip()]))
        if not out:
            raise RuntimeError(f"the AXFR of {self.domain} from {self.old_provider} gave no records")
        return out

    def old_apex_ns(self):
        out = self.dig(self.old_provider, "+norec", "+short", self.domain, "NS")
        return normalized(out.split())

    def set_delegation(self, nameservers):
        self.run("set-delegation", self.domain, *nameservers)

    def pin_zone(self, endpoint, zone_id):
        """The world's Route 53 nameservers serve this zone of this moto (within a second)."""
        tmp = os.path.join(os.path.dirname(self.pin), f".pin-{os.getpid()}")
        with open(tmp, "w") as f:
            f.write(f"{endpoint} {zone_id}\n")
        os.replace(tmp, self.pin)

    def unpin(self):
        try:
            os.remove(self.pin)
        except FileNotFoundError:
            pass

    def restore(self):
        """The domain as the world's `up` made it: delegated to the old provider, whose records
        and apex NS set are back, Route 53's nameservers not serving it from this moto."""
        self.unpin()
        self.set_delegation(OLD_NAMESERVERS)
        self.run("restore-old-provider", self.domain)
        self.run("flush-cache", self.domain)


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


class WorldDesired:
    """The records a cutover schedule asks for: what the world's old provider serves, read by
    AXFR independently of zoneshift, with spec.records laid over some of it. An override keeps
    the old provider's values and changes the TTL: verification compares values, so a value the
    old provider does not serve would hold the cutover on a Mismatch until a person acts."""

    def __init__(self, rng, world):
        self.rng, self.world = rng, world
        self.origin = world.domain + "."
        self.imported = world.axfr()
        self.spec = {}  # (absolute name, type) -> (ttl, values)
        self.override()

    def override(self):
        free = sorted(k for k in self.imported
                      if k not in self.spec and k[1] in ("A", "AAAA", "MX", "CNAME"))
        key = self.rng.choice(free)
        ttl, vals = self.imported[key]
        self.spec[key] = (self.rng.choice([30, 60, 120, 300]), vals)

    def change(self):
        """A change at the old provider (record sets added, as `dns-world add-records` does)
        and in spec.records (one more override)."""
        self.world.run("add-records", self.world.domain, str(self.rng.randint(1, 3)))
        self.imported = self.world.axfr()
        self.override()

    def spec_records(self):
        def relative(name):
            return "@" if name == self.origin else name[: -len(self.origin) - 1]
        return [{"name": relative(n), "type": t, "ttl": ttl, "values": vals}
                for (n, t), (ttl, vals) in sorted(self.spec.items())]

    def expected(self):
        return {**self.imported, **self.spec}


class Operator:
    """The zoneshift binary, watched namespace only, pointed at the proxy; killable."""

    def __init__(self, binary, ns, endpoint, log, extra=()):
        self.binary, self.ns, self.endpoint, self.log = binary, ns, endpoint, log
        self.extra = list(extra)
        self.proc = None
        self.kills = 0
        self.lock = threading.Lock()

    def start(self):
        env = dict(os.environ, KUBECONFIG=os.environ["ZS_OPERATOR_KUBECONFIG"])
        self.proc = subprocess.Popen(
            [self.binary, "run", "--namespace", self.ns, "--route53-endpoint", self.endpoint,
             "--route53-rps", "50", "--resync-interval", "3s", "--change-poll-interval", "1s",
             "--import-interval", "2s", "--dns-timeout", "1s", "--log-format", "text",
             "--admin-addr", f"127.0.0.1:{free_port()}", *self.extra],
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
    def __init__(self, seed, binary, proxy_port, verbose, kube_restart_rate, world=None,
                 dns_fault_rate=0.0):
        self.seed = seed
        self.kube_restart_rate = kube_restart_rate
        # The DNS world's faults draw from a generator of their own: the seed's other draws
        # (Route 53 faults, kills, changes) stay what they were without them.
        self.dns_rng = random.Random(f"dns-{seed}")
        self.dns_faults = world is not None and self.dns_rng.random() < dns_fault_rate
        self.freezes = {}
        self.approved = False
        self.rng = random.Random(seed)
        self.binary, self.proxy_port, self.verbose = binary, proxy_port, verbose
        self.world = world  # a DnsWorld: this schedule goes through the cutover
        self.ns = f"zs-fault-{seed}-{os.getpid()}"
        self.domain = world.domain if world else f"f{seed}-{os.getpid()}.example.com"
        self.origin = self.domain + "."
        self.allowed_stalls = set(CUTOVER_EXPECTED_STALLS if world else EXPECTED_STALLS)
        self.violations = []
        self.stalls = []
        self.seen_stalls = set()
        self.kube_restarts = 0
        self.switched = False
        self.completed = False
        self.notes = []
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

    @staticmethod
    def conditions(obj):
        return [(c["type"], c["status"], c["reason"])
                for c in ((obj or {}).get("status") or {}).get("conditions", [])]

    def watch_status(self):
        """Samples the status: a stall is a violation but for the reasons allowed at this stage
        (self.allowed_stalls)."""
        while not self.done.is_set():
            obj = self.get()
            c = self.condition(obj, "Stalled")
            if c and c["status"] == "True":
                self.seen_stalls.add(c["reason"])
                if c["reason"] not in self.allowed_stalls:
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

    def dns_chaos(self):
        """Freezes the world's old provider (until the approval) or its parent's server for 1
        to 4 s, every 2 to 10 s."""
        while not self.done.wait(self.dns_rng.uniform(2.0, 10.0)):
            with self.world.lock:
                servers = ["knot-tld"] if self.approved else ["bind-old", "knot-tld"]
                server = self.dns_rng.choice(servers)
                secs = self.dns_rng.uniform(1.0, 4.0)
                self.say(f"freezing {server} for {secs:.1f}s")
                try:
                    self.world.freeze(server, secs)
                except (OSError, ValueError, RuntimeError) as e:
                    self.violation(f"could not freeze {server}: {e}")
                    return
                self.freezes[server] = self.freezes.get(server, 0) + 1

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
                       f"{self.conditions(obj)}; "
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
        if self.world:
            self.world.restore()  # whatever an earlier run may have left
            desired = WorldDesired(self.rng, self.world)
        else:
            desired = Desired(self.rng, self.domain)
        self.say(f"policy {policy}, fault rate {rates_total:.2f}" + (", cutover" if self.world else "")
                 + (", DNS faults" if self.dns_faults else ""))

        # Someone else's zone of the same name, with a record: never to be touched.
        foreign = r53().create_hosted_zone(Name=self.domain, CallerReference=f"someone-else-{self.seed}-{os.getpid()}")["HostedZone"]["Id"].split("/")[-1]
        r53().change_resource_record_sets(HostedZoneId=foreign, ChangeBatch={"Changes": [{
            "Action": "CREATE", "ResourceRecordSet": {
                "Name": f"keep.{self.origin}", "Type": "TXT", "TTL": 60,
                "ResourceRecords": [{"Value": '"not zoneshift\'s"'}]}}]})
        foreign_before = records_of(foreign, self.origin)

        kubectl("create", "namespace", self.ns)
        if self.world:
            self.apply_tsig_secret()
        else:
            self.apply_config_map(desired)
        self.proxy({"seed": self.seed, "rates": rates})
        extra = []
        if self.world:
            extra = ["--resolver", self.world.resolver, "--delegation-poll-interval", "1s",
                     "--source-probe-interval", "1s"]
        op = Operator(self.binary, self.ns, f"http://127.0.0.1:{self.proxy_port}", log, extra)
        op.start()
        threads = [threading.Thread(target=self.watch_status, daemon=True),
                   threading.Thread(target=self.chaos, args=(op,), daemon=True)]
        if self.rng.random() < self.kube_restart_rate:
            # Within the sync for a zone-file schedule; for a cutover schedule anywhere from the
            # sync to the soak and completion (they come about 35 s in).
            delay = self.rng.uniform(0.5, 45.0 if self.world else 6.0)
            threads.append(threading.Thread(target=self.restart_kube, args=(delay,), daemon=True))
        if self.dns_faults:
            threads.append(threading.Thread(target=self.dns_chaos, daemon=True))
        for t in threads:
            t.start()
        uid = None
        try:
            kubectl("apply", "-n", self.ns, "-f", "-", stdin=json.dumps(self.manifest(desired, policy)))
            uid = json.loads(kubectl("get", "-n", self.ns, "hzm/m", "-o", "json").stdout)["metadata"]["uid"]
            holder = self.wait_converged(desired, "create+import")
            if holder:
                self.check_synced(holder, desired, uid, "create+import")
                if self.world:
                    # Route 53's nameservers in the world serve this zone from now on.
                    self.world.pin_zone(os.environ["ZS_ROUTE53_ENDPOINT"], holder["id"])
                desired.change()
                if not self.world:
                    self.apply_config_map(desired)
                kubectl("apply", "-n", self.ns, "-f", "-", stdin=json.dumps(self.manifest(desired, policy)))
                holder = self.wait_converged(desired, "change+resync")
                if holder:
                    self.check_synced(holder, desired, uid, "change+resync")
                    if self.world:
                        self.cutover(desired, uid, holder["id"])
            self.delete(policy, desired)
        finally:
            self.done.set()
            for t in threads:
                t.join(timeout=30)
            op.stop()
            if self.world:
                self.world.restore()
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
                "cutover": bool(self.world), "completed": self.completed,
                "operator_kills": op.kills, "kube_restarts": self.kube_restarts,
                "requests": counts["requests"], "injected": counts["injected"],
                "emulated": counts.get("emulated", {}),
                "dns_freezes": self.freezes,
                "stalls_seen": sorted(self.seen_stalls), "notes": self.notes,
                "violations": self.violations}

    def only_approval_missing(self, obj):
        """ShadowVerified=True, CutoverReady=False AwaitingApproval, and every other check of
        the gate passing, for the current generation."""
        st = (obj or {}).get("status") or {}
        if st.get("observedGeneration") != (obj or {}).get("metadata", {}).get("generation"):
            return False
        sv, cr = self.condition(obj, "ShadowVerified"), self.condition(obj, "CutoverReady")
        if not sv or sv["status"] != "True" or not cr or cr["reason"] != "AwaitingApproval":
            return False
        gate = (st.get("cutover") or {}).get("gate") or []
        return bool(gate) and all(g["state"] == "Pass" for g in gate if g["name"] != "Approved")

    def cutover(self, desired, uid, zone):
        """Approves once only the approval is missing, switches the parent (the registrar) when
        the phase is CuttingOver, and waits for Completed; then checks what completion says."""
        approved_at = switch_wall = None
        deadline = time.time() + CUTOVER_TIMEOUT
        obj = None
        while time.time() < deadline:
            obj = self.get()
            st = (obj or {}).get("status") or {}
            phase = st.get("phase")
            if phase in SWITCH_PHASES and approved_at is None:
                self.violation(f"cutover: phase {phase} before the approval")
                return
            if approved_at is None and self.only_approval_missing(obj):
                ttl = apex_ns_ttl(zone, self.origin)
                lowered = self.world.child_ns_ttl
                if ttl != lowered:
                    self.violation(f"cutover: the gate passes Route53NsTtlLowered with Route 53's apex NS TTL at {ttl}, not {lowered}")
                self.say("only the approval is missing: approving")
                with self.world.lock:  # no freeze of the old provider from here on
                    self.approved = True
                    approved_at = time.time()  # before the patch: nothing may be requested earlier
                    kubectl("patch", "-n", self.ns, "hzm/m", "--type=merge",
                            "-p", json.dumps({"spec": {"cutover": {"approved": True}}}))
            if phase == "CuttingOver" and switch_wall is None:
                self.say("CuttingOver: the registrar switches the parent to Route 53")
                switch_wall = time.time()
                self.world.set_delegation(R53_NAMESERVERS)
                self.switched = True
            if phase == "Completed":
                if switch_wall is None:
                    self.violation("cutover: Completed without the parent ever switched")
                    return
                self.completed = True
                self.say("Completed")
                self.check_completed(obj, desired, uid, approved_at, switch_wall, time.time())
                return
            time.sleep(0.5)
        cut = ((obj or {}).get("status") or {}).get("cutover") or {}
        self.violation(f"cutover: not Completed in {CUTOVER_TIMEOUT}s (approved: {approved_at is not None}, "
                       f"switched: {switch_wall is not None}); phase {((obj or {}).get('status') or {}).get('phase')}; "
                       f"conditions {self.conditions(obj)}; gate "
                       f"{[(g['name'], g['state'], g.get('reason')) for g in cut.get('gate') or [] if g['state'] != 'Pass']}")

    def check_completed(self, obj, desired, uid, approved_at, switch_wall, seen_wall):
        """Completion as it must be: the records, the apex NS TTL, the old provider's apex NS
        set, and a timeline that matches what happened."""
        st = obj["status"]
        zone = st.get("hostedZoneId")
        holder = self.wait_converged(desired, "completion")
        if holder:
            self.check_synced(holder, desired, uid, "completion")
        # Completed raises the apex NS TTL (the same pass asks for it; a fault may defer it to
        # the next pass): it must be there within a few resyncs.
        ttl, waited = apex_ns_ttl(zone, self.origin), 0.0
        while ttl != FINAL_NS_TTL and waited < 15:
            time.sleep(0.5)
            waited += 0.5
            ttl = apex_ns_ttl(zone, self.origin)
        if ttl != FINAL_NS_TTL:
            self.violation(f"completion: Route 53's apex NS TTL is {ttl} 15 s after Completed, not finalNameserverTtl {FINAL_NS_TTL}")
        elif waited:
            self.notes.append(f"apex NS TTL final {waited:.1f} s after Completed was seen")
        r53_set = normalized(st.get("nameservers") or [])
        if r53_set != sorted(R53_NAMESERVERS):
            self.violation(f"completion: status.nameservers {r53_set}, the zone's are {R53_NAMESERVERS}")
        old = self.world.old_apex_ns()
        if old != r53_set:
            self.violation(f"completion: the old provider's apex NS set is {old}, not Route 53's {r53_set} (oldProviderNameservers: Update)")
        self.check_timeline(st, approved_at, switch_wall, seen_wall)
        for t, want in (("Propagated", "Released"), ("Delegated", "Switched")):
            c = self.condition(obj, t)
            if not c or c["status"] != "True" or c["reason"] != want:
                self.violation(f"completion: {t} is {c and (c['status'], c['reason'])}, not True {want}")

    def check_timeline(self, st, approved_at, switch_wall, seen_wall):
        cut = st.get("cutover") or {}
        names = ["requestedAt", "switchedAt", "sourceNsSwitchedAt", "oldProviderReleasableAt", "completedAt"]
        missing = [n for n in names if not cut.get(n)]
        if missing:
            self.violation(f"completion: status.cutover lacks {missing}: {cut}")
            return
        req, sw, nsw, rel, done = (instant(cut[n]) for n in names)
        old_ttl, parent_ttl = cut.get("oldNsTtl") or 0, cut.get("parentNsTtlBefore") or 0
        soak = max(parent_ttl, old_ttl, 5)  # minimumSoak: 5s
        rules = [
            (req >= int(approved_at), f"requestedAt {cut['requestedAt']} is before the approval ({approved_at:.1f})"),
            (sw >= int(switch_wall), f"switchedAt {cut['switchedAt']} is before the parent was switched ({switch_wall:.1f})"),
            (sw <= seen_wall, f"switchedAt {cut['switchedAt']} is after Completed was seen"),
            (sw >= req, f"switchedAt {cut['switchedAt']} is before requestedAt {cut['requestedAt']}"),
            (nsw >= req, f"sourceNsSwitchedAt {cut['sourceNsSwitchedAt']} is before requestedAt {cut['requestedAt']}"),
            (parent_ttl >= self.world.parent_ns_ttl, f"parentNsTtlBefore {parent_ttl}, the parent serves {self.world.parent_ns_ttl}"),
            (old_ttl >= self.world.child_ns_ttl, f"oldNsTtl {old_ttl}, the old provider served {self.world.child_ns_ttl}"),
            (rel >= sw + soak, f"oldProviderReleasableAt {cut['oldProviderReleasableAt']} is less than {soak} s after switchedAt {cut['switchedAt']}"),
            (rel >= nsw + old_ttl, f"oldProviderReleasableAt {cut['oldProviderReleasableAt']} is less than oldNsTtl {old_ttl} s after sourceNsSwitchedAt {cut['sourceNsSwitchedAt']}"),
            (done >= rel, f"completedAt {cut['completedAt']} is before oldProviderReleasableAt {cut['oldProviderReleasableAt']}"),
            (seen_wall >= rel, f"Completed was seen at {seen_wall:.1f}, before oldProviderReleasableAt {cut['oldProviderReleasableAt']}"),
            (normalized(cut.get("previousNameservers") or []) == OLD_NAMESERVERS,
             f"previousNameservers {cut.get('previousNameservers')}, the parent delegated to {OLD_NAMESERVERS}"),
            (not cut.get("sourceFailedAt"), f"sourceFailedAt {cut.get('sourceFailedAt')}: the old provider was never changed but for its apex NS set"),
        ]
        for ok, msg in rules:
            if not ok:
                self.violation(f"completion: {msg}")

    def delete(self, policy, desired):
        """Deletes the resource and waits for it to go. With Delete after the switch, zoneshift
        must keep the zone while the domain is delegated to it; the schedule checks it did, then
        moves the delegation back (as a person would) and the deletion may go on."""
        kubectl("delete", "-n", self.ns, "hzm/m", "--wait=false")
        timeout = STAGE_TIMEOUT
        if self.switched and policy == "Delete":
            self.allowed_stalls |= DELETION_AFTER_SWITCH_STALLS
            zone = (((self.get() or {}).get("status")) or {}).get("hostedZoneId")
            time.sleep(8)  # several passes of the operator (and its restarts)
            if self.get() is None:
                self.violation("delete: the resource went while the domain was delegated to its zone")
            if zone not in zones_named(self.origin) or records_of(zone, self.origin) != desired.expected():
                self.violation("delete: records of the zone the domain is delegated to were deleted")
            events = json.loads(kubectl("get", "events.v1.events.k8s.io", "-n", self.ns, "-o", "json").stdout)
            if not any(e.get("reason") == "DeletionBlocked" for e in events.get("items", [])):
                self.violation("delete: no DeletionBlocked event while the domain was delegated to the zone")
            # The status says a person must act (Stalled=True DeletionBlocked), not only the
            # event; a SIGKILL or an API server restart in these 8 s may delay it by a backoff.
            wait_until = time.time() + 20
            while "DeletionBlocked" not in self.seen_stalls and time.time() < wait_until:
                time.sleep(0.5)
            if "DeletionBlocked" not in self.seen_stalls:
                self.violation("delete: the status never said Stalled=True DeletionBlocked while the domain was delegated to the zone")
            self.world.unpin()  # before the zone can go: the world reads pinned zones every second
            self.world.set_delegation(OLD_NAMESERVERS)
            self.world.run("restore-old-provider", self.world.domain)
            timeout += self.world.parent_ns_ttl + FINAL_NS_TTL
        deadline = time.time() + timeout
        while time.time() < deadline and self.get() is not None:
            time.sleep(0.5)
        obj = self.get()
        if obj is not None:
            self.violation(f"delete: the resource is still there after {timeout}s: {[(c['type'], c['status'], c['reason'], c.get('message')) for c in (obj.get('status') or {}).get('conditions', [])]}")

    def apply_config_map(self, desired):
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "zone"},
              "data": {"zone": desired.zone_file()}}
        kubectl("apply", "-n", self.ns, "-f", "-", stdin=json.dumps(cm))

    def apply_tsig_secret(self):
        """The world's TSIG key as the Secret spec.source.axfr.tsigSecretRef names."""
        text = open(self.world.key_file).read()
        name = re.search(r'key "([^"]+)"', text).group(1)
        algorithm = re.search(r"algorithm ([^;]+);", text).group(1).strip()
        secret = re.search(r'secret "([^"]+)"', text).group(1)
        s = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "old-provider-xfr"},
             "stringData": {"name": name, "algorithm": algorithm, "secret": secret}}
        kubectl("apply", "-n", self.ns, "-f", "-", stdin=json.dumps(s))

    def manifest(self, desired, policy):
        spec = {"domain": self.domain,
                "hostedZone": {"deletionPolicy": policy},
                "source": {"zoneFile": {"configMapKeyRef": {"name": "zone", "key": "zone"}}},
                "records": desired.spec_records(),
                "policy": {"mode": "Sync", "maxDeletePercent": 100}}
        if self.world:
            lowered = self.world.child_ns_ttl
            spec["source"] = {"nameservers": [self.world.old_provider],
                              "axfr": {"tsigSecretRef": {"name": "old-provider-xfr"}}}
            spec["cutover"] = {"mode": "Manual", "oldProviderNameservers": "Update",
                               "approved": False, "loweredNameserverTtl": lowered,
                               "finalNameserverTtl": FINAL_NS_TTL, "minimumSoak": "5s",
                               "previousNameserverTtl": lowered}
        return {"apiVersion": "zoneshift.io/v1alpha1", "kind": "HostedZoneMigration",
                "metadata": {"name": "m"}, "spec": spec}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schedules", type=int, default=int(os.environ.get("ZS_FAULT_SCHEDULES", "5")))
    ap.add_argument("--first-seed", type=int, default=int(os.environ.get("ZS_FAULT_FIRST_SEED", "1")))
    ap.add_argument("--seed", type=int, action="append", help="run only these seeds")
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "debug", "zoneshift"))
    ap.add_argument("--json", help="write each schedule's result here")
    ap.add_argument("--kube-restart-rate", type=float, default=0.25,
                    help="the share of schedules that restart the kube-apiserver once")
    ap.add_argument("--cutover-rate", type=float,
                    default=float(os.environ.get("ZS_FAULT_CUTOVER_RATE", "0")),
                    help="the share of schedules, picked by the seed, that go through the cutover "
                         "and completion (of example.net, in the DNS world)")
    ap.add_argument("--dns-fault-rate", type=float,
                    default=float(os.environ.get("ZS_FAULT_DNS_RATE", "0.5")),
                    help="the share of cutover schedules, picked by the seed, in which the DNS "
                         "world's old provider and parent server freeze at random moments")
    ap.add_argument("--dns-world", default=os.path.join(ROOT, "scripts", "dns-world"),
                    help="the DNS world's script: the checkout whose world is up (one per machine)")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    for var in ("ZS_ROUTE53_ENDPOINT", "KUBECONFIG", "ZS_OPERATOR_KUBECONFIG"):
        if var not in os.environ:
            sys.exit(f"{var} is not set: run eval \"$(scripts/test-env env)\"")
    if not os.access(a.bin, os.X_OK):
        sys.exit(f"no binary at {a.bin}: run cargo build")
    seeds = a.seed or list(range(a.first_seed, a.first_seed + a.schedules))
    world = None
    if any(takes_cutover(seed, a.cutover_rate) for seed in seeds):
        world = DnsWorld(a.dns_world, CUTOVER_DOMAIN)
        world.check_served()
    # SIGTERM unwinds like Ctrl-C: the operator and the proxy are stopped on the way out.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    kubectl("apply", "-f", os.path.join(ROOT, "crds", "hostedzonemigration.yaml"))
    kubectl("wait", "--for=condition=Established", "crd/hostedzonemigrations.zoneshift.io", "--timeout=30s")

    proxy = subprocess.Popen([sys.executable, os.path.join(ROOT, "tests", "faults", "r53proxy.py"),
                              "--upstream", os.environ["ZS_ROUTE53_ENDPOINT"], "--port", "0"],
                             stdout=subprocess.PIPE, text=True)
    port = int(proxy.stdout.readline().split()[1])
    results, totals, freezes = [], {}, {}
    started = time.time()
    log_dir = os.path.join(ROOT, ".test-env", "faults")
    os.makedirs(log_dir, exist_ok=True)
    try:
        for seed in seeds:
            t0 = time.time()
            with open(os.path.join(log_dir, f"operator-{seed}.log"), "w") as log:
                cut = world if takes_cutover(seed, a.cutover_rate) else None
                r = Schedule(seed, a.bin, port, a.verbose, a.kube_restart_rate, cut,
                             a.dns_fault_rate).run(log)
            r["seconds"] = round(time.time() - t0, 1)
            results.append(r)
            for k, n in r["injected"].items():
                totals[k] = totals.get(k, 0) + n
            for k, n in r["dns_freezes"].items():
                freezes[k] = freezes.get(k, 0) + n
            print(f"faults: seed {seed}: {'ok' if not r['violations'] else 'VIOLATIONS'} "
                  f"({r['policy']}{', cutover' if r['cutover'] else ''}, {r['requests']} requests, injected {r['injected']}, "
                  f"{r['operator_kills']} kills, {r['kube_restarts']} kube restarts, "
                  f"{'DNS freezes ' + str(r['dns_freezes']) + ', ' if r['dns_freezes'] else ''}{r['seconds']}s"
                  f"{', stalls seen ' + str(r['stalls_seen']) if r['stalls_seen'] else ''}"
                  f"{', ' + '; '.join(r['notes']) if r['notes'] else ''})",
                  flush=True)
    finally:
        proxy.terminate()
        proxy.wait()
    bad = [r for r in results if r["violations"]]
    print(f"faults: {len(results)} schedules in {time.time() - started:.0f}s "
          f"({sum(r['cutover'] for r in results)} through the cutover, "
          f"{sum(r['completed'] for r in results)} of them Completed), "
          f"{sum(r['requests'] for r in results)} Route 53 requests, injected by kind "
          f"{dict(sorted(totals.items()))}, {sum(r['operator_kills'] for r in results)} operator kills, "
          f"{sum(r['kube_restarts'] for r in results)} kube-apiserver restarts, "
          f"DNS servers frozen {dict(sorted(freezes.items()))} times; "
          f"{len(bad)} schedules with violations{': seeds ' + ', '.join(str(r['seed']) for r in bad) if bad else ''}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"schedules": results, "injected": totals, "dns_freezes": freezes}, f, indent=1)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
