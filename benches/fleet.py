#!/usr/bin/env python3
"""A fleet under one Route 53 request budget (docs/benchmarks.md, "A fleet under one request budget").

Applies N HostedZoneMigrations of M A records each (records only, no spec.source) at once with
`kubectl apply`, to one `zoneshift run --namespace NS --route53-rps R` (default burst, 1), whose
Route 53 is moto behind tests/faults/r53proxy.py started with `--limit-rps R --log FILE`: the
proxy enforces the account's budget as AWS does (a token bucket of R a second, at most R held,
400 Throttling beyond it) and logs every request's arrival. A `kubectl get --watch` beside it
timestamps every status the operator writes. When every migration has RecordsSynced=True it
prints one table:

  - requests per calendar second at arrival (how many seconds saw 0, 1, ... requests), the most
    in any sliding one-second window, and whether either ever exceeded R;
  - Throttling answered by the proxy, and throttling the operator surfaced (its
    zoneshift_route53_requests_total{outcome="throttled"} on /metrics, events and conditions
    whose reason or message names throttling);
  - per migration, the wait from the apply (and from its creation, as the watch saw it) to its
    first Route 53 request and to its first ChangeResourceRecordSets: distribution and longest;
  - per migration, the wait until its first status with a phase and Ready=False with a reason;
  - the time from the apply until all have RecordsSynced=True, against the minimum the budget
    allows: the requests each migration needs at least (one ListHostedZonesByName, one
    CreateHostedZone, one ListResourceRecordSets, and the ChangeResourceRecordSets that carried
    its records, all counted at the proxy) divided by R;
  - the operator's CPU seconds and peak RSS (VmHWM), with the stand-ins' CPU and the machine's
    load beside them, since they share the cores.

Exits non-zero if a migration did not reach RecordsSynced=True in time.

Clean-up: the resources carry deletionPolicy Delete, so their zones do not pile up in moto from
run to run. After the measurement the measured operator is stopped and a second one is started
straight against moto with a larger budget (ZS_FLEET_CLEANUP_RPS), which deletes the zones and
removes the finalizers while the resources are deleted: at R requests a second the clean-up
would take longer than the run. Whatever is left after that (the clean-up operator failed)
loses its finalizer, and its zone stays in moto.

  scripts/test-env up && eval "$(scripts/test-env env)"
  benches/fleet.py                  # or: make bench-fleet

Environment (defaults in brackets):
  ZS_FLEET_MIGRATIONS [200]     HostedZoneMigrations applied at once
  ZS_FLEET_RECORDS [1000]       A records in each
  ZS_FLEET_RPS [5]              --route53-rps of the operator and --limit-rps of the proxy
  ZS_FLEET_SYNC_TIMEOUT         seconds until the run fails [three times the minimum + 300]
  ZS_FLEET_ADMIN_ADDR           the operator's --admin-addr [127.0.0.1 and a free port]
  ZS_FLEET_CLEANUP_RPS [50]     --route53-rps of the clean-up operator
  ZS_FLEET_APPLY_FIRST          1: apply the whole fleet before the operator starts, and time
                                everything from its start. Where the kube-apiserver accepts the
                                fleet more slowly than the budget would sync it, a run with the
                                operator already up measures the apply; this one has every
                                migration waiting on the budget from the first second
  ZS_FLEET_KEEP                 a directory to keep the raw data in (arrivals.tsv of the proxy,
                                watch.tsv, operator.log, metrics.txt, events.json, run.json);
                                `benches/fleet.py --table DIR` prints the table again from it
  ZS_BIN                        the binary; default target/release/zoneshift when it is newer
                                than every file of src/, else target/debug/zoneshift
"""
import json
import math
import os
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
from types import SimpleNamespace

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HZ = os.sysconf("SC_CLK_TCK")
NEEDED_ONCE = ("ListHostedZonesByName", "CreateHostedZone", "ListResourceRecordSets")
WATCH_TEMPLATE = (
    '{.metadata.name}{"|"}{.status.phase}{"|"}'
    '{.status.conditions[?(@.type=="Ready")].status}{"|"}'
    '{.status.conditions[?(@.type=="Ready")].reason}{"|"}'
    '{.status.conditions[?(@.type=="RecordsSynced")].status}{"|"}'
    '{.status.hostedZoneId}{"|"}'
    '{.status.conditions[?(@.type=="Ready")].lastTransitionTime}{"|"}'
    '{.status.conditions[?(@.type=="RecordsSynced")].lastTransitionTime}{"|"}'
    '{.status.conditions[*].reason}{"|"}{.status.conditions[*].message}{"\\n"}'
)


