"""Replays the outage zoneshift exists to prevent, in the DNS world of scripts/dns-world.

A client asks the world's resolver (Unbound, $ZS_RESOLVER) for www.example.com A and
example.com SOA every 100 ms, and records for each sample the time, the rcode, the answer and
which provider answered (the SOA's mname: ns1.old-provider.net or ns-2048.awsdns-64.com). Each
flow writes a timeline to .test-env/replay/<flow>.json and prints its counts.

Usage (as root, with .venv/bin/python; the flows start the world themselves):
  replay.py naive        switch the parent's NS to Route 53 and flush the old provider at once
  replay.py zoneshift    the same, driven by zoneshift: the registrar switches after CutoverReady
                         and approval, the old provider is flushed after oldProviderReleasableAt
  replay.py early-flush  zoneshift, but the old provider is flushed as soon as the phase is
                         Propagating: SourceHealthy=False must appear within one probe interval
                         (--restore: restore the old provider when it does, as the runbook says)
  replay.py FLOW naive|zoneshift [--resolver unbound|bind]
                         a rule of the runbook replayed (docs/cutover-replay.md, "The rules,
                         replayed"); FLOW is switch-first (rule 2, the switch before the first
                         look), lowered-first-look (rule 2, the NS TTL lowered before it),
                         rollback-soak (rule 10) or delete-after-switch (rule 9). naive lets go
                         when the rule before did and must fail users; zoneshift lets go when
                         its status says and must fail none. The user's resolver is started for
                         the run: Unbound on 127.53.0.55, or BIND on 127.53.0.54
  replay.py rules-summary  the counts of the rules' flows as a Markdown table
  replay.py svg          draw docs/cutover-replay.svg from the timelines that exist
  replay.py summary      print the counts of every timeline as a Markdown table

The zoneshift flows run target/debug/zoneshift (ZS_BIN to change) against the test-env's
kube-apiserver (as the chart's ServiceAccount, ZS_OPERATOR_KUBECONFIG) and moto, with the
world's resolver (--resolver), short intervals and the admin port on loopback; ZS_REPLAY_OPERATOR_ARGS adds flags. They fail with a message naming the step
when a status step does not come within --timeout. Each flow restores the world when it ends,
and fails if something else changed the world while it ran.
"""
import argparse
import base64
import datetime
import html
import json
import math
import os
import re
import shlex
import socket
import subprocess
import sys
import threading
import time

import boto3
import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsigkeyring
import dns.zone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, ".test-env", "replay")
WORLD_STATE = os.path.join(ROOT, ".test-env", "dns-world")
DOMAIN = "example.com"
NAME = f"www.{DOMAIN}"
EXPECTED = {"192.0.2.80"}
OLD_NS = ["ns1.old-provider.net", "ns2.old-provider.net"]
R53_NS = ["ns-2048.awsdns-64.com", "ns-2049.awsdns-65.net", "ns-2050.awsdns-66.org", "ns-2051.awsdns-67.co.uk"]
INTERVAL = 0.1
FLOWS = ["naive", "zoneshift", "early-flush"]


