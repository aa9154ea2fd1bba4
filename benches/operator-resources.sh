#!/usr/bin/env bash
# Memory and CPU of the running operator with many migrations: the figures behind the chart's
# default requests and limits (docs/benchmarks.md, "Operator memory and CPU").
#
# Starts `zoneshift run` on one namespace, applies N HostedZoneMigrations of M A records each
# (records only, no spec.source: no old provider is needed), and samples the operator
# process every second: resident memory (VmRSS of /proc/PID/status) and CPU time (utime+stime
# of /proc/PID/stat). Two windows: the initial sync, from the apply until every migration has
# RecordsSynced=True, and then a steady period while they all stay in sync. Prints one table.
#
#   scripts/test-env up && eval "$(scripts/test-env env)"
#   benches/operator-resources.sh
#
# Environment (defaults in brackets):
#   ZS_BENCH_MIGRATIONS [100]      HostedZoneMigrations to apply
#   ZS_BENCH_RECORDS [1000]        A records in each
#   ZS_BENCH_STEADY_SECONDS [60]   length of the steady window
#   ZS_BENCH_SYNC_TIMEOUT [1800]   seconds the initial sync may take before the run fails
#   ZS_BENCH_ADMIN_ADDR [127.0.0.1:18095]  the operator's --admin-addr
#   ZS_BENCH_RPS [50]              the operator's --route53-rps
#   ZS_BENCH_RESYNC_INTERVAL       the operator's --resync-interval [its default, 10m]; shorter
#                                  than the steady window, it puts whole re-syncs into it
#   ZS_BENCH_DELETION_POLICY [Retain]  Delete: the clean-up removes the zones from Route 53 too
#   ZS_BENCH_SAMPLES               a file to keep the one-second samples in (columns: unix time,
#                                  RSS kB, VmHWM kB, operator/moto/kube-apiserver CPU ticks, machine
#                                  busy and total ticks), e.g. to see RSS over time
#   ZS_BIN                         the binary; default target/release/zoneshift when it is newer
#                                  than every file of src/, else target/debug/zoneshift
#
# The resources keep the default deletionPolicy (Retain) unless told otherwise: at the end they
# are deleted from the namespace zs-bench-PID, but their zones stay in the Route 53 stand-in.
# The operator is stopped by its PID. moto and the kube-apiserver run on the same cores as
# the operator: their CPU time and the machine's are printed too, to show whether the cores
# were saturated.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${ZS_ROUTE53_ENDPOINT:?run: eval \"\$(scripts/test-env env)\"}"
: "${KUBECONFIG:?run: eval \"\$(scripts/test-env env)\"}"
PY="$ROOT/.venv/bin/python"
[[ -x "$PY" ]] || { echo "bench: no $PY: run scripts/test-env up" >&2; exit 1; }

COUNT="${ZS_BENCH_MIGRATIONS:-100}"
RECORDS="${ZS_BENCH_RECORDS:-1000}"
STEADY="${ZS_BENCH_STEADY_SECONDS:-60}"
SYNC_TIMEOUT="${ZS_BENCH_SYNC_TIMEOUT:-1800}"
ADMIN="${ZS_BENCH_ADMIN_ADDR:-127.0.0.1:18095}"
RPS="${ZS_BENCH_RPS:-50}"
RESYNC="${ZS_BENCH_RESYNC_INTERVAL:-}"
POLICY="${ZS_BENCH_DELETION_POLICY:-Retain}"
NS="zs-bench-$$"

if [[ -n "${ZS_BIN:-}" ]]; then
  BIN="$ZS_BIN"
elif [[ -x "$ROOT/target/release/zoneshift" && -z "$(find "$ROOT/src" -type f -newer "$ROOT/target/release/zoneshift" -print -quit)" ]]; then
  BIN="$ROOT/target/release/zoneshift"
else
  BIN="$ROOT/target/debug/zoneshift"
fi
[[ -x "$BIN" ]] || { echo "bench: no binary at $BIN: run cargo build" >&2; exit 1; }

WORK="$(mktemp -d)"
OP_PID=""
SAMPLER_PID=""
say() { printf 'bench: %s\n' "$*" >&2; }