def say(msg):
    print(f"fleet: {msg}", file=sys.stderr, flush=True)


def knob(name, default):
    v = os.environ.get(name, "")
    return v if v else default


def kubectl(*args, check=True, timeout=300, **kw):
    """kubectl, given up after `timeout` seconds (a stuck kube-apiserver must not hang the run or
    its clean-up)."""
    try:
        p = subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=timeout, **kw)
    except subprocess.TimeoutExpired:
        p = subprocess.CompletedProcess(args, 124, "", f"no answer in {timeout} s")
    if check and p.returncode != 0:
        raise RuntimeError(f"kubectl {' '.join(args[:3])}: {p.stderr.strip()}")
    return p


def binary():
    if os.environ.get("ZS_BIN"):
        return os.environ["ZS_BIN"]
    release = os.path.join(ROOT, "target", "release", "zoneshift")
    if os.access(release, os.X_OK):
        built = os.path.getmtime(release)
        newer = any(os.path.getmtime(os.path.join(d, f)) > built
                    for d, _, fs in os.walk(os.path.join(ROOT, "src")) for f in fs)
        if not newer:
            return release
    return os.path.join(ROOT, "target", "debug", "zoneshift")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_ticks(pid):
    """utime + stime of a process (fields 14 and 15 of proc(5)), or None."""
    try:
        s = open(f"/proc/{pid}/stat").read()
    except (OSError, TypeError):
        return None
    f = s[s.rindex(")") + 2:].split()
    return int(f[11]) + int(f[12])


