#!/usr/bin/env bash
# A heap profile of the operator importing one large zone by AXFR (docs/benchmarks.md, "Release
# build ... where the memory went"): restarts scripts/test-env's BIND with big.example.org of
# N records, runs `zoneshift run` under heaptrack (Debian's heaptrack), applies one
# HostedZoneMigration of that zone (deletionPolicy Delete, not approved), waits for
# ShadowVerified=True, stops the operator and prints heaptrack's summary and peak consumers.
# BIND is put back to the default zone at the end. With ZS_HEAPTRACK=0 the operator runs on
# its own (no heaptrack, which slows it and adds its own memory): only the kernel's peak RSS
# (VmHWM) is printed, as it is in both cases.
#
#   scripts/test-env up && eval "$(scripts/test-env env)"
#   cargo build --release && N=50000 benches/heap-profile.sh     # about 10 minutes at 50,000
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
: "${KUBECONFIG:?run: eval \"\$(scripts/test-env env)\"}"
N="${N:-50000}"
BIN="${ZS_BIN:-target/release/zoneshift}"
OUT="${ZS_HEAP_OUT:-$ROOT/.test-env/heap-$N}"
NS="zs-heap-$$"
restart_bind() { kill "$(cat .test-env/bind.pid)"; sleep 1; ZS_BIG_ZONE_RECORDS="$1" scripts/test-env up >/dev/null; }
restart_bind "$N"
eval "$(scripts/test-env env)"
kubectl apply -f crds/hostedzonemigration.yaml >/dev/null
kubectl create namespace "$NS" >/dev/null
rm -f "$OUT".*
WRAP=(heaptrack -o "$OUT")
[[ "${ZS_HEAPTRACK:-1}" == 0 ]] && WRAP=()
"${WRAP[@]}" "$BIN" run --namespace "$NS" --admin-addr 127.0.0.1:18099 --route53-rps 50 --log-format json \
  >"$OUT.log" 2>&1 &
sleep 3
started=$(date +%s)
kubectl apply -f - >/dev/null <<YAML
apiVersion: zoneshift.io/v1alpha1
kind: HostedZoneMigration
metadata: {name: big, namespace: $NS}
spec:
  domain: big.example.org
  hostedZone: {deletionPolicy: Delete}
  source:
    nameservers: ["$ZS_SOURCE_DNS"]
    axfr: {}
YAML
kubectl wait -n "$NS" --for=condition=ShadowVerified hzm/big --timeout=1800s >/dev/null
echo "heap-profile: ShadowVerified after $(($(date +%s) - started)) s"
pid="$(pgrep -f "^$BIN run --namespace $NS" | head -1)"
echo "heap-profile: operator $(grep -E '^VmHWM' "/proc/$pid/status" | tr -s ' \t' ' ') (peak RSS)"
# The operator itself (heaptrack's wrapper is its parent): stopped before its clean-up, which
# at 50,000 records takes long; the resource loses its finalizer instead.
pkill -TERM -f "^$BIN run --namespace $NS" || true
sleep 10
kubectl patch -n "$NS" hzm/big --type=merge -p '{"metadata":{"finalizers":null}}' >/dev/null || true
kubectl delete namespace "$NS" --wait=false >/dev/null
restart_bind 10000
if [[ "${ZS_HEAPTRACK:-1}" != 0 ]]; then
  heaptrack_print -f "$OUT".zst 2>/dev/null | grep -E "^peak heap|^peak RSS|peak memory consumed over" | head -12
fi
