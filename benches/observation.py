#!/usr/bin/env python3
"""What observing one migration costs in DNS queries, phase by phase, at the default intervals.

One HostedZoneMigration of example.com in the DNS world (scripts/dns-world): imported by AXFR
from the old provider (BIND), synced into moto, verified, then held in each phase for a window
(ZS_OBS_WINDOW seconds, default 330: longer than the default --import-interval of 5 minutes, so
each window holds at least one full pass): waiting for approval (AwaitingCutover), approved with
the parent not yet switched (CuttingOver), switched (Propagating, the soak; minimumSoak is set
longer than the window), and Completed. The operator runs with its default intervals
(--delegation-poll-interval 30s, --source-probe-interval 60s, --import-interval 5m,
--resync-interval 10m, --full-compare-interval 1h), the DNS world's resolver, and its
`/metrics` is read every 2 s: zoneshift_dns_queries_total by kind (authoritative: the old
provider, Route 53's and the parent's servers; recursive: the resolver; transfer: AXFR; update:
RFC 2136) and zoneshift_route53_requests_total. Each interval between two reads is given to the
phase the resource was in at its start.

The zone is the DNS world's example.com (8 record sets) with ZS_OBS_RECORDS more (TXT,
`scripts/dns-world add-records`), removed again at the end (`restore-old-provider`).

    scripts/test-env up && scripts/dns-world up
    eval "$(scripts/test-env env)"; eval "$(scripts/dns-world env)"
    ZS_OBS_RECORDS=1000 benches/observation.py          # about 25 minutes

Environment: ZS_OBS_RECORDS [0], ZS_OBS_WINDOW [330], ZS_BIN [target/release/zoneshift when
newer than src/, else target/debug/zoneshift], ZS_OBS_ADMIN [127.0.0.1:18097].
"""
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECORDS = int(os.environ.get("ZS_OBS_RECORDS", "0"))
WINDOW = int(os.environ.get("ZS_OBS_WINDOW", "330"))
ADMIN = os.environ.get("ZS_OBS_ADMIN", "127.0.0.1:18097")
R53_NS = ["ns-2048.awsdns-64.com", "ns-2049.awsdns-65.net", "ns-2050.awsdns-66.org",
          "ns-2051.awsdns-67.co.uk"]
NS = f"zs-obs-{os.getpid()}"
KINDS = ["authoritative", "recursive", "transfer", "update"]
started = time.monotonic()


def say(*a):
    print(f"[{time.monotonic() - started:6.0f}s]", *a, file=sys.stderr, flush=True)


def binary():
    if os.environ.get("ZS_BIN"):
        return os.environ["ZS_BIN"]
    rel = ROOT / "target" / "release" / "zoneshift"
    if rel.exists() and not any(p.stat().st_mtime > rel.stat().st_mtime
                                for p in (ROOT / "src").rglob("*") if p.is_file()):
        return str(rel)
    return str(ROOT / "target" / "debug" / "zoneshift")


def run(*args, check=True, **kw):
    return subprocess.run(list(args), check=check, text=True, capture_output=True, **kw)


def world(*args):
    return run(str(ROOT / "scripts" / "dns-world"), *args)


def kubectl(*args, check=True, **kw):
    return run("kubectl", *args, check=check, **kw)


def get(path):
    return kubectl("get", "-n", NS, "hzm/example-com", "-o", f"jsonpath={path}", check=False).stdout.strip()


def cond(t, field="status"):
    return get(f'{{.status.conditions[?(@.type=="{t}")].{field}}}')


def scrape():
    """(DNS messages by kind, Route 53 requests) so far."""
    text = urllib.request.urlopen(f"http://{ADMIN}/metrics", timeout=5).read().decode()
    dns = defaultdict(float)
    r53 = 0.0
    for line in text.splitlines():
        m = re.match(r'zoneshift_dns_queries_total\{kind="(\w+)"\} (\S+)', line)
        if m:
            dns[m.group(1)] = float(m.group(2))
        m = re.match(r"zoneshift_route53_requests_total\{[^}]*\} (\S+)", line)
        if m:
            r53 += float(m.group(1))
    return dns, r53