def vm_hwm_kib(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def standin_pid(name):
    try:
        return int(open(os.path.join(ROOT, ".test-env", f"{name}.pid")).read().strip())
    except (OSError, ValueError):
        return None


def manifests(count, records, tag):
    out = []
    for i in range(count):
        out.append("---\napiVersion: zoneshift.io/v1alpha1\nkind: HostedZoneMigration")
        out.append(f"metadata: {{name: fleet-{i:03d}}}")
        out.append(f"spec:\n  domain: fleet-{i:03d}-{tag}.example.com\n"
                   "  hostedZone: {deletionPolicy: Delete}\n  records:")
        for r in range(records):
            out.append(f"    - {{name: host-{r:04d}, type: A, ttl: 300, values: [198.51.100.{r % 250 + 1}]}}")
    return "\n".join(out) + "\n"


class Watch:
    """`kubectl get --watch` of the namespace's migrations: every status seen, timestamped on
    arrival (epoch seconds). Restarted if kubectl exits before it is stopped."""

    def __init__(self, ns, path):
        self.ns, self.path = ns, path
        self.errors = open(path + ".stderr", "w")
        self.lines = []  # (epoch, fields)
        self.synced = {}  # name -> epoch of the first RecordsSynced=True
        self.lock = threading.Lock()
        self.stopped = False
        self.proc = None
        self.thread = threading.Thread(target=self.run, daemon=True)

    def start(self):
        self.thread.start()
        time.sleep(1.0)  # the watch is established before anything is applied

    def run(self):
        with open(self.path, "w") as log:
            while not self.stopped:
                if self.proc is not None:
                    log.write(f"{time.time():.3f}|-|RESTART\n")
                    with self.lock:
                        self.lines.append((time.time(), ["-", "RESTART"]))
                self.proc = subprocess.Popen(
                    ["kubectl", "get", "-n", self.ns, "hzm", "--watch", "-o", f"jsonpath={WATCH_TEMPLATE}"],
                    stdout=subprocess.PIPE, stderr=self.errors, text=True)
                for line in self.proc.stdout:
                    t = time.time()
                    # kubectl expands tabs of a jsonpath template in a watch: fields are split by |.
                    fields = line.rstrip("\n").split("|")
                    if len(fields) < 6:
                        continue
                    log.write(f"{t:.3f}|{line}")
                    with self.lock:
                        self.lines.append((t, fields))
                        if fields[4] == "True" and fields[0] not in self.synced:
                            self.synced[fields[0]] = t
                self.proc.wait()

    def stop(self):
        self.stopped = True
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
        self.thread.join(timeout=10)

    def count_synced(self):
        with self.lock:
            return len(self.synced)


class Operator:
    def __init__(self, bin_path, ns, admin, rps, endpoint, log_path):
        self.admin = admin
        self.log = open(log_path, "a")
        self.proc = subprocess.Popen(
            [bin_path, "run", "--namespace", ns, "--admin-addr", admin, "--route53-rps", str(rps),
             "--route53-endpoint", endpoint, "--log-format", "json"],
            stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid

    def wait_ready(self):
        for _ in range(150):
            if self.proc.poll() is not None:
                raise RuntimeError("the operator exited during start-up")
            try:
                if urllib.request.urlopen(f"http://{self.admin}/readyz", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("/readyz never answered 200")

    def metrics(self):
        return urllib.request.urlopen(f"http://{self.admin}/metrics", timeout=10).read().decode()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_proxy(upstream, rps, log_path):
    proc = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "tests", "faults", "r53proxy.py"), "--upstream", upstream,
         "--port", "0", "--limit-rps", str(rps), "--log", log_path],
        stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("port "):
        proc.kill()
        raise RuntimeError(f"the proxy said {line!r}, not its port")
    return proc, int(line.split()[1])


def proxy_report(port):
    return json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/__faults", timeout=10))


def read_arrivals(path):
    out = []
    for line in open(path):
        f = line.rstrip("\n").split("\t")
        if len(f) == 6:
            out.append({"epoch": float(f[0]) / 1000.0, "mono": float(f[1]) / 1000.0, "op": f[2],
                        "zone": f[3], "name": f[4].rstrip(".").lower(), "outcome": f[5]})
    out.sort(key=lambda a: a["mono"])
    return out


def rfc3339(text):
    """Epoch seconds of a Kubernetes timestamp (2026-12-04T23:19:52Z, fractions allowed)."""
    import datetime
    m = re.fullmatch(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:\d\d)", text.strip())
    if not m:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    base = datetime.datetime.fromisoformat(m.group(1) + (m.group(3).replace("Z", "+00:00")))
    return base.timestamp() + float(m.group(2) or 0)


def pct(values, q):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def dist(values):
    if not values:
        return "none"
    return (f"min {min(values):.1f} s, median {pct(values, 0.5):.1f} s, p90 {pct(values, 0.9):.1f} s, "
            f"max {max(values):.1f} s")


def sliding_max(times, width=1.0):
    """The most arrivals in any window [t, t + width), and the window's start."""
    best, at, j = 0, None, 0
    for i in range(len(times)):
        while times[i] - times[j] >= width:
            j += 1
        if i - j + 1 > best:
            best, at = i - j + 1, times[j]
    return best, at


def metric_sum(text, name, **labels):
    total = 0.0
    for m in re.finditer(rf"^{name}\{{([^}}]*)\}} (\S+)", text, re.M):
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(2))
    return total


def pacing(arrivals, rps):
    """How the arrivals were spread: per calendar second, in sliding one-second windows."""
    # Arrivals per calendar second, from the first arrival's second to the last one's.
    per_second = {}
    for a in arrivals:
        s = int(a["epoch"])
        per_second[s] = per_second.get(s, 0) + 1
    hist = {}
    if per_second:
        for s in range(min(per_second), max(per_second) + 1):
            n = per_second.get(s, 0)
            hist[n] = hist.get(n, 0) + 1
    window, window_at = sliding_max([a["mono"] for a in arrivals])
    # The shortest time holding R + 1 consecutive arrivals: under 1 s, some window exceeded R.
    spans = [b["mono"] - a["mono"] for a, b in zip(arrivals, arrivals[rps:])]
    shortest = min(spans) if spans else float("nan")
    in_window = [a for a in arrivals if window_at is not None and window_at <= a["mono"] < window_at + 1.0]

    ops = {}
    for a in arrivals:
        key = a["op"] if a["outcome"] == "pass" else f"{a['op']} ({a['outcome']})"
        ops[key] = ops.get(key, 0) + 1
    return SimpleNamespace(per_second=per_second, hist=hist, window=window, shortest=shortest,
                           in_window=in_window, ops=ops)