cleanup() {
  local rc=$?
  if [[ -n "$SAMPLER_PID" ]]; then kill "$SAMPLER_PID" 2>/dev/null || true; wait "$SAMPLER_PID" 2>/dev/null || true; fi
  if kubectl get namespace "$NS" >/dev/null 2>&1; then
    say "deleting the HostedZoneMigrations of $NS (deletionPolicy $POLICY)"
    # While the operator runs, so that it removes its finalizers.
    if [[ -n "$OP_PID" ]] && kill -0 "$OP_PID" 2>/dev/null; then
      kubectl delete -n "$NS" hzm --all --timeout=600s >/dev/null 2>&1 || true
    fi
  fi
  if [[ -n "$OP_PID" ]]; then
    kill -TERM "$OP_PID" 2>/dev/null || true
    wait "$OP_PID" 2>/dev/null || true
    say "operator stopped (pid $OP_PID)"
  fi
  if kubectl get namespace "$NS" >/dev/null 2>&1; then
    # Whatever is left (the operator died, or the delete timed out) loses its finalizer here.
    for name in $(kubectl get -n "$NS" hzm -o name 2>/dev/null); do
      kubectl patch -n "$NS" "$name" --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
    done
    kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  fi
  if [[ $rc -ne 0 && -s "$WORK/operator.log" ]]; then
    say "failed; operator log (last 20 lines):"
    tail -n 20 "$WORK/operator.log" >&2 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# The PID of a stand-in from scripts/test-env's pidfiles, for its CPU time; empty if unknown.
standin_pid() { if [[ -f "$ROOT/.test-env/$1.pid" ]]; then cat "$ROOT/.test-env/$1.pid"; fi; }
MOTO_PID="$(standin_pid moto)"
KUBE_PID="$(standin_pid kube)"

# One line of counters: wall time, the operator's RSS, peak RSS (VmHWM) and CPU ticks,
# moto's and the kube-apiserver's CPU ticks, and the machine's busy and total ticks.
SNAP_PY='
import os, sys, time
def cpu(pid):
    try:
        s = open(f"/proc/{pid}/stat").read()
    except (OSError, ValueError):
        return -1
    f = s[s.rindex(")") + 2:].split()
    return int(f[11]) + int(f[12])  # utime, stime: fields 14 and 15 of proc(5)
def status(pid, key):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return -1
def machine():
    f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = f[3] + f[4]
    return sum(f[:8]) - idle, sum(f[:8])
def line(op, moto, kube):
    busy, total = machine()
    rss, hwm = status(op, "VmRSS"), status(op, "VmHWM")
    moto_cpu, kube_cpu = cpu(moto) if moto else -1, cpu(kube) if kube else -1
    return f"{time.time():.3f} {rss} {hwm} {cpu(op)} {moto_cpu} {kube_cpu} {busy} {total}"
'

# mark NAME: the counters now, under a name the summary uses.
mark() { "$PY" -c "$SNAP_PY"'
import sys; print(sys.argv[1], line(int(sys.argv[2]), sys.argv[3], sys.argv[4]))' "$1" "$OP_PID" "$MOTO_PID" "$KUBE_PID" >>"$WORK/marks"; }
metrics() { curl -sf "http://$ADMIN/metrics" >"$WORK/metrics.$1"; }

say "binary: $BIN"
say "namespace $NS: $COUNT migrations of $RECORDS A records, then ${STEADY}s steady${RESYNC:+ (re-sync every $RESYNC)}"

kubectl apply -f "$ROOT/crds/hostedzonemigration.yaml" >/dev/null
kubectl wait --for=condition=Established crd/hostedzonemigrations.zoneshift.io --timeout=30s >/dev/null
kubectl create namespace "$NS" >/dev/null

# The resources, generated before anything is timed.
"$PY" - "$COUNT" "$RECORDS" "$$" "$POLICY" >"$WORK/migrations.yaml" <<'PY'
import sys
count, records, tag, policy = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
for i in range(count):
    print("---\napiVersion: zoneshift.io/v1alpha1\nkind: HostedZoneMigration")
    print(f"metadata: {{name: bench-{i:03d}}}")
    print(f"spec:\n  domain: bench-{i:03d}-{tag}.example.com\n  hostedZone: {{deletionPolicy: {policy}}}\n  records:")
    for r in range(records):
        print(f"    - {{name: host-{r:04d}, type: A, ttl: 300, values: [198.51.100.{r % 250 + 1}]}}")
PY

"$BIN" run --namespace "$NS" --admin-addr "$ADMIN" --route53-rps "$RPS" ${RESYNC:+--resync-interval "$RESYNC"} \
  --log-format json >"$WORK/operator.log" 2>&1 &
OP_PID=$!
for _ in $(seq 100); do
  [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADMIN/readyz")" == 200 ]] && break
  kill -0 "$OP_PID" 2>/dev/null || { say "the operator exited during start-up"; exit 1; }
  sleep 0.2
done
[[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADMIN/readyz")" == 200 ]] || { say "/readyz never answered 200"; exit 1; }
say "operator ready (pid $OP_PID)"

# The sampler: one line of counters a second until the operator exits or it is stopped.
"$PY" -c "$SNAP_PY"'
import sys, time
op, moto, kube = int(sys.argv[1]), sys.argv[2], sys.argv[3]
nxt = time.monotonic()
while os.path.exists(f"/proc/{op}"):
    print(line(op, moto, kube), flush=True)
    nxt += 1.0
    time.sleep(max(0.0, nxt - time.monotonic()))' "$OP_PID" "$MOTO_PID" "$KUBE_PID" >"$WORK/samples" &
SAMPLER_PID=$!

sleep 5  # the idle operator, for the baseline
mark idle
metrics idle

say "applying $COUNT migrations"
mark start
kubectl apply -n "$NS" -f "$WORK/migrations.yaml" >/dev/null
mark applied
say "waiting until every migration has RecordsSynced=True (timeout ${SYNC_TIMEOUT}s)"
kubectl wait -n "$NS" --for=condition=RecordsSynced hzm --all --timeout="${SYNC_TIMEOUT}s" >/dev/null \
  || { say "not every migration reached RecordsSynced"; exit 1; }
mark synced
metrics synced
synced="$(kubectl get -n "$NS" hzm -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="RecordsSynced")].status}{"\n"}{end}' | grep -c '^True$' || true)"
[[ "$synced" == "$COUNT" ]] || { say "only $synced of $COUNT migrations have RecordsSynced=True"; exit 1; }
say "all $COUNT in sync; steady window of ${STEADY}s"

sleep "$STEADY"
mark steady
metrics steady
still="$(kubectl get -n "$NS" hzm -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="RecordsSynced")].status}{"\n"}{end}' | grep -c '^True$' || true)"
[[ "$still" == "$COUNT" ]] || { say "only $still of $COUNT migrations stayed in sync"; exit 1; }
kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""
if [[ -n "${ZS_BENCH_SAMPLES:-}" ]]; then cp "$WORK/samples" "$ZS_BENCH_SAMPLES"; cp "$WORK/marks" "$ZS_BENCH_SAMPLES.marks"; fi

"$PY" - "$WORK" "$COUNT" "$RECORDS" "$STEADY" "${BIN#"$ROOT"/}" "--route53-rps $RPS${RESYNC:+ --resync-interval $RESYNC}" <<'PY'
import os, re, sys
work, count, records, steady, binary, flags = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6]
HZ = os.sysconf("SC_CLK_TCK")
FIELDS = ("t", "rss", "hwm", "op", "moto", "kube", "busy", "total")
def parse(line):
    return dict(zip(FIELDS, (float(x) for x in line.split())))