def main():
    world("set-delegation", "example.com", "ns1.old-provider.net", "ns2.old-provider.net")
    world("restore-old-provider", "example.com")
    if RECORDS:
        world("add-records", "example.com", str(RECORDS))
    kubectl("apply", "-f", str(ROOT / "crds" / "hostedzonemigration.yaml"))
    kubectl("create", "namespace", NS)
    key = Path(os.environ["ZS_WORLD_TSIG_KEY_FILE"]).read_text()
    name = re.search(r'key "([^"]+)"', key).group(1)
    algorithm = re.search(r"algorithm ([^;]+);", key).group(1)
    secret = re.search(r'secret "([^"]+)"', key).group(1)
    kubectl("create", "secret", "generic", "-n", NS, "old-provider-xfr",
            f"--from-literal=name={name}", f"--from-literal=algorithm={algorithm}",
            f"--from-literal=secret={secret}")
    log = open(ROOT / ".test-env" / f"operator-obs-{RECORDS}.log", "w")
    bin_ = binary()
    op = subprocess.Popen([bin_, "run", "--namespace", NS, "--admin-addr", ADMIN,
                           "--resolver", os.environ["ZS_RESOLVER"], "--log-format", "json"],
                          env=dict(os.environ, KUBECONFIG=os.environ["ZS_OPERATOR_KUBECONFIG"]),
                          stdout=log, stderr=subprocess.STDOUT)
    ttl = os.environ.get("ZS_WORLD_CHILD_NS_TTL", "10")
    soak = f"{WINDOW + 120}s"
    per_phase = defaultdict(lambda: {"seconds": 0.0, "dns": defaultdict(float), "r53": 0.0})
    try:
        for _ in range(100):
            try:
                scrape()
                break
            except OSError:
                time.sleep(0.2)
        manifest = f"""apiVersion: zoneshift.io/v1alpha1
kind: HostedZoneMigration
metadata: {{name: example-com, namespace: {NS}}}
spec:
  domain: example.com
  hostedZone: {{deletionPolicy: Delete}}
  source:
    nameservers: ["{os.environ['ZS_WORLD_OLD_PROVIDER']}"]
    axfr: {{tsigSecretRef: {{name: old-provider-xfr}}}}
  cutover:
    mode: Manual
    oldProviderNameservers: Update
    approved: false
    loweredNameserverTtl: {ttl}
    finalNameserverTtl: 60
    minimumSoak: {soak}
    previousNameserverTtl: {ttl}
"""
        say(f"{bin_}: applying example.com ({RECORDS} bulk record sets), window {WINDOW}s")
        kubectl("apply", "-f", "-", input=manifest)
        dns0, r530 = scrape()
        t0 = time.monotonic()
        entered = {}
        state = "initial"
        pointer = ROOT / ".test-env" / "dns-world" / "route53-zone-example.com"
        approved = switched = False
        while True:
            time.sleep(2)
            phase = get("{.status.phase}") or "Pending"
            zone = get("{.status.hostedZoneId}")
            if zone and (not pointer.exists() or pointer.read_text().strip() != zone):
                pointer.write_text(zone + "\n")  # Route 53's nameservers serve this zone
            dns1, r531 = scrape()
            t1 = time.monotonic()
            # The interval since the last read belongs to the phase it started in; a read
            # then decides the phase of the next one. Until the shadow is verified the one-off
            # work (import, sync, verification) is counted apart from the waiting phases.
            p = per_phase[state]
            p["seconds"] += t1 - t0
            for k in KINDS:
                p["dns"][k] += dns1.get(k, 0) - dns0.get(k, 0)
            p["r53"] += r531 - r530
            dns0, r530, t0 = dns1, r531, t1
            if state == "initial" and cond("ShadowVerified") == "True" and phase == "AwaitingCutover":
                state = "AwaitingCutover"
            elif state != "initial":
                state = phase
            if state not in entered:
                entered[state] = t1
                say(f"phase {state}")
            held = t1 - entered[state]
            if state == "AwaitingCutover" and held >= WINDOW and not approved:
                say("approving")
                kubectl("patch", "-n", NS, "hzm/example-com", "--type=merge",
                        "-p", '{"spec":{"cutover":{"approved":true}}}')
                approved = True
            if state == "CuttingOver" and held >= WINDOW and not switched:
                say("the registrar switches the parent to Route 53")
                world("set-delegation", "example.com", *R53_NS)
                switched = True
            if state == "Completed" and held >= WINDOW:
                break
            if t1 - started > 8 * WINDOW + 900:
                raise SystemExit(f"bench: stuck in {state}; see the operator log")
            if op.poll() is not None:
                raise SystemExit("bench: the operator exited")
    finally:
        kubectl("delete", "-n", NS, "hzm", "--all", "--timeout=120s", check=False)
        op.terminate()
        op.wait(timeout=30)
        kubectl("delete", "namespace", NS, "--wait=false", check=False)
        world("set-delegation", "example.com", "ns1.old-provider.net", "ns2.old-provider.net")
        world("restore-old-provider", "example.com")
    print(f"observation cost of one migration: example.com with {RECORDS + 8} record sets "
          f"({RECORDS} bulk), default intervals, binary {bin_}")
    print(f"{'phase':<16} | {'observed s':>10} | {'authoritative':>13} | {'recursive':>9} | "
          f"{'transfer':>8} | {'update':>6} | {'Route 53':>8}")
    for state in ["initial", "AwaitingCutover", "CuttingOver", "Propagating", "Completed"]:
        p = per_phase.get(state)
        if not p:
            continue
        if state == "initial":
            cells = [f"{p['dns'][k]:.0f}" for k in KINDS] + [f"{p['r53']:.0f}"]
            label = "initial (total)"
        else:
            per_min = 60 / max(p["seconds"], 1)
            cells = [f"{p['dns'][k] * per_min:.1f}/min" for k in KINDS] + [f"{p['r53'] * per_min:.1f}/min"]
            label = state
        print(f"{label:<16} | {p['seconds']:>10.0f} | {cells[0]:>13} | {cells[1]:>9} | "
              f"{cells[2]:>8} | {cells[3]:>6} | {cells[4]:>8}")


if __name__ == "__main__":
    main()