def per_migration(arrivals, owner):
    """Per migration: its first request, its first change, the requests it needed at least."""
    first_req, first_change, minimum, unowned = {}, {}, {}, 0
    for a in arrivals:
        n = owner(a)
        if n is None:
            unowned += 1
            continue
        first_req.setdefault(n, a["epoch"])
        if a["op"] == "ChangeResourceRecordSets":
            first_change.setdefault(n, a["epoch"])
        if a["outcome"] == "pass":
            need = minimum.setdefault(n, {})
            if a["op"] in NEEDED_ONCE:
                need[a["op"]] = 1
            elif a["op"] == "ChangeResourceRecordSets":
                need[a["op"]] = need.get(a["op"], 0) + 1
    return SimpleNamespace(first_req=first_req, first_change=first_change, minimum=minimum,
                           unowned=unowned)


def watch_times(c):
    """From the watch: creation (first sight), first status with a phase, RecordsSynced=True."""
    # Fields: name, phase, Ready, its reason, RecordsSynced, zone id, [the lastTransitionTime of
    # Ready and of RecordsSynced,] every reason, every message (runs kept before the transition
    # times were added lack them). A line "-|RESTART" marks a new kubectl watch, which lists
    # the current state: versions in between were not seen.
    with_written = c.get("watch_fields", 8) >= 10
    created, first_phase, phase_ok, throttle_seen, written, synced_at = {}, {}, {}, [], {}, {}
    restarts = 0
    for t, f in c["watch"]:
        name = f[0]
        if name == "-":
            restarts += 1
            continue
        created.setdefault(name, t)
        if f[1] and name not in first_phase:
            first_phase[name] = t
            phase_ok[name] = f[2] == "False" and bool(f[3])
            if with_written and f[6]:
                written[name] = rfc3339(f[6])
        if with_written and f[4] == "True" and f[7] and name not in synced_at:
            synced_at[name] = rfc3339(f[7])
        if re.search("throttl", "\t".join(f[8 if with_written else 6:]), re.I):
            throttle_seen.append(name)
    return SimpleNamespace(with_written=with_written, created=created, first_phase=first_phase,
                           phase_ok=phase_ok, throttle_seen=throttle_seen, written=written,
                           synced_at=synced_at, restarts=restarts)