marks = {}
for line in open(f"{work}/marks"):
    name, rest = line.split(" ", 1)
    marks[name] = parse(rest)
samples = [parse(l) for l in open(f"{work}/samples") if len(l.split()) == len(FIELDS)]

def within(a, b):
    return [s for s in samples if marks[a]["t"] <= s["t"] <= marks[b]["t"]]
def cpu_s(a, b, who="op"):
    x, y = marks[a][who], marks[b][who]
    return (y - x) / HZ if x >= 0 and y >= 0 else float("nan")
def wall(a, b):
    return marks[b]["t"] - marks[a]["t"]
def busiest(a, b):
    """The most CPU the operator used in one sampling second (the mean of a window too short)."""
    w = within(a, b)
    return max(((q["op"] - p["op"]) / HZ / (q["t"] - p["t"]) for p, q in zip(w, w[1:])),
               default=cpu_s(a, b) / wall(a, b))
def machine(a, b):
    return (marks[b]["busy"] - marks[a]["busy"]) / (marks[b]["total"] - marks[a]["total"]) * os.cpu_count()
def mib(kb):
    return kb / 1024

def requests(name):
    out = {}
    for m in re.finditer(r'^zoneshift_route53_requests_total\{([^}]*)\} (\d+)', open(f"{work}/metrics.{name}").read(), re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        key = (labels.get("operation", "?"), labels.get("outcome", "?"))
        out[key] = out.get(key, 0) + int(m.group(2))
    return out
def diff(a, b):
    ra, rb = requests(a), requests(b)
    return {k: rb.get(k, 0) - ra.get(k, 0) for k in rb if rb.get(k, 0) - ra.get(k, 0)}
def fmt(d):
    by_op = {}
    for (op, outcome), n in d.items():
        by_op.setdefault(op, []).append(f"{n}" if outcome == "ok" else f"{n} {outcome}")
    return ", ".join(f"{op} {'+'.join(v)}" for op, v in sorted(by_op.items())) or "none"

sync, steady_w = within("start", "synced"), within("synced", "steady")
peak = max([s["rss"] for s in samples] + [marks["steady"]["rss"]])
steady_rss = [s["rss"] for s in steady_w] or [marks["steady"]["rss"]]
sync_wall = wall("start", "synced")
sync_req, steady_req = diff("idle", "synced"), diff("synced", "steady")

rows = [
    ("binary", binary),
    ("migrations x A records", f"{count} x {records} ({flags})"),
    ("RSS idle, before the apply", f"{mib(marks['idle']['rss']):.1f} MiB"),
    ("RSS peak (1 s samples)", f"{mib(peak):.1f} MiB"),
    ("RSS peak (kernel VmHWM)", f"{mib(marks['steady']['hwm']):.1f} MiB"),
    ("RSS steady (mean / max)", f"{mib(sum(steady_rss) / len(steady_rss)):.1f} / {mib(max(steady_rss)):.1f} MiB"),
    ("initial sync: wall time", f"{sync_wall:.1f} s (apply: {wall('start', 'applied'):.1f} s)"),
    ("initial sync: operator CPU", f"{cpu_s('start', 'synced'):.2f} s"),
    ("initial sync: operator mean cores", f"{cpu_s('start', 'synced') / sync_wall:.3f} ({cpu_s('start', 'synced') / sync_wall * 1000:.0f}m)"),
    ("initial sync: operator busiest second", f"{busiest('start', 'synced'):.3f} cores"),
    ("steady: operator CPU", f"{cpu_s('synced', 'steady'):.2f} s in {wall('synced', 'steady'):.0f} s"),
    ("steady: operator mean cores", f"{cpu_s('synced', 'steady') / wall('synced', 'steady'):.4f} ({cpu_s('synced', 'steady') / wall('synced', 'steady') * 1000:.1f}m)"),
    ("steady: operator busiest second", f"{busiest('synced', 'steady'):.3f} cores"),
    ("initial sync: moto CPU (shared)", f"{cpu_s('start', 'synced', 'moto'):.1f} s, mean {cpu_s('start', 'synced', 'moto') / sync_wall:.2f} cores"),
    ("initial sync: Kubernetes API CPU (shared)", f"{cpu_s('start', 'synced', 'kube'):.1f} s, mean {cpu_s('start', 'synced', 'kube') / sync_wall:.2f} cores"),
    ("initial sync: whole machine", f"{machine('start', 'synced'):.2f} of {os.cpu_count()} cores busy"),
    ("steady: whole machine", f"{machine('synced', 'steady'):.2f} of {os.cpu_count()} cores busy"),
    ("Route 53 requests, initial sync", f"{sum(sync_req.values())}: {fmt(sync_req)}"),
    ("Route 53 requests, steady", f"{sum(steady_req.values())}: {fmt(steady_req)}"),
]
w = max(len(k) for k, _ in rows)
for k, v in rows:
    print(f"{k:<{w}} | {v}")
PY