def log(msg):
    print(f"replay: {time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


class Failed(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# The world and the stand-ins.


def script(*args, check=True):
    return subprocess.run([os.path.join(ROOT, "scripts", args[0]), *args[1:]], check=check, capture_output=True, text=True)


def load_env():
    for s in ("test-env", "dns-world"):
        for line in script(s, "env").stdout.splitlines():
            m = re.fullmatch(r"export (\w+)=(.*)", line)
            if m:
                os.environ[m.group(1)] = m.group(2)


def world(*args):
    r = script("dns-world", *args, check=False)
    if r.returncode != 0:
        raise Failed(f"scripts/dns-world {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout


def hostport(v):
    host, _, port = v.rpartition(":")
    return host, int(port)


def route53():
    return boto3.client("route53", endpoint_url=os.environ["ZS_ROUTE53_ENDPOINT"], region_name=os.environ.get("AWS_REGION", "us-east-1"))


def pin_file():
    return os.path.join(WORLD_STATE, f"route53-zone-{DOMAIN}")


def pin_zone(zone_id):
    with open(pin_file(), "w") as f:
        f.write(zone_id + "\n")


def unpin_zone():
    if os.path.exists(pin_file()):
        os.remove(pin_file())


def reset_world():
    """The world as before any migration: the old provider full, the parent delegating to it."""
    world("up")
    load_env()
    unpin_zone()
    world("restore-old-provider", DOMAIN)
    world("old-provider-ns-ttl", DOMAIN, os.environ["ZS_WORLD_CHILD_NS_TTL"])
    world("set-delegation", DOMAIN, *OLD_NS)
    world("flush-cache")


def ttls():
    return {
        "parent_ns": int(os.environ["ZS_WORLD_PARENT_NS_TTL"]),
        "child_ns": int(os.environ["ZS_WORLD_CHILD_NS_TTL"]),
        "www_a": 2,
        "old_soa_negative": 2,
    }


def old_zone():
    """The old provider's zone, by AXFR with the world's TSIG key."""
    text = open(os.environ["ZS_WORLD_TSIG_KEY_FILE"]).read()
    name = re.search(r'key "([^"]+)"', text).group(1)
    secret = re.search(r'secret "([^"]+)"', text).group(1)
    keyring = dns.tsigkeyring.from_text({name: ("hmac-sha256", secret)})
    host, port = hostport(os.environ["ZS_WORLD_OLD_PROVIDER"])
    return dns.zone.from_xfr(dns.query.xfr(host, DOMAIN, port=port, keyring=keyring, keyname=name))


def delete_zone(zone_id):
    r53 = route53()
    try:
        changes = []
        for page in r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zone_id):
            for rr in page["ResourceRecordSets"]:
                if rr["Type"] in ("SOA", "NS") and rr["Name"].rstrip(".") == DOMAIN:
                    continue
                changes.append({"Action": "DELETE", "ResourceRecordSet": rr})
        if changes:
            r53.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={"Changes": changes})
        r53.delete_hosted_zone(Id=zone_id)
    except r53.exceptions.NoSuchHostedZone:
        pass


def wait_for(what, pred, timeout, every=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(every)
    raise Failed(f"timed out after {timeout:.0f}s waiting for {what}")


def route53_serves(zone_id=None):
    """Route 53's nameservers serve the example zone (www A as at the old provider)."""
    host, port = hostport(os.environ["ZS_WORLD_ROUTE53_NS"])
    try:
        r = dns.query.udp(dns.message.make_query(NAME, "A", use_edns=True), host, port=port, timeout=1)
    except dns.exception.Timeout:
        return False
    got = {rd.to_text() for rrs in r.answer for rd in rrs if rrs.rdtype == dns.rdatatype.A}
    return got == EXPECTED


# ---------------------------------------------------------------------------------------------
# The client.


def ask(qname, rdtype, resolver=None):
    host, port = hostport(resolver or os.environ["ZS_RESOLVER"])
    q = dns.message.make_query(qname, rdtype)  # RD set: a stub asking its resolver
    try:
        r = dns.query.udp(q, host, port=port, timeout=1.0)
    except dns.exception.Timeout:
        return "TIMEOUT", [], None, None
    except OSError:  # the resolver is not there (ICMP port unreachable)
        return "UNREACHABLE", [], None, None
    values, ttl = [], None
    for rrs in r.answer:
        if rrs.rdtype == dns.rdatatype.from_text(rdtype):
            values += [rd.to_text() for rd in rrs]
            ttl = rrs.ttl
    mname = None
    for rrs in r.answer + r.authority:
        if rrs.rdtype == dns.rdatatype.SOA:
            mname = rrs[0].mname.to_text().lower()
            if not values:
                ttl = rrs.ttl  # a negative answer: how long the resolver keeps it
    return dns.rcode.to_text(r.rcode()), values, ttl, mname


def provider_of(mname):
    if not mname:
        return None
    if "old-provider" in mname:
        return "old"
    if "awsdns" in mname:
        return "new"
    return mname


class Prober(threading.Thread):
    """Samples the resolver every INTERVAL seconds until stopped."""

    def __init__(self, resolver=None, ask_ns=False):
        super().__init__(daemon=True)
        self.resolver, self.ask_ns = resolver, ask_ns  # ask_ns: also ask example.com NS each time
        self.samples = []
        self.stopped = threading.Event()

    def run(self):
        start = time.time()
        k = 0
        while not self.stopped.is_set():
            delay = start + k * INTERVAL - time.time()
            if delay > 0:
                time.sleep(delay)
            t = time.time()
            rcode, values, ttl, neg_mname = ask(NAME, "A", self.resolver)
            _, _, _, soa_mname = ask(DOMAIN, "SOA", self.resolver)
            if self.ask_ns:
                ask(DOMAIN, "NS", self.resolver)
            ok = rcode == "NOERROR" and set(values) == EXPECTED
            provider = provider_of(soa_mname if rcode == "NOERROR" else (neg_mname or soa_mname))
            if ok:
                cls = f"ok-{provider}" if provider in ("old", "new") else "ok"
            elif rcode == "NOERROR" and values:
                cls = "wrong"
            else:
                cls = "failed"
            self.samples.append({"t": t, "rcode": rcode, "answer": values, "ttl": ttl, "provider": provider, "class": cls})
            k = max(k + 1, math.ceil((time.time() - start) / INTERVAL))

    def stop(self):
        self.stopped.set()
        self.join()


def parent_delegation():
    out = world("parent-ns", DOMAIN)
    return sorted(l.split()[-1].rstrip(".").lower() for l in out.splitlines() if l.split()[3:4] == ["NS"])


def check_world(want_parent, old_flushed):
    """Nobody else changed the world during the run: the parent and the old provider are as the
    flow left them (the world is one per machine, and its verbs are open to anyone)."""
    got = parent_delegation()
    if got != sorted(n.lower() for n in want_parent):
        raise Failed(f"the parent delegates to {got} at the end of the run, not to {sorted(want_parent)}: "
                     "something else changed the world during the run; run it again")
    host, port = hostport(os.environ["ZS_WORLD_OLD_PROVIDER"])
    r = dns.query.udp(dns.message.make_query(NAME, "A"), host, port=port, timeout=1)
    if (r.rcode() == dns.rcode.NXDOMAIN) != old_flushed:
        raise Failed(f"the old provider answers {dns.rcode.to_text(r.rcode())} for {NAME} at the end of the run: "
                     "something else changed the world during the run; run it again")


def cached_delegation():
    """Unbound's cached NS RRsets for the domain, with the TTL left, as `dump_cache` shows them."""
    try:
        dump = world("dump-cache")
    except Failed:
        return []
    return [l for l in dump.splitlines() if re.match(rf"{re.escape(DOMAIN)}\.\s+\d+\s+IN\s+NS\s", l)]


# ---------------------------------------------------------------------------------------------
# Results.


def counts(samples, zero):
    bad = [s for s in samples if not s["class"].startswith("ok")]
    windows = []
    for s in samples:
        if s["class"].startswith("ok"):
            continue
        t = s["t"] - zero
        if windows and t - windows[-1][1] <= 2 * INTERVAL + 0.05:
            windows[-1][1] = t
        else:
            windows.append([t, t])
    return {
        "samples": len(samples),
        "failed": sum(1 for s in bad if s["class"] == "failed"),
        "wrong": sum(1 for s in bad if s["class"] == "wrong"),
        "ok_old": sum(1 for s in samples if s["class"] == "ok-old"),
        "ok_new": sum(1 for s in samples if s["class"] == "ok-new"),
        "first_bad": round(windows[0][0], 2) if windows else None,
        "last_bad": round(windows[-1][1], 2) if windows else None,
        "bad_seconds": round(sum(e - s + INTERVAL for s, e in windows), 1),
        "windows": [[round(s, 2), round(e, 2)] for s, e in windows],
        "rcodes": sorted({s["rcode"] for s in bad}),
    }


def save(flow, samples, events, zero, extra, name=None):
    os.makedirs(OUT, exist_ok=True)
    doc = {
        "flow": flow,
        "domain": DOMAIN,
        "name": NAME,
        "interval": INTERVAL,
        "zero": "switch",
        "zero_epoch": zero,
        "ttls": ttls(),
        "events": {k: round(v - zero, 3) for k, v in events.items()},
        "counts": counts(samples, zero),
        "samples": [dict(s, t=round(s["t"] - zero, 3)) for s in samples],
        **extra,
    }
    path = os.path.join(OUT, f"{name or flow}.json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
    c = doc["counts"]
    span = f"from +{c['first_bad']} s to +{c['last_bad']} s ({c['bad_seconds']} s)" if c["first_bad"] is not None else ""
    print(f"{flow}: {c['samples']} samples, {c['failed']} failed, {c['wrong']} wrong {span}".rstrip())
    print(f"{flow}: events (s from the switch): " + ", ".join(f"{k} {v:+.2f}" for k, v in doc["events"].items()))
    print(f"{flow}: timeline in {os.path.relpath(path, ROOT)}")
    return doc


# ---------------------------------------------------------------------------------------------
# The naive flow.


def naive(args):
    reset_world()
    t = ttls()
    # Route 53 as a careful copy of the old zone, with the child's NS TTL at its apex.
    zone = old_zone()
    r53 = route53()
    zid = r53.create_hosted_zone(Name=DOMAIN, CallerReference=f"replay-naive-{time.time()}")["HostedZone"]["Id"].split("/")[-1]
    log(f"moto zone {zid} for {DOMAIN}")
    try:
        changes = []
        for name, node in zone.nodes.items():
            fq = name.derelativize(zone.origin).to_text()
            for rds in node.rdatasets:
                apex = name == dns.name.empty
                if apex and rds.rdtype == dns.rdatatype.SOA:
                    continue
                if apex and rds.rdtype == dns.rdatatype.NS:
                    rrs = [{"Value": n + "."} for n in R53_NS]
                    ttl = t["child_ns"]
                else:
                    rrs = [{"Value": rd.to_text(origin=dns.name.root, relativize=False)} for rd in rds]
                    ttl = rds.ttl
                changes.append({"Action": "UPSERT", "ResourceRecordSet": {"Name": fq, "Type": dns.rdatatype.to_text(rds.rdtype), "TTL": ttl, "ResourceRecords": rrs}})
        r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": changes})
        pin_zone(zid)
        wait_for("the Route 53 nameservers to serve the copy", route53_serves, 15)
        world("flush-cache", DOMAIN)

        prober = Prober()
        events = {}
        prober.start()
        events["start"] = time.time()
        time.sleep(args.warm)
        delegation = cached_delegation()
        log("Unbound holds: " + "; ".join(" ".join(l.split()) for l in delegation))
        # The registrar and the old provider act at the same instant.
        zero = time.time()
        events["switch"] = zero
        threads = [
            threading.Thread(target=lambda: (world("set-delegation", DOMAIN, *R53_NS), events.__setitem__("delegated", time.time()))),
            threading.Thread(target=lambda: (world("flush-old-provider", DOMAIN), events.__setitem__("flush", time.time()))),
        ]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        run_for = t["parent_ns"] + t["child_ns"] + args.margin
        log(f"switched and flushed; sampling for {run_for} s more")
        time.sleep(max(0.0, zero + run_for - time.time()))
        prober.stop()
        events["end"] = time.time()
        check_world(R53_NS, old_flushed=True)
        held = [int(l.split()[1]) for l in delegation]
        extra = {"cached_delegation_at_switch": [" ".join(l.split()) for l in delegation], "warm": args.warm}
        if held:
            events["cached_delegation_expires"] = zero + min(held)
        doc = save("naive", prober.samples, events, zero, extra, args.name)
        # The naive flow is the control of the experiment: if it shows no outage, this world
        # does not reproduce what zoneshift prevents, and the zoneshift flow's 0 proves nothing.
        if doc["counts"]["failed"] + doc["counts"]["wrong"] == 0:
            raise Failed("the naive flow saw no failed answer: the world does not reproduce the outage")
    finally:
        world("restore-old-provider", DOMAIN)
        world("set-delegation", DOMAIN, *OLD_NS)
        unpin_zone()
        delete_zone(zid)


# ---------------------------------------------------------------------------------------------
# The zoneshift flows.


def kubectl(*args, stdin=None, check=True):
    r = subprocess.run(["kubectl", *args], input=stdin, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise Failed(f"kubectl {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout


def drop_namespace(ns):
    """Remove a flow's namespace and what is in it, the operator stopped. The test-env runs no
    namespace controller: a deleted namespace stays Terminating with its objects, and an
    operator watching every namespace would go on migrating example.com from there."""
    kubectl("patch", "-n", ns, "hzm", "example-com", "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False)
    kubectl("delete", "-n", ns, "hzm", "example-com", "--wait=false", "--ignore-not-found", check=False)
    kubectl("delete", "-n", ns, "secret", "old-tsig", "--ignore-not-found", check=False)
    kubectl("delete", "-n", ns, "events", "--all", check=False)
    kubectl("delete", "namespace", ns, "--wait=false", check=False)
    obj = kubectl("get", "namespace", ns, "-o", "json", check=False)
    if obj:
        doc = json.loads(obj)
        doc.setdefault("spec", {})["finalizers"] = []
        kubectl("replace", "--raw", f"/api/v1/namespaces/{ns}/finalize", "-f", "-", stdin=json.dumps(doc), check=False)


def epoch(rfc3339):
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def condition(obj, type_):
    for c in obj.get("status", {}).get("conditions", []):
        if c.get("type") == type_:
            return c
    return {}


class Watcher(threading.Thread):
    """Polls the HostedZoneMigration, keeps the latest object and logs every change of phase and
    condition with the time it was seen."""

    def __init__(self, ns, name):
        super().__init__(daemon=True)
        self.ns, self.name = ns, name
        self.obj = {}
        self.seen = []  # [t, "phase X" | "Type=Status Reason"]
        self.stopped = threading.Event()
        self.error = None

    def run(self):
        last = set()
        while not self.stopped.is_set():
            r = subprocess.run(["kubectl", "get", "-n", self.ns, "hzm", self.name, "-o", "json"], capture_output=True, text=True)
            t = time.time()
            if r.returncode == 0:
                self.obj = json.loads(r.stdout)
                st = self.obj.get("status", {})
                now = {f"phase {st.get('phase')}"} | {
                    f"{c.get('type')}={c.get('status')} {c.get('reason')}" for c in st.get("conditions", [])
                }
                for item in sorted(now - last):
                    self.seen.append([t, item])
                    log(f"status: {item}")
                last = now
            else:
                self.error = r.stderr.strip()
            self.stopped.wait(0.25)

    def first(self, item_prefix):
        for t, item in self.seen:
            if item.startswith(item_prefix):
                return t
        return None

    def stop(self):
        self.stopped.set()
        self.join()


def operator_help(binary):
    r = subprocess.run([binary, "run", "--help"], capture_output=True, text=True)
    return r.stdout + r.stderr


def manifest(ns, approved):
    return f"""apiVersion: zoneshift.io/v1alpha1
kind: HostedZoneMigration
metadata: {{name: example-com, namespace: {ns}}}
spec:
  domain: {DOMAIN}
  hostedZone: {{deletionPolicy: Retain}}
  source:
    nameservers: ["{hostport(os.environ['ZS_WORLD_OLD_PROVIDER'])[0]}"]
    axfr: {{tsigSecretRef: {{name: old-tsig}}}}
  cutover:
    mode: Manual
    oldProviderNameservers: Update
    approved: {str(approved).lower()}
    loweredNameserverTtl: 2
    finalNameserverTtl: 10
    minimumSoak: 1s
    previousNameserverTtl: {os.environ["ZS_WORLD_CHILD_NS_TTL"]}
"""


def zoneshift_flow(args, flow):
    binary = os.environ.get("ZS_BIN", os.path.join(ROOT, "target", "debug", "zoneshift"))
    if not os.access(binary, os.X_OK):
        raise Failed(f"no operator binary at {binary}: build it (cargo build) first")
    help_text = operator_help(binary)
    if "--resolver" not in help_text:
        raise Failed(f"{binary} run has no --resolver flag: this flow needs the operator with the cutover phases")
    reset_world()
    t = ttls()
    ns = f"zs-replay-{os.getpid()}"
    key = open(os.environ["ZS_WORLD_TSIG_KEY_FILE"]).read()
    kname = re.search(r'key "([^"]+)"', key).group(1)
    secret = re.search(r'secret "([^"]+)"', key).group(1)
    kubectl("apply", "-f", os.path.join(ROOT, "crds", "hostedzonemigration.yaml"))
    kubectl("wait", "--for=condition=Established", "crd/hostedzonemigrations.zoneshift.io", "--timeout=30s")
    kubectl("create", "namespace", ns)
    kubectl("create", "secret", "generic", "old-tsig", "-n", ns, f"--from-literal=name={kname}",
            "--from-literal=algorithm=hmac-sha256", f"--from-literal=secret={secret}")

    os.makedirs(OUT, exist_ok=True)
    oplog_path = os.path.join(OUT, f"{flow}-operator.log")
    flags = ["--resolver", os.environ["ZS_RESOLVER"], "--namespace", ns, "--log-format", "text",
             "--resync-interval", "2s", "--change-poll-interval", "1s", "--import-interval", "2s"]
    if "--delegation-poll-interval" in help_text:
        flags += ["--delegation-poll-interval", "1s"]
    for probe_flag in ("--source-probe-interval", "--probe-interval"):
        if probe_flag in help_text:
            flags += [probe_flag, f"{args.probe_interval:g}s"]
            break
    if "--admin-addr" in help_text:  # its default listens on every address; loopback only here
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            flags += ["--admin-addr", f"127.0.0.1:{sock.getsockname()[1]}"]
    flags += shlex.split(os.environ.get("ZS_REPLAY_OPERATOR_ARGS", ""))
    prober, watcher, op, zid = Prober(), Watcher(ns, "example-com"), None, None
    events = {}
    try:
        prober.start()
        events["start"] = time.time()
        time.sleep(args.warm)
        # Step 5 of the runbook: lower the NS TTL at the old provider ahead of the switch.
        world("old-provider-ns-ttl", DOMAIN, "2")
        events["source_ns_lowered"] = time.time()
        log(f"starting {binary} run {' '.join(flags)} (log: {os.path.relpath(oplog_path, ROOT)})")
        oplog = open(oplog_path, "w")
        # The operator runs as the chart's ServiceAccount (scripts/test-env env), kubectl as the admin.
        kubeconfig = os.environ.get("ZS_OPERATOR_KUBECONFIG") or os.environ.get("KUBECONFIG", "")
        openv = dict(os.environ, KUBECONFIG=kubeconfig)
        op = subprocess.Popen([binary, "run", *flags], stdout=oplog, stderr=subprocess.STDOUT, env=openv)
        kubectl("apply", "-f", "-", stdin=manifest(ns, False))
        events["applied"] = time.time()
        watcher.start()

        def status():
            if op.poll() is not None:
                raise Failed(f"the operator exited with {op.returncode}; see {oplog_path}")
            return watcher.obj.get("status", {})

        # Serve the operator's zone, not another example.com zone of this moto.
        zid = wait_for("status.hostedZoneId", lambda: status().get("hostedZoneId"), args.timeout)
        zid = zid.split("/")[-1]
        pin_zone(zid)

        def gate_open():
            c = condition(watcher.obj, "CutoverReady")
            status()
            return c.get("status") == "True" or c.get("reason") == "AwaitingApproval"

        try:
            wait_for("CutoverReady=True (or AwaitingApproval)", gate_open, args.timeout)
        except Failed as e:
            c = condition(watcher.obj, "CutoverReady")
            hint = ("the operator sets no CutoverReady condition: these flows need its cutover phases" if not c
                    else f"raise --timeout, or see {os.path.relpath(oplog_path, ROOT)}")
            raise Failed(f"{e}: phase {status().get('phase')}, CutoverReady "
                         f"{c.get('status', 'absent')} {c.get('reason', '')}: {c.get('message', '')} ({hint})")
        events["gate"] = watcher.first("CutoverReady=False AwaitingApproval") or watcher.first("CutoverReady=True") or time.time()
        kubectl("patch", "-n", ns, "hzm", "example-com", "--type=merge", "-p", '{"spec":{"cutover":{"approved":true}}}')
        events["approved"] = time.time()
        wait_for("CutoverReady=True after approval", lambda: condition(watcher.obj, "CutoverReady").get("status") == "True", 30)
        # The registrar (Manual mode): a person sets exactly status.nameservers.
        nameservers = [n.rstrip(".") for n in status().get("nameservers", [])] or R53_NS
        delegation = cached_delegation()
        zero = time.time()
        events["switch"] = zero
        world("set-delegation", DOMAIN, *nameservers)
        events["delegated"] = time.time()
        log(f"registrar switched {DOMAIN} to {' '.join(nameservers)}")

        if flow == "zoneshift":
            rel = wait_for("status.cutover.oldProviderReleasableAt",
                           lambda: (status().get("cutover") or {}).get("oldProviderReleasableAt"), args.timeout)
            events["release"] = epoch(rel)
            log(f"old provider releasable at {rel}")
            time.sleep(max(0.0, events["release"] + 0.5 - time.time()))
            world("flush-old-provider", DOMAIN)
            events["flush"] = time.time()
            time.sleep(t["parent_ns"] + args.margin)
        else:
            wait_for("phase Propagating", lambda: status().get("phase") == "Propagating", args.timeout)
            events["propagating"] = time.time()
            rel = (status().get("cutover") or {}).get("oldProviderReleasableAt")
            if rel:
                events["release"] = epoch(rel)
            world("flush-old-provider", DOMAIN)
            events["flush"] = time.time()
            log("flushed the old provider during Propagating")
            try:
                wait_for("SourceHealthy=False", lambda: condition(watcher.obj, "SourceHealthy").get("status") == "False",
                         args.probe_interval * 3 + 5)
                events["source_unhealthy"] = watcher.first("SourceHealthy=False") or time.time()
            finally:
                if args.restore:
                    # What the runbook says to do when SourceHealthy turns False: restore at once.
                    world("restore-old-provider", DOMAIN)
                    events["restored"] = time.time()
            time.sleep(max(0.0, zero + t["parent_ns"] + t["child_ns"] + args.margin - time.time()))
        prober.stop()
        watcher.stop()
        events["end"] = time.time()
        check_world(nameservers, old_flushed=flow == "zoneshift" or not args.restore)
        held = [int(l.split()[1]) for l in delegation]
        if held:
            events["cached_delegation_expires"] = zero + min(held)
        extra = {"cached_delegation_at_switch": [" ".join(l.split()) for l in delegation],
                 "status_log": [[round(ts - zero, 3), item] for ts, item in watcher.seen],
                 "operator_flags": flags, "probe_interval": args.probe_interval, "warm": args.warm}
        if flow == "early-flush":
            delay = events["source_unhealthy"] - events["flush"]
            extra["source_unhealthy_after_flush"] = round(delay, 2)
            # Status is polled every 0.25 s: allow that on top of one probe interval.
            extra["source_unhealthy_within_probe_interval"] = delay <= args.probe_interval + 0.5
        doc = save(flow, prober.samples, events, zero, extra)
        if flow == "zoneshift" and doc["counts"]["failed"] + doc["counts"]["wrong"] > 0:
            raise Failed(f"{doc['counts']['failed'] + doc['counts']['wrong']} failed or wrong answers in the zoneshift flow (goal 0)")
        if flow == "early-flush":
            print(f"early-flush: SourceHealthy=False {extra['source_unhealthy_after_flush']} s after the flush "
                  f"(probe interval {args.probe_interval} s)")
            if not extra["source_unhealthy_within_probe_interval"]:
                raise Failed("SourceHealthy=False came later than one probe interval after the flush")
    finally:
        if prober.is_alive():
            prober.stop()
        if watcher.is_alive():
            watcher.stop()
        if op is not None and op.poll() is None:
            op.terminate()
            try:
                op.wait(10)
            except subprocess.TimeoutExpired:
                op.kill()
        drop_namespace(ns)
        world("restore-old-provider", DOMAIN)
        world("set-delegation", DOMAIN, *OLD_NS)
        unpin_zone()
        if zid:
            delete_zone(zid)


# ---------------------------------------------------------------------------------------------
# The rules' flows (docs/cutover-replay.md, "The rules, replayed"): each cutover rule of
# docs/migration-runbook.md that a naive timing breaks, replayed twice in the same world with
# the same TTLs: `naive` releases what the old rule released, `zoneshift` waits for the time
# zoneshift's status gives. The naive run is the control: it must show the outage.

RULE_FLOWS = ["switch-first", "lowered-first-look", "rollback-soak", "delete-after-switch"]
BIND_RESOLVER = "127.53.0.54"  # a user's resolver (BIND) for --resolver bind
UNBOUND_RESOLVER = "127.53.0.55"  # a user's resolver (Unbound) of the run's own


def tsig():
    text = open(os.environ["ZS_WORLD_TSIG_KEY_FILE"]).read()
    name = re.search(r'key "([^"]+)"', text).group(1)
    secret = re.search(r'secret "([^"]+)"', text).group(1)
    return dns.tsigkeyring.from_text({name: ("hmac-sha256", secret)}), name


def parent_delegate(nameservers, ttl):
    """The registrar with a TTL of its own: the world's set-delegation always uses
    ZS_WORLD_PARENT_NS_TTL, and a flow needs the old delegation's TTL to differ from the new."""
    import dns.update
    keyring, kname = tsig()
    u = dns.update.UpdateMessage("com.", keyring=keyring, keyname=kname)
    u.delete(f"{DOMAIN}.", "NS")
    for n in nameservers:
        u.add(f"{DOMAIN}.", ttl, "NS", n.rstrip(".") + ".")
    host, port = hostport(os.environ["ZS_WORLD_PARENT"])
    r = dns.query.tcp(u, host, port=port, timeout=5)
    if r.rcode() != dns.rcode.NOERROR:
        raise Failed(f"update of the parent failed: {dns.rcode.to_text(r.rcode())}")


def ns_ttl_at(addr_env, parent):
    """The NS TTL of the domain as a server serves it (the parent's referral or the child's answer)."""
    host, port = hostport(os.environ[addr_env])
    r = dns.query.udp(dns.message.make_query(DOMAIN, "NS"), host, port=port, timeout=1)
    for rrs in (r.authority if parent else r.answer) + r.answer:
        if rrs.rdtype == dns.rdatatype.NS:
            return rrs.ttl
    raise Failed(f"no NS for {DOMAIN} at {os.environ[addr_env]}")


def copy_to_route53(apex_ns_ttl, tag):
    """A hosted zone in moto holding a copy of the old zone (Route 53's NS set at the apex with
    `apex_ns_ttl`), served by the world's Route 53 side. Returns its id."""
    zone = old_zone()
    r53 = route53()
    zid = r53.create_hosted_zone(Name=DOMAIN, CallerReference=f"replay-{tag}-{time.time()}")["HostedZone"]["Id"].split("/")[-1]
    changes = []
    for name, node in zone.nodes.items():
        fq = name.derelativize(zone.origin).to_text()
        for rds in node.rdatasets:
            apex = name == dns.name.empty
            if apex and rds.rdtype == dns.rdatatype.SOA:
                continue
            if apex and rds.rdtype == dns.rdatatype.NS:
                rrs, ttl = [{"Value": n + "."} for n in R53_NS], apex_ns_ttl
            else:
                rrs = [{"Value": rd.to_text(origin=dns.name.root, relativize=False)} for rd in rds]
                ttl = rds.ttl
            changes.append({"Action": "UPSERT", "ResourceRecordSet": {"Name": fq, "Type": dns.rdatatype.to_text(rds.rdtype), "TTL": ttl, "ResourceRecords": rrs}})
    r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": changes})
    pin_zone(zid)
    wait_for("the Route 53 nameservers to serve the copy", route53_serves, 15)
    log(f"moto zone {zid}: a copy of the old zone, served by the Route 53 side")
    return zid


def empty_route53(zid):
    """Delete every record set of the zone but the apex SOA and NS: the Route 53 side keeps
    answering authoritatively, with NXDOMAIN (the harmful way to let a provider go)."""
    r53 = route53()
    changes = []
    for page in r53.get_paginator("list_resource_record_sets").paginate(HostedZoneId=zid):
        for rr in page["ResourceRecordSets"]:
            if rr["Type"] in ("SOA", "NS") and rr["Name"].rstrip(".") == DOMAIN:
                continue
            changes.append({"Action": "DELETE", "ResourceRecordSet": rr})
    if changes:
        r53.change_resource_record_sets(HostedZoneId=zid, ChangeBatch={"Changes": changes})
    wait_for("the Route 53 side to stop serving www", lambda: not route53_serves(), 10, every=0.05)


class UnboundResolver:
    """Unbound as the user's resolver for one run, on UNBOUND_RESOLVER, configured as the
    world's (scripts/dns-world) but with a fresh cache and no other client: the world's Unbound
    is shared (operators under test ask it for NS, and Unbound then holds the child's NS set),
    which would change what a run measures."""

    def __init__(self):
        self.dir = os.path.join(OUT, "unbound-resolver")
        self.conf = os.path.join(self.dir, "unbound.conf")
        self.proc = None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        root = hostport(os.environ["ZS_WORLD_ROOT"])[0]
        with open(os.path.join(self.dir, "root.hints"), "w") as f:
            f.write(f".  3600000 NS a.root-servers.net.\na.root-servers.net. 3600000 A {root}\n")
        with open(self.conf, "w") as f:
            f.write(f"""# Written by scripts/replay.py: a user's recursive resolver (Unbound) for one run.
server:
    interface: {UNBOUND_RESOLVER}
    port: 53
    do-ip6: no
    access-control: 127.0.0.0/8 allow
    do-not-query-localhost: no
    root-hints: "{self.dir}/root.hints"
    module-config: "iterator"
    directory: "{self.dir}"
    chroot: ""
    username: ""
    pidfile: "{self.dir}/unbound.pid"
    use-syslog: no
    logfile: ""
    verbosity: 1
    num-threads: 1

remote-control:
    control-enable: yes
    control-interface: "{self.dir}/unbound.ctl"
    control-use-cert: no
""")
        self.log = open(os.path.join(self.dir, "unbound.log"), "w")
        self.proc = subprocess.Popen(["unbound", "-d", "-c", self.conf], stdout=self.log, stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise Failed(f"the Unbound resolver exited; see {self.dir}/unbound.log")
            rcode, values, _, _ = ask("ns1.old-provider.net", "A", f"{UNBOUND_RESOLVER}:53")
            return rcode == "NOERROR" and values
        wait_for("the Unbound resolver to answer", ready, 20)
        log(f"Unbound resolver on {UNBOUND_RESOLVER} (pid {self.proc.pid})")
        return f"{UNBOUND_RESOLVER}:53"

    def cached_delegation(self):
        r = subprocess.run(["unbound-control", "-c", self.conf, "dump_cache"], capture_output=True, text=True)
        return [l for l in r.stdout.splitlines() if re.match(rf"{re.escape(DOMAIN)}\.\s+\d+\s+IN\s+NS\s", l)]

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class BindResolver:
    """BIND 9 as a user's recursive resolver on BIND_RESOLVER, root hints at the world's root.
    Started fresh (empty cache) for one run; its /32 is added to lo and removed after."""

    def __init__(self):
        self.dir = os.path.join(OUT, "bind-resolver")
        self.proc = None
        self.added = False

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        have = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout
        if f" {BIND_RESOLVER}/32 " not in have:
            subprocess.run(["ip", "addr", "add", f"{BIND_RESOLVER}/32", "dev", "lo"], check=True)
            self.added = True
        root = hostport(os.environ["ZS_WORLD_ROOT"])[0]
        with open(os.path.join(self.dir, "root.hints"), "w") as f:
            f.write(f".  3600000 NS a.root-servers.net.\na.root-servers.net. 3600000 A {root}\n")
        conf = os.path.join(self.dir, "named.conf")
        with open(conf, "w") as f:
            f.write(f"""// Written by scripts/replay.py: a user's recursive resolver (BIND) in the DNS world.
options {{
  directory "{self.dir}";
  pid-file "{self.dir}/named.pid";
  session-keyfile "{self.dir}/session.key";
  listen-on port 53 {{ {BIND_RESOLVER}; }};
  listen-on-v6 {{ none; }};
  recursion yes;
  allow-query {{ 127.0.0.0/8; }};
  allow-recursion {{ 127.0.0.0/8; }};
  dnssec-validation no;
  notify no;
}};
controls {{ }};
zone "." {{ type hint; file "{self.dir}/root.hints"; }};
""")
        self.log = open(os.path.join(self.dir, "named.log"), "w")
        self.proc = subprocess.Popen(["named", "-g", "-u", "root", "-c", conf], stdout=self.log, stderr=subprocess.STDOUT)

        def ready():
            if self.proc.poll() is not None:
                raise Failed(f"the BIND resolver exited; see {self.dir}/named.log")
            try:
                r = dns.query.udp(dns.message.make_query("ns1.old-provider.net", "A"), BIND_RESOLVER, timeout=1)
            except (dns.exception.Timeout, OSError):
                return False
            return any(rrs.rdtype == dns.rdatatype.A for rrs in r.answer)
        wait_for("the BIND resolver to answer", ready, 20)
        log(f"BIND resolver on {BIND_RESOLVER} (pid {self.proc.pid})")
        return f"{BIND_RESOLVER}:53"

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.added:
            subprocess.run(["ip", "addr", "del", f"{BIND_RESOLVER}/32", "dev", "lo"], check=False)


class Operator:
    """target/debug/zoneshift run against the test-env, as zoneshift_flow starts it, in a
    namespace of its own, for one rule flow."""

    def __init__(self, tag, args):
        self.binary = os.environ.get("ZS_BIN", os.path.join(ROOT, "target", "debug", "zoneshift"))
        if not os.access(self.binary, os.X_OK):
            raise Failed(f"no operator binary at {self.binary}: build it (cargo build) first")
        self.ns = f"zs-replay-{os.getpid()}"
        self.oplog_path = os.path.join(OUT, f"{tag}-operator.log")
        self.args = args
        self.op = None
        self.watcher = Watcher(self.ns, "example-com")
        help_text = operator_help(self.binary)
        self.flags = ["--resolver", os.environ["ZS_RESOLVER"], "--namespace", self.ns, "--log-format", "text",
                      "--resync-interval", "2s", "--change-poll-interval", "1s", "--import-interval", "2s",
                      "--delegation-poll-interval", "1s", "--source-probe-interval", "2s"]
        if "--admin-addr" in help_text:
            with socket.socket() as sock:
                sock.bind(("127.0.0.1", 0))
                self.flags += ["--admin-addr", f"127.0.0.1:{sock.getsockname()[1]}"]
        self.flags += shlex.split(os.environ.get("ZS_REPLAY_OPERATOR_ARGS", ""))

    def start(self, spec_cutover, zone_id=None, deletion="Retain"):
        keyring, kname = tsig()
        secret = re.search(r'secret "([^"]+)"', open(os.environ["ZS_WORLD_TSIG_KEY_FILE"]).read()).group(1)
        kubectl("apply", "-f", os.path.join(ROOT, "crds", "hostedzonemigration.yaml"))
        kubectl("wait", "--for=condition=Established", "crd/hostedzonemigrations.zoneshift.io", "--timeout=30s")
        kubectl("create", "namespace", self.ns)
        kubectl("create", "secret", "generic", "old-tsig", "-n", self.ns, f"--from-literal=name={kname}",
                "--from-literal=algorithm=hmac-sha256", f"--from-literal=secret={secret}")
        self.oplog = open(self.oplog_path, "w")
        kubeconfig = os.environ.get("ZS_OPERATOR_KUBECONFIG") or os.environ.get("KUBECONFIG", "")
        self.op = subprocess.Popen([self.binary, "run", *self.flags], stdout=self.oplog, stderr=subprocess.STDOUT,
                                   env=dict(os.environ, KUBECONFIG=kubeconfig))
        hz = f"{{deletionPolicy: {deletion}" + (f", id: {zone_id}}}" if zone_id else "}")
        cut = "\n".join(f"    {k}: {v}" for k, v in spec_cutover.items())
        kubectl("apply", "-f", "-", stdin=f"""apiVersion: zoneshift.io/v1alpha1
kind: HostedZoneMigration
metadata: {{name: example-com, namespace: {self.ns}}}
spec:
  domain: {DOMAIN}
  hostedZone: {hz}
  source:
    nameservers: ["{hostport(os.environ['ZS_WORLD_OLD_PROVIDER'])[0]}"]
    axfr: {{tsigSecretRef: {{name: old-tsig}}}}
  cutover:
    mode: Manual
    oldProviderNameservers: Update
{cut}
""")
        self.watcher.start()
        log(f"operator {self.binary} run {' '.join(self.flags)} (log: {os.path.relpath(self.oplog_path, ROOT)})")

    def status(self):
        if self.op.poll() is not None:
            raise Failed(f"the operator exited with {self.op.returncode}; see {self.oplog_path}")
        return self.watcher.obj.get("status", {})

    def cutover(self, field):
        return (self.status().get("cutover") or {}).get(field)

    def wait(self, what, pred):
        try:
            return wait_for(what, pred, self.args.timeout)
        except Failed as e:
            st = self.watcher.obj.get("status", {})
            conds = "; ".join(f"{c.get('type')}={c.get('status')} {c.get('reason')}" for c in st.get("conditions", []))
            raise Failed(f"{e}: phase {st.get('phase')}, {conds} (see {os.path.relpath(self.oplog_path, ROOT)})")

    def patch(self, body):
        kubectl("patch", "-n", self.ns, "hzm", "example-com", "--type=merge", "-p", json.dumps(body))

    def stop_process(self):
        if self.op is not None and self.op.poll() is None:
            self.op.terminate()
            try:
                self.op.wait(10)
            except subprocess.TimeoutExpired:
                self.op.kill()

    def close(self):
        if self.watcher.is_alive():
            self.watcher.stop()
        self.stop_process()
        if self.op is not None:
            drop_namespace(self.ns)


def sleep_until(t):
    time.sleep(max(0.0, t - time.time()))


def switch_first(run, args):
    """Rule 2: the registrar switched before zoneshift ever saw the old delegation. The old
    delegation's TTL at the parent (`--old-parent-ttl`) is longer than the new one's (the
    world's ZS_WORLD_PARENT_NS_TTL), so a rule that counts only the TTLs seen after the switch
    releases too early. The Route 53 zone exists before the switch (zoneshift adopts it)."""
    t = ttls()
    old_parent = args.old_parent_ttl
    parent_delegate(OLD_NS, old_parent)
    world("flush-cache")
    run.zid = copy_to_route53(t["child_ns"], run.name)
    run.probe(ask_ns=False)
    time.sleep(args.warm)
    run.extra["cached_delegation_at_switch"] = run.cached()
    zero = run.mark("switch")
    world("set-delegation", DOMAIN, *R53_NS)
    run.mark("delegated")
    sleep_until(zero + 1.0)
    run.mark("applied")
    if run.variant == "naive":
        # The old rule: from the switch as first seen, the largest of the old provider's NS
        # TTL seen, the parent's NS TTL seen (after the switch) and minimumSoak (1 s).
        src, par = ns_ttl_at("ZS_WORLD_OLD_PROVIDER", False), ns_ttl_at("ZS_WORLD_PARENT", True)
        run.extra["naive_rule"] = {"source_ns_ttl_seen": src, "parent_ns_ttl_seen": par, "minimum_soak": 1}
        release = run.events["applied"] + max(src, par, 1)
    else:
        op = run.operator()
        op.start({"approved": "false", "loweredNameserverTtl": 2, "finalNameserverTtl": 10, "minimumSoak": "1s",
                  "previousNameserverTtl": max(old_parent, t["child_ns"])}, zone_id=run.zid)
        rel = op.wait("status.cutover.oldProviderReleasableAt", lambda: op.cutover("oldProviderReleasableAt"))
        run.extra["zoneshift_cutover"] = op.status().get("cutover")
        release = epoch(rel)
    run.events["release"] = release
    sleep_until(release)
    world("flush-old-provider", DOMAIN)
    run.mark("flush")
    sleep_until(max(time.time(), zero + old_parent + t["old_soa_negative"]) + args.margin)
    return zero, R53_NS, True


def lowered_first_look(run, args):
    """Rule 2: the old provider's NS TTL (`--old-child-ttl`) was lowered before zoneshift first
    looked, and something asks `example.com NS` through the resolver, which then holds the old
    provider's own NS set for its old TTL. The old rule waited the parent's TTL after the
    switch; zoneshift counts spec.cutover.previousNameserverTtl (the old NS TTL) from the
    lowering it saw, and the parent's TTL plus the lowered one from the switch."""
    t = ttls()
    old_child = args.old_child_ttl
    world("old-provider-ns-ttl", DOMAIN, str(old_child))
    world("flush-cache")
    if run.variant == "naive":
        run.zid = copy_to_route53(2, run.name)
    run.probe(ask_ns=True)
    time.sleep(args.warm)
    world("old-provider-ns-ttl", DOMAIN, "2")
    run.mark("source_ns_lowered")
    if run.variant == "naive":
        run.extra["cached_delegation_at_switch"] = run.cached()
        zero = run.mark("switch")
        world("set-delegation", DOMAIN, *R53_NS)
        run.mark("delegated")
        release = zero + t["parent_ns"]  # the old rule: the parent's TTL, the child's seen lowered
        run.extra["naive_rule"] = {"parent_ns_ttl": t["parent_ns"], "source_ns_ttl_seen": 2}
    else:
        op = run.operator()
        op.start({"approved": "true", "loweredNameserverTtl": 2, "finalNameserverTtl": 10, "minimumSoak": "1s",
                  "previousNameserverTtl": old_child})
        run.mark("applied")
        run.zid = op.wait("status.hostedZoneId", lambda: op.status().get("hostedZoneId")).split("/")[-1]
        pin_zone(run.zid)
        op.wait("CutoverReady=True", lambda: condition(op.watcher.obj, "CutoverReady").get("status") == "True")
        run.events["gate"] = op.watcher.first("CutoverReady=True") or time.time()
        nameservers = [n.rstrip(".") for n in op.status().get("nameservers", [])] or R53_NS
        run.extra["cached_delegation_at_switch"] = run.cached()
        zero = run.mark("switch")
        world("set-delegation", DOMAIN, *nameservers)
        run.mark("delegated")
        rel = op.wait("status.cutover.oldProviderReleasableAt", lambda: op.cutover("oldProviderReleasableAt"))
        release = epoch(rel)
        run.extra["zoneshift_cutover"] = op.status().get("cutover")
    run.events["release"] = release
    sleep_until(release)
    world("flush-old-provider", DOMAIN)
    run.mark("flush")
    sleep_until(max(time.time(), run.events["source_ns_lowered"] + old_child + t["old_soa_negative"]) + args.margin)
    return zero, R53_NS if run.variant == "naive" else nameservers, True


def rollback_soak(run, args):
    """Rule 10: the delegation goes to Route 53 and back. The naive run empties the Route 53
    zone the moment the parent serves the old nameservers again; zoneshift's run empties it at
    status.cutover.route53ReleasableAt. The client does not ask for NS: the resolver keeps the
    parent's delegation (10 s), longer than Route 53's own NS set (2 s) would last. The rollback
    comes just after the resolver fetched the Route 53 delegation. Time 0 is the rollback."""
    t = ttls()
    run.extra["zero"] = "rollback"
    world("flush-cache")
    run.probe(ask_ns=False)
    if run.variant == "naive":
        run.zid = copy_to_route53(2, run.name)
        time.sleep(args.warm)
        run.mark("switch")
        world("set-delegation", DOMAIN, *R53_NS)
    else:
        op = run.operator()
        time.sleep(args.warm)
        world("old-provider-ns-ttl", DOMAIN, "2")
        run.mark("source_ns_lowered")
        op.start({"approved": "true", "loweredNameserverTtl": 2, "finalNameserverTtl": 10, "minimumSoak": "1s",
                  "previousNameserverTtl": t["child_ns"]})
        run.mark("applied")
        run.zid = op.wait("status.hostedZoneId", lambda: op.status().get("hostedZoneId")).split("/")[-1]
        pin_zone(run.zid)
        op.wait("CutoverReady=True", lambda: condition(op.watcher.obj, "CutoverReady").get("status") == "True")
        run.mark("switch")
        world("set-delegation", DOMAIN, *R53_NS)
        op.wait("phase Propagating", lambda: op.status().get("phase") == "Propagating")
    # The old delegation expires in the resolver; the rollback comes just after it fetched
    # Route 53's, so it holds that for (almost) the parent's whole TTL.
    def fresh_route53_delegation():
        held = run.cached()
        return held and all("awsdns" in l for l in held) and min(int(l.split()[1]) for l in held) >= t["parent_ns"] - 1
    if args.resolver == "unbound":
        wait_for("the resolver to fetch the Route 53 delegation", fresh_route53_delegation, 3 * t["parent_ns"], every=0.1)
    else:  # BIND: no cache dump here; every cache holds Route 53's by then
        sleep_until(run.events["switch"] + t["parent_ns"] + t["child_ns"] + 1)
    if run.variant == "zoneshift":
        op.patch({"spec": {"cutover": {"rollback": True}}})
        run.mark("rollback_asked")
    run.extra["cached_delegation_at_rollback"] = run.cached()
    zero = run.mark("rollback")
    world("set-delegation", DOMAIN, *OLD_NS)
    run.mark("delegated")
    if run.variant == "naive":
        release = zero
    else:
        rel = op.wait("status.cutover.route53ReleasableAt", lambda: op.cutover("route53ReleasableAt"))
        run.extra["zoneshift_cutover"] = op.status().get("cutover")
        release = epoch(rel)
    run.events["release"] = release
    sleep_until(release)
    if run.variant == "zoneshift":
        op.stop_process()  # it keeps the records reconciled; emptying the zone is the person's act
    empty_route53(run.zid)
    run.mark("route53_emptied")
    sleep_until(max(time.time(), zero + t["parent_ns"] + 10 + t["old_soa_negative"]) + args.margin)
    return zero, OLD_NS, False


def delete_after_switch(run, args):
    """Rule 9: the resource, with deletionPolicy: Delete, is deleted during the soak. The naive
    run deletes what that policy deletes (the records, then the hosted zone) while the parent
    delegates to Route 53; zoneshift's run must refuse (DeletionBlocked) and keep the records.
    Time 0 is the switch; the deletion comes when the phase is Propagating (naive: +2 s)."""
    t = ttls()
    world("flush-cache")
    run.probe(ask_ns=False)
    if run.variant == "naive":
        run.zid = copy_to_route53(2, run.name)
        time.sleep(args.warm)
        zero = run.mark("switch")
        world("set-delegation", DOMAIN, *R53_NS)
        sleep_until(zero + 2.0)
        run.mark("deleted")
        delete_zone(run.zid)
    else:
        op = run.operator()
        time.sleep(args.warm)
        world("old-provider-ns-ttl", DOMAIN, "2")
        run.mark("source_ns_lowered")
        op.start({"approved": "true", "loweredNameserverTtl": 2, "finalNameserverTtl": 10, "minimumSoak": "1s",
                  "previousNameserverTtl": t["child_ns"]}, deletion="Delete")
        run.mark("applied")
        run.zid = op.wait("status.hostedZoneId", lambda: op.status().get("hostedZoneId")).split("/")[-1]
        pin_zone(run.zid)
        op.wait("CutoverReady=True", lambda: condition(op.watcher.obj, "CutoverReady").get("status") == "True")
        zero = run.mark("switch")
        world("set-delegation", DOMAIN, *R53_NS)
        op.wait("phase Propagating", lambda: op.status().get("phase") == "Propagating")
        run.mark("deleted")
        kubectl("delete", "-n", op.ns, "hzm", "example-com", "--wait=false")

        def blocked():
            out = kubectl("get", "events", "-n", op.ns, "--field-selector", "reason=DeletionBlocked", "-o", "json")
            items = json.loads(out).get("items", [])
            return items[0].get("message") if items else None
        msg = op.wait("a DeletionBlocked event", blocked)
        run.mark("deletion_blocked")
        run.extra["deletion_blocked_message"] = msg
        log(f"DeletionBlocked: {msg}")
    sleep_until(run.events["deleted"] + t["parent_ns"] + t["old_soa_negative"] + args.margin)
    if run.variant == "zoneshift":
        if not route53_serves():
            raise Failed("the Route 53 side stopped serving www after the blocked deletion: records were deleted")
        names = [rr["Name"] for rr in route53().list_resource_record_sets(HostedZoneId=run.zid)["ResourceRecordSets"]]
        run.extra["records_kept_in_moto"] = len(names)
    return zero, R53_NS, False


class RuleRun:
    def __init__(self, flow, args):
        self.flow, self.args, self.variant = flow, args, args.variant
        self.name = f"{flow}-{args.variant}" + ("-bind" if args.resolver == "bind" else "")
        self.events, self.extra = {}, {"variant": args.variant, "resolver": args.resolver, "warm": args.warm}
        self.zid, self.prober, self.op, self.resolver = None, None, None, None
        self.resolver_proc = None

    def mark(self, event):
        self.events[event] = time.time()
        return self.events[event]

    def probe(self, ask_ns):
        self.extra["asks_ns"] = ask_ns
        self.prober = Prober(resolver=self.resolver, ask_ns=ask_ns)
        self.prober.start()
        self.mark("start")

    def cached(self):
        """Unbound's cached NS sets for the domain (none for the BIND resolver: no dump here)."""
        if self.resolver_proc is None or not hasattr(self.resolver_proc, "cached_delegation"):
            return []
        return [" ".join(l.split()) for l in self.resolver_proc.cached_delegation()]

    def operator(self):
        self.op = Operator(self.name, self.args)
        self.extra["operator_flags"] = self.op.flags
        return self.op


def rules_flow(args):
    flow = args.cmd
    load_env()
    reset_world()
    run = RuleRun(flow, args)
    started = time.time()
    run.resolver_proc = BindResolver() if args.resolver == "bind" else UnboundResolver()
    try:
        run.resolver = run.resolver_proc.start()
        body = {"switch-first": switch_first, "lowered-first-look": lowered_first_look, "rollback-soak": rollback_soak,
                "delete-after-switch": delete_after_switch}[flow]
        zero, want_parent, old_flushed = body(run, args)
        run.prober.stop()
        run.mark("end")
        check_world(want_parent, old_flushed=old_flushed)
        if run.op is not None:
            run.extra["status_log"] = [[round(ts - zero, 3), item] for ts, item in run.op.watcher.seen]
        run.extra["runtime_s"] = round(time.time() - started, 1)
        doc = save(run.name, run.prober.samples, run.events, zero, run.extra)
        bad = doc["counts"]["failed"] + doc["counts"]["wrong"]
        rel = f"release {doc['events']['release']:+.2f} s, " if "release" in doc["events"] else ""
        print(f"{run.name}: {rel}ran {run.extra['runtime_s']} s")
        if run.variant == "zoneshift" and bad:
            raise Failed(f"{bad} failed or wrong answers in {run.name} (goal 0)")
        if run.variant == "naive" and not bad:
            raise Failed(f"{run.name} saw no failed answer: the world does not reproduce the outage this rule prevents")
    finally:
        if run.prober is not None and run.prober.is_alive():
            run.prober.stop()
        if run.op is not None:
            run.op.close()
        run.resolver_proc.stop()
        world("restore-old-provider", DOMAIN)
        world("old-provider-ns-ttl", DOMAIN, os.environ["ZS_WORLD_CHILD_NS_TTL"])
        world("set-delegation", DOMAIN, *OLD_NS)
        world("flush-cache")
        unpin_zone()
        if run.zid:
            delete_zone(run.zid)


# ---------------------------------------------------------------------------------------------
# The picture and the table.

COLOURS = {"ok-old": "#4a7fd4", "ok-new": "#2e9e4f", "ok": "#7fbf7f", "failed": "#d62728", "wrong": "#ff9f1c"}
MARKERS = [  # event, label, colour
    ("gate", "gate", "#6a3d9a"),
    ("approved", "approved", "#6a3d9a"),
    ("switch", "switch", "#000000"),
    ("flush", "flush", "#d62728"),
    ("cached_delegation_expires", "old NS expires", "#555555"),
    ("source_unhealthy", "SourceHealthy=False", "#ff7f0e"),
    ("restored", "restored", "#4a7fd4"),
    ("release", "release", "#2e9e4f"),
]


def load(flow):
    path = os.path.join(OUT, f"{flow}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def svg(args):
    docs = {f: load(f) for f in FLOWS}
    ran = [d for d in docs.values() if d]
    if not ran:
        raise Failed("no timeline in .test-env/replay/: run a flow first")
    lo = min(min(s["t"] for s in d["samples"]) for d in ran)
    hi = max(max(s["t"] for s in d["samples"]) for d in ran)
    lo = min(lo, -args.before) if args.before else lo
    lo, hi = math.floor(lo), math.ceil(hi)
    width, left, right, lane_h = 960, 110, 20, 34
    plot_w = width - left - right

    def x(t):
        return left + (t - lo) / (hi - lo) * plot_w

    # Marker labels go under their lane, on the first row where they overlap no other label.
    labels = {}
    for flow, d in docs.items():
        rows = []  # per row, the [x0, x1] spans taken
        placed = []
        for key, label, colour in MARKERS:
            t = (d or {}).get("events", {}).get(key)
            if t is None or not lo <= t <= hi:
                continue
            text = f"{label} {t:+.1f}"
            x0, x1 = x(t) - 2, x(t) + 4 + 6.6 * len(text)
            row = next((i for i, spans in enumerate(rows) if all(x1 < a or x0 > b for a, b in spans)), len(rows))
            if row == len(rows):
                rows.append([])
            rows[row].append((x0, x1))
            placed.append((t, text, colour, row))
        labels[flow] = (placed, max(1, len(rows)))

    top = 120
    ys, y = {}, top
    for flow in FLOWS:
        ys[flow] = y
        y += lane_h + 22 + 14 * labels[flow][1] + 14
    height = y + 10
    t0 = ran[0]["ttls"]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="22" font-size="15" font-weight="bold">Answers of a resolver (Unbound) for {NAME} A during a cutover</text>',
           f'<text x="{left}" y="40">Time in seconds from the switch of the parent\'s NS records; one question every {int(INTERVAL * 1000)} ms.</text>',
           f'<text x="{left}" y="56">TTLs: parent NS {t0["parent_ns"]} s, child NS {t0["child_ns"]} s, www A {t0["www_a"]} s, '
           f'negative answers {t0["old_soa_negative"]} s.</text>']
    lx = left
    for cls, label in [("ok-old", "answer from the old provider"), ("ok-new", "answer from Route 53"),
                       ("failed", "failed (NXDOMAIN, SERVFAIL, timeout)"), ("wrong", "wrong address")]:
        out.append(f'<rect x="{lx}" y="66" width="12" height="12" fill="{COLOURS[cls]}"/>')
        out.append(f'<text x="{lx + 16}" y="76">{label}</text>')
        lx += 36 + 6.2 * len(label)
    # The time axis on top, with light grid lines through every lane.
    ay = top - 14
    step = 5 if hi - lo <= 80 else 10 if hi - lo <= 200 else 30
    for t in range(int(math.ceil(lo / step) * step), hi + 1, step):
        out.append(f'<line x1="{x(t):.1f}" y1="{ay + 4}" x2="{x(t):.1f}" y2="{height - 10}" stroke="#ddd"/>')
        out.append(f'<text x="{x(t):.1f}" y="{ay}" text-anchor="middle">{t:+d} s</text>')
    for flow in FLOWS:
        y = ys[flow]
        d = docs[flow]
        out.append(f'<text x="{left - 8}" y="{y + lane_h / 2 - 2}" text-anchor="end" font-weight="bold">{flow}</text>')
        if d:
            c = d["counts"]
            out.append(f'<text x="{left - 8}" y="{y + lane_h / 2 + 12}" text-anchor="end" font-size="11">'
                       f'{c["failed"] + c["wrong"]} bad of {c["samples"]}</text>')
        out.append(f'<rect x="{left}" y="{y}" width="{plot_w}" height="{lane_h}" fill="#f2f2f2"/>')
        if not d:
            out.append(f'<text x="{left + 10}" y="{y + lane_h / 2 + 4}" fill="#777">not run yet (scripts/replay.py {flow})</text>')
            continue
        # One rectangle per run of samples of the same class, from its first sample to the next run.
        runs = []
        for s in d["samples"]:
            if runs and runs[-1]["class"] == s["class"]:
                runs[-1]["end"] = s["t"] + d["interval"]
                runs[-1]["n"] += 1
            else:
                runs.append({"class": s["class"], "start": s["t"], "end": s["t"] + d["interval"], "n": 1,
                             "what": f'{s["rcode"]} {" ".join(s["answer"])} from {s["provider"]}'})
        for i, r in enumerate(runs):
            end = runs[i + 1]["start"] if i + 1 < len(runs) else r["end"]
            w = max(1.0, x(end) - x(r["start"]))
            out.append(f'<rect x="{x(r["start"]):.1f}" y="{y}" width="{w:.1f}" height="{lane_h}" fill="{COLOURS.get(r["class"], "#999")}">'
                       f'<title>{r["start"]:+.1f} s to {end:+.1f} s: {r["n"]} samples, {html.escape(r["class"])}, '
                       f'first {html.escape(r["what"])}</title></rect>')
        placed, _ = labels[flow]
        for t, text, colour, row in placed:
            mx = x(t)
            out.append(f'<line x1="{mx:.1f}" y1="{y - 3}" x2="{mx:.1f}" y2="{y + lane_h + 8 + 14 * row}" stroke="{colour}" stroke-width="1.5" stroke-dasharray="4 2"/>')
            out.append(f'<text x="{mx + 3:.1f}" y="{y + lane_h + 16 + 14 * row}" fill="{colour}">{text}</text>')
    out.append("</svg>")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"wrote {os.path.relpath(os.path.abspath(args.out), ROOT)}")


def summary(args):
    print("| flow | samples | failed | wrong | failures from / to (s after the switch) | failing for |")
    print("| --- | ---: | ---: | ---: | --- | ---: |")
    for flow in FLOWS:
        d = load(flow)
        if not d:
            print(f"| {flow} | not run | | | | |")
            continue
        c = d["counts"]
        span = f"+{c['first_bad']} / +{c['last_bad']}" if c["first_bad"] is not None else "none"
        print(f"| {flow} | {c['samples']} | {c['failed']} | {c['wrong']} | {span} | {c['bad_seconds']} s |")


def rules_summary(args):
    print("| flow | resolver | variant | released (deleted) at, s | samples | failed | wrong | failures from / to (s) | ran |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: | --- | ---: |")
    for flow in RULE_FLOWS:
        for resolver in ("unbound", "bind"):
            for variant in ("naive", "zoneshift"):
                d = load(f"{flow}-{variant}" + ("-bind" if resolver == "bind" else ""))
                if not d:
                    continue
                c, ev = d["counts"], d["events"]
                rel = next((f"{ev[k]:+.2f}" for k in ("release", "deleted") if k in ev), "")
                span = f"{c['first_bad']:+.2f} / {c['last_bad']:+.2f}" if c["first_bad"] is not None else "none"
                print(f"| {flow} | {resolver} | {variant} | {rel} | {c['samples']} | **{c['failed']}** | {c['wrong']} | {span} "
                      f"| {d.get('runtime_s', '')} s |")


def main(argv):
    p = argparse.ArgumentParser(prog="replay.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    n = sub.add_parser("naive")
    n.add_argument("--warm", type=float, default=2.0, help="seconds of sampling before the switch (default 2)")
    n.add_argument("--margin", type=float, default=5.0, help="seconds sampled after parent + child NS TTL (default 5)")
    n.add_argument("--name", help="write .test-env/replay/NAME.json instead of naive.json (a variant of the TTLs)")
    for flow in ("zoneshift", "early-flush"):
        z = sub.add_parser(flow)
        z.set_defaults(restore=False)
        z.add_argument("--warm", type=float, default=2.0)
        z.add_argument("--margin", type=float, default=5.0)
        z.add_argument("--timeout", type=float, default=180.0, help="seconds to wait for each status step (default 180)")
        z.add_argument("--probe-interval", type=float, default=2.0,
                       help="the operator's --source-probe-interval in seconds (default 2)")
        if flow == "early-flush":
            z.add_argument("--restore", action="store_true",
                           help="restore the old provider as soon as SourceHealthy=False appears, as the runbook says")
    for flow in RULE_FLOWS:
        r = sub.add_parser(flow)
        r.add_argument("variant", choices=["naive", "zoneshift"],
                       help="naive: release when the old rule did (the control, must fail users); zoneshift: at the status' time")
        r.add_argument("--resolver", choices=["unbound", "bind"], default="unbound",
                       help=f"the user's resolver: the world's Unbound, or a BIND started on {BIND_RESOLVER}")
        r.add_argument("--warm", type=float, default=3.0, help="seconds of sampling before the first step (default 3)")
        r.add_argument("--margin", type=float, default=3.0, help="seconds sampled after the last cache can expire (default 3)")
        r.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each status step (default 120)")
        if flow == "switch-first":
            r.add_argument("--old-parent-ttl", type=int, default=20, help="the old delegation's TTL at the parent (default 20)")
        if flow == "lowered-first-look":
            r.add_argument("--old-child-ttl", type=int, default=20, help="the old provider's NS TTL before it is lowered (default 20)")
    s = sub.add_parser("svg")
    s.add_argument("--out", default=os.path.join(ROOT, "docs", "cutover-replay.svg"))
    s.add_argument("--before", type=float, default=0.0, help="start the axis at least this many seconds before the switch")
    sub.add_parser("summary")
    sub.add_parser("rules-summary", help="the counts of the rules' flows as a Markdown table")
    args = p.parse_args(argv[1:])
    try:
        if args.cmd == "naive":
            naive(args)
        elif args.cmd in ("zoneshift", "early-flush"):
            load_env()
            zoneshift_flow(args, args.cmd)
        elif args.cmd in RULE_FLOWS:
            rules_flow(args)
        elif args.cmd == "svg":
            svg(args)
        elif args.cmd == "rules-summary":
            rules_summary(args)
        else:
            summary(args)
    except Failed as e:
        print(f"replay: FAILED: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