def analyse(c):
    """The table's rows from what the run collected (c: a dict)."""
    rps, count = c["rps"], c["count"]
    arrivals = [a for a in read_arrivals(c["arrivals"]) if a["epoch"] <= c["t_done"] + 0.5]
    by_name = {f"fleet-{i:03d}": f"fleet-{i:03d}-{c['tag']}.example.com" for i in range(count)}
    domain_to_name = {d: n for n, d in by_name.items()}
    zone_to_name = {z.rsplit("/", 1)[-1]: n for n, z in c["zones"].items() if z}

    def owner(a):
        if a["zone"] != "-":
            return zone_to_name.get(a["zone"])
        return domain_to_name.get(a["name"])

    p = pacing(arrivals, rps)
    per_second, hist, window, shortest, in_window, ops = (
        p.per_second, p.hist, p.window, p.shortest, p.in_window, p.ops)
    mig = per_migration(arrivals, owner)
    first_req, first_change, minimum, unowned = mig.first_req, mig.first_change, mig.minimum, mig.unowned
    minimum_requests = sum(sum(v.values()) for v in minimum.values())
    minimum_s = minimum_requests / rps
    w = watch_times(c)
    with_written, created, first_phase, phase_ok = w.with_written, w.created, w.first_phase, w.phase_ok
    throttle_seen, written, synced_at, restarts = w.throttle_seen, w.written, w.synced_at, w.restarts
    synced = c["synced"]
    t0 = c.get("t_origin", c["t_apply"])
    apply_first = c.get("apply_first", False)
    since = "the operator's start" if apply_first else "the apply"

    def waits(first, origin):
        return [first[n] - (origin[n] if isinstance(origin, dict) else origin)
                for n in by_name if n in first and (not isinstance(origin, dict) or n in origin)]

    def longest(first, origin):
        w = {n: first[n] - (origin[n] if isinstance(origin, dict) else origin)
             for n in by_name if n in first and (not isinstance(origin, dict) or n in origin)}
        if not w:
            return "-"
        n = max(w, key=w.get)
        return f"{n}"

    # The same with each migration's requests allowed only from its creation (the apply of a
    # large fleet takes a while): a single server of R a second, jobs released over time, ends
    # no earlier than max over k of (k-th release + the requests released from it on) / R.
    released = sorted((max(t0, created[n]), sum(minimum.get(n, {}).values())) for n in by_name if n in created)
    bound_end, rest = t0, sum(p for _, p in released)
    for r, p in released:
        bound_end = max(bound_end, r + rest / rps)
        rest -= p
    bound_s = bound_end - t0
    missing_req = [n for n in by_name if n not in first_req]
    missing_change = [n for n in by_name if n not in first_change]
    missing_phase = [n for n in by_name if n not in first_phase]
    all_synced = len(synced) == count
    t_last = max(synced.values()) if synced else float("nan")
    wall = t_last - t0
    from_first = t_last - arrivals[0]["epoch"] if arrivals else float("nan")
    passed = sum(1 for a in arrivals if a["outcome"] == "pass")
    throttled_proxy = sum(1 for a in arrivals if a["outcome"] == "throttled")
    m = c["metrics"]
    op_throttled = metric_sum(m, "zoneshift_route53_requests_total", outcome="throttled")
    op_retried = metric_sum(m, "zoneshift_route53_requests_total", outcome="retried")
    op_error = metric_sum(m, "zoneshift_route53_requests_total", outcome="error")
    op_ok = metric_sum(m, "zoneshift_route53_requests_total", outcome="ok")
    reconcile_errors = metric_sum(m, "zoneshift_reconcile_errors_total")
    event_reasons = {}
    throttle_events = 0
    for e in c["events"]:
        r = e.get("reason", "?")
        event_reasons[r] = event_reasons.get(r, 0) + (e.get("count") or 1)
        if re.search("throttl", f"{r} {e.get('message', '')}", re.I):
            throttle_events += 1
    cpu = c["op_cpu"]

    def fmt_hist():
        return ", ".join(f"{n}: {hist[n]}" for n in sorted(hist)) or "none"

    def cpu_of(key):
        a, b = c["cpu_start"].get(key), c["cpu_end"].get(key)
        return f"{(b - a) / HZ:.1f} s" if a is not None and b is not None else "-"

    rows = [
        ("binary", c["binary"]),
        ("fleet", f"{count} migrations x {c['records']} A records, --route53-rps {rps} (burst 1), "
                  f"proxy --limit-rps {rps}"),
        ("apply (kubectl apply of all)", f"{c['t_applied'] - c['t_apply']:.1f} s"
                                         + (", all before the operator started" if apply_first else "")),
        ("requests at the proxy", f"{len(arrivals)} ({passed} passed, {throttled_proxy} throttled); "
                                  + ", ".join(f"{k} {v}" for k, v in sorted(ops.items()))),
        ("requests per calendar second", f"seconds with n requests, n: seconds -> {fmt_hist()}"),
        ("busiest calendar second", f"{max(per_second.values()) if per_second else 0}"
                                    f" (budget {rps}: {'EXCEEDED' if per_second and max(per_second.values()) > rps else 'never exceeded'})"),
        ("busiest sliding 1 s window", f"{window} (budget {rps}: {'EXCEEDED' if window > rps else 'never exceeded'})"
                                       + (f"; in it: {', '.join(a['op'] for a in in_window)}" if window > rps else "")),
        (f"shortest span of {rps + 1} consecutive arrivals", f"{shortest * 1000:.1f} ms "
                                                        f"(one request every {1000 / rps:.0f} ms makes it {1000 * rps / rps:.0f} ms)"),
        ("Throttling answered by the proxy", f"{throttled_proxy} (control API: {c['proxy_report'].get('enforced', {}).get('Throttling', '-')})"),
        ("throttling the operator surfaced", f"metrics: {op_throttled:.0f} throttled, {op_retried:.0f} retried, "
                                              f"{op_error:.0f} error, {op_ok:.0f} ok; reconcile errors {reconcile_errors:.0f}; "
                                              f"events naming throttling {throttle_events}; statuses naming throttling "
                                              f"{len(throttle_seen)} ({len(set(throttle_seen))} migrations)"),
        ("events by reason", ", ".join(f"{k} {v}" for k, v in sorted(event_reasons.items())) or "none"),
        (f"first status with a phase, from {since}", dist(waits(first_phase, t0))
         + f"; longest {longest(first_phase, t0)}"),
        ("  the same, from its creation", dist(waits(first_phase, created))),
        ("  written at, by its Ready lastTransitionTime", (dist(waits(written, t0)) + f" from {since} (the "
                                                          "operator's clock in whole seconds, truncated; the watch's receipt "
                                                          "above adds the watch's own delay)") if written else "-"),
        ("  watch restarts (kubectl relisted)", f"{restarts}" if with_written else "not recorded in this run"),
        ("  first status Ready=False with a reason", f"{sum(phase_ok.values())} of {count}"
                                                    + (f"; no phase seen: {len(missing_phase)}" if missing_phase else "")),
        (f"first Route 53 request, from {since}", dist(waits(first_req, t0)) + f"; longest {longest(first_req, t0)}"
         + (f"; never: {len(missing_req)}" if missing_req else "")),
        ("  the same, from its creation", dist(waits(first_req, created))),
        (f"first ChangeResourceRecordSets, from {since}", dist(waits(first_change, t0))
         + f"; longest {longest(first_change, t0)}" + (f"; never: {len(missing_change)}" if missing_change else "")),
        ("  the same, from its creation", dist(waits(first_change, created))),
        (f"RecordsSynced=True, from {since}", dist(waits(synced, t0))),
        ("  by its lastTransitionTime", (dist(waits(synced_at, t0)) + f"; all by {max(synced_at.values()) - t0:.1f} s")
                                        if synced_at else "-"),
        ("all RecordsSynced=True", (f"{wall:.1f} s after {since} ({from_first:.1f} s after the first request)"
                                    if all_synced else f"NOT ALL: {len(synced)} of {count}")),
        ("minimum the budget allows", f"{minimum_requests} requests needed / {rps} per s = {minimum_s:.1f} s "
                                      f"({minimum_requests / max(1, len(minimum)):.2f} per migration; requests made: "
                                      f"{passed} passed = {passed / rps:.1f} s of budget)"),
        ("ratio to the minimum", f"{wall / minimum_s:.3f} from {since}, {from_first / minimum_s:.3f} from the first request"
                                 f" (target: within 1.10)" if minimum_s else "-"),
        ("  minimum given the creation times", f"{bound_s:.1f} s after {since} (each migration's requests "
                                               f"only from its creation); ratio {wall / bound_s:.3f}" if bound_s > 0 else "-"),
        ("operator CPU", f"{cpu:.1f} s from {since} to the last sync ({c['op_cpu_total']:.1f} s since start)"),
        ("operator peak RSS (VmHWM)", f"{c['op_hwm'] / 1024:.1f} MiB" if c["op_hwm"] else "-"),
        ("shared: moto / kube-apiserver / proxy CPU", f"{cpu_of('moto')} / {cpu_of('kube')} / {cpu_of('proxy')}"),
        ("machine: cores, load average at start / end", f"{os.cpu_count()}, {c['load_start']} / {c['load_end']}"),
    ]
    if apply_first:
        rows = [r for r in rows if not r[0].startswith("  the same, from its creation")]
    if unowned:
        rows.insert(4, ("requests not tied to a migration", f"{unowned} (GetChange and the like)"))
    return rows, all_synced


def print_table(c):
    rows, ok = analyse(c)
    w = max(len(k) for k, _ in rows)
    for k, v in rows:
        print(f"{k:<{w}} | {v}")
    sys.stdout.flush()
    return ok


def table_from(keep):
    """The table again from a directory ZS_FLEET_KEEP filled."""
    c = json.load(open(os.path.join(keep, "run.json")))
    c["arrivals"] = os.path.join(keep, "arrivals.tsv")
    c["metrics"] = open(os.path.join(keep, "metrics.txt")).read()
    c["events"] = json.load(open(os.path.join(keep, "events.json")))
    c["watch"] = []
    for line in open(os.path.join(keep, "watch.tsv")):
        t, _, rest = line.rstrip("\n").partition("|")
        c["watch"].append((float(t), rest.split("|")))
    sys.exit(0 if print_table(c) else 1)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--table":
        return table_from(sys.argv[2])
    for var in ("ZS_ROUTE53_ENDPOINT", "KUBECONFIG"):
        if not os.environ.get(var):
            sys.exit(f"fleet: {var} is not set: run eval \"$(scripts/test-env env)\"")
    count = int(knob("ZS_FLEET_MIGRATIONS", "200"))
    records = int(knob("ZS_FLEET_RECORDS", "1000"))
    rps = int(knob("ZS_FLEET_RPS", "5"))
    cleanup_rps = int(knob("ZS_FLEET_CLEANUP_RPS", "50"))
    apply_first = knob("ZS_FLEET_APPLY_FIRST", "0") not in ("0", "false", "no")
    if count < 1 or records < 1 or rps < 1 or cleanup_rps < 1:
        sys.exit("fleet: ZS_FLEET_MIGRATIONS, ZS_FLEET_RECORDS, ZS_FLEET_RPS and ZS_FLEET_CLEANUP_RPS must be at least 1")
    estimate = count * (3 + math.ceil(records / 1000)) / rps
    timeout = float(knob("ZS_FLEET_SYNC_TIMEOUT", str(int(3 * estimate + 300))))
    admin = knob("ZS_FLEET_ADMIN_ADDR", f"127.0.0.1:{free_port()}")
    bin_path = binary()
    if not os.access(bin_path, os.X_OK):
        sys.exit(f"fleet: no binary at {bin_path}: build it or set ZS_BIN")
    tag = str(os.getpid())
    ns = f"zs-fleet-{tag}"
    work = tempfile.mkdtemp(prefix="zs-fleet-")
    paths = {k: os.path.join(work, v) for k, v in
             {"arrivals": "arrivals.tsv", "watch": "watch.tsv", "operator": "operator.log",
              "metrics": "metrics.txt", "events": "events.json", "manifest": "migrations.yaml",
              "run": "run.json"}.items()}
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    say(f"binary: {bin_path}")
    say(f"namespace {ns}: {count} migrations of {records} A records at {rps} requests/s")
    with open(paths["manifest"], "w") as f:
        f.write(manifests(count, records, tag))
    kubectl("apply", "-f", os.path.join(ROOT, "crds", "hostedzonemigration.yaml"))
    kubectl("wait", "--for=condition=Established", "crd/hostedzonemigrations.zoneshift.io", "--timeout=30s")
    kubectl("create", "namespace", ns)

    proxy = operator = watch = None
    ok = False
    try:
        proxy, port = start_proxy(os.environ["ZS_ROUTE53_ENDPOINT"], rps, paths["arrivals"])
        pids = {"moto": standin_pid("moto"), "kube": standin_pid("kube"), "proxy": proxy.pid}
        c = {"rps": rps, "count": count, "records": records, "tag": tag, "arrivals": paths["arrivals"],
             "binary": os.path.relpath(bin_path, ROOT) if bin_path.startswith(ROOT) else bin_path,
             "apply_first": apply_first, "watch_fields": WATCH_TEMPLATE.count('{"|"}') + 1}

        def start_operator():
            op = Operator(bin_path, ns, admin, rps, f"http://127.0.0.1:{port}", paths["operator"])
            op.wait_ready()
            say(f"operator ready (pid {op.pid}), proxy on port {port}")
            return op

        def apply():
            c["t_apply"] = time.time()
            kubectl("apply", "-n", ns, "-f", paths["manifest"], timeout=1800)
            c["t_applied"] = time.time()
            say(f"applied in {c['t_applied'] - c['t_apply']:.1f} s")

        watch = Watch(ns, paths["watch"])
        watch.start()
        if apply_first:
            apply()
        c["load_start"] = open("/proc/loadavg").read().split()[0]
        c["cpu_start"] = {k: cpu_ticks(p) for k, p in pids.items()}
        c["t_origin"] = time.time()
        operator = start_operator()
        op_cpu0 = 0 if apply_first else cpu_ticks(operator.pid)
        if not apply_first:
            c["t_origin"] = time.time()
            apply()
        say(f"waiting for RecordsSynced=True (at least {estimate:.0f} s at this budget, timeout {timeout:.0f} s)")
        last_note = 0.0
        while watch.count_synced() < count and time.time() - c["t_origin"] < timeout:
            if operator.proc.poll() is not None:
                raise RuntimeError("the operator exited")
            if time.time() - last_note > 30:
                say(f"{watch.count_synced()} of {count} in sync after {time.time() - c['t_origin']:.0f} s")
                last_note = time.time()
            time.sleep(0.5)
        c["t_done"] = time.time()
        op_cpu1 = cpu_ticks(operator.pid)
        c["cpu_end"] = {k: cpu_ticks(p) for k, p in pids.items()}
        c["op_cpu"] = (op_cpu1 - op_cpu0) / HZ
        c["op_cpu_total"] = op_cpu1 / HZ
        c["op_hwm"] = vm_hwm_kib(operator.pid)
        c["load_end"] = open("/proc/loadavg").read().split()[0]
        c["metrics"] = operator.metrics()
        c["proxy_report"] = proxy_report(port)
        time.sleep(0.5)
        watch.stop()
        with watch.lock:
            c["watch"], c["synced"] = list(watch.lines), dict(watch.synced)
        c["zones"] = {}
        for line in kubectl("get", "-n", ns, "hzm", "-o",
                            'jsonpath={range .items[*]}{.metadata.name}{"|"}{.status.hostedZoneId}{"\\n"}{end}').stdout.splitlines():
            name, _, zone = line.partition("|")
            c["zones"][name] = zone
        c["events"] = json.loads(kubectl("get", "-n", ns, "events", "-o", "json").stdout).get("items", [])
        with open(paths["metrics"], "w") as f:
            f.write(c["metrics"])
        with open(paths["events"], "w") as f:
            json.dump(c["events"], f)
        with open(paths["run"], "w") as f:
            json.dump({k: v for k, v in c.items() if k not in ("watch", "metrics", "events")}, f)
        ok = print_table(c)
        if not ok:
            say(f"only {len(c['synced'])} of {count} migrations reached RecordsSynced=True in {timeout:.0f} s")
    finally:
        if watch:
            watch.stop()
        if operator:
            operator.stop()
            say(f"measured operator stopped (pid {operator.pid})")
        if proxy:
            proxy.terminate()
            proxy.wait()
        clean_up(ns, bin_path, cleanup_rps, paths["operator"])
        keep = os.environ.get("ZS_FLEET_KEEP")
        if keep:
            os.makedirs(keep, exist_ok=True)
            for k in ("arrivals", "watch", "operator", "metrics", "events", "run"):
                for path in (paths[k], paths[k] + ".stderr"):
                    if os.path.exists(path):
                        shutil.copy(path, keep)
            say(f"raw data kept in {keep}")
        elif not ok and os.path.exists(paths["operator"]):
            say("failed; operator log (last 20 lines):")
            for line in open(paths["operator"]).readlines()[-20:]:
                print(line.rstrip(), file=sys.stderr)
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(0 if ok else 1)


def clean_up(ns, bin_path, rps, log_path):
    """Deletes the migrations with a clean-up operator straight against moto, so that their
    zones go (deletionPolicy Delete) without waiting on the measured budget."""
    if kubectl("get", "namespace", ns, check=False).returncode != 0:
        return
    t = time.time()
    op = None
    try:
        op = Operator(bin_path, ns, f"127.0.0.1:{free_port()}", rps, os.environ["ZS_ROUTE53_ENDPOINT"], log_path)
        op.wait_ready()
        say(f"deleting the migrations of {ns} and their zones (clean-up operator, pid {op.pid}, {rps} requests/s)")
        p = kubectl("delete", "-n", ns, "hzm", "--all", "--timeout=900s", check=False, timeout=960)
        if p.returncode != 0:
            say(f"delete: {p.stderr.strip()}")
    except (RuntimeError, OSError) as e:
        say(f"clean-up operator: {e}")
    finally:
        if op:
            op.stop()
    left = kubectl("get", "-n", ns, "hzm", "-o", "name", check=False).stdout.split()
    for name in left:
        kubectl("patch", "-n", ns, name, "--type=merge", "-p", '{"metadata":{"finalizers":null}}', check=False)
    if left:
        say(f"{len(left)} migrations lost their finalizer without the operator: their zones stay in moto")
    kubectl("delete", "namespace", ns, "--wait=false", check=False)
    say(f"clean-up took {time.time() - t:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
