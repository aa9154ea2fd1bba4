#!/usr/bin/env bash
# Smoke test of the Kubernetes emulator with kubectl, as a person would use it.
# Assumes `scripts/test-env up` ran. Exits non-zero on the first failure.
# ZS_SMOKE_CRD picks the CRD to test with (default: the sample beside this script).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
eval "$("$ROOT/scripts/test-env" env)"
CRD="${ZS_SMOKE_CRD:-$ROOT/tests/kube-emulator/sample-crd.yaml}"
NS="zs-smoke-$$"
WATCH_LOG="$(mktemp)"
WATCH_PID=""

fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
step() { echo "smoke: $*"; }
cleanup() {
  if [[ -n "$WATCH_PID" ]]; then kill "$WATCH_PID" 2>/dev/null || true; fi
  kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  rm -f "$WATCH_LOG"
}
trap cleanup EXIT

"$ROOT/scripts/test-env" status >/dev/null || fail "stand-ins not running: scripts/test-env up"

step "apply the CRD (no --validate=false needed)"
kubectl apply -f "$CRD"
kubectl wait --for=condition=Established crd/hostedzonemigrations.zoneshift.io --timeout=5s
kubectl create namespace "$NS"  # protobuf body: decoded for Namespace, ConfigMap, Secret

step "watch in the background"
timeout 60 kubectl get hzm -n "$NS" -w --output-watch-events >"$WATCH_LOG" 2>&1 &
WATCH_PID=$!
sleep 1  # let the watch start before the first change

step "apply a HostedZoneMigration"
kubectl apply -n "$NS" -f - <<'EOF'
apiVersion: zoneshift.io/v1alpha1
kind: HostedZoneMigration
metadata: {name: x}
spec:
  domain: example.com
  cutover: {mode: Manual, approved: false}
EOF
kubectl get hzm -A | grep -E "^$NS +x +example.com" || fail "kubectl get hzm -A does not list x"
kubectl get hzm x -n "$NS" -o yaml
for f in uid resourceVersion creationTimestamp; do
  [[ -n "$(kubectl get hzm x -n "$NS" -o jsonpath="{.metadata.$f}")" ]] || fail "metadata.$f not set"
done
[[ "$(kubectl get hzm x -n "$NS" -o jsonpath='{.metadata.generation}')" == 1 ]] || fail "generation is not 1"

step "status patch through /status; generation moves only with spec"
kubectl patch hzm x -n "$NS" --subresource=status --type=merge \
  -p '{"status":{"phase":"Syncing","observedGeneration":1}}'
[[ "$(kubectl get hzm x -n "$NS" -o jsonpath='{.status.phase} {.metadata.generation}')" == "Syncing 1" ]] \
  || fail "status patch did not land, or bumped generation"
kubectl patch hzm x -n "$NS" --type=merge -p '{"spec":{"cutover":{"approved":true}}}'
[[ "$(kubectl get hzm x -n "$NS" -o jsonpath='{.metadata.generation}')" == 2 ]] || fail "spec change did not bump generation"
kubectl patch hzm x -n "$NS" --type=merge -p '{"status":{"phase":"Hacked"}}'
[[ "$(kubectl get hzm x -n "$NS" -o jsonpath='{.status.phase}')" == Syncing ]] || fail "main resource patch changed status"

step "kubectl wait for Ready"
if kubectl wait --for=condition=Ready "hzm/x" -n "$NS" --timeout=1s 2>/dev/null; then
  fail "wait succeeded before Ready was set"
fi
# observedGeneration must reach metadata.generation (2): kubectl wait ignores conditions that lag.
kubectl patch hzm x -n "$NS" --subresource=status --type=merge -p '{"status":{"phase":"Completed","observedGeneration":2,
  "conditions":[{"type":"Ready","status":"True","reason":"Completed","message":"done","observedGeneration":2,
  "lastTransitionTime":"2026-01-01T00:00:00Z"}]}}'
kubectl wait --for=condition=Ready "hzm/x" -n "$NS" --timeout=5s

step "delete with a finalizer: stays with deletionTimestamp until the finalizer goes"
kubectl patch hzm x -n "$NS" --type=merge -p '{"metadata":{"finalizers":["zoneshift.io/cleanup"]}}'
kubectl delete hzm x -n "$NS" --wait=false
[[ -n "$(kubectl get hzm x -n "$NS" -o jsonpath='{.metadata.deletionTimestamp}')" ]] || fail "no deletionTimestamp"
kubectl patch hzm x -n "$NS" --type=json -p '[{"op":"remove","path":"/metadata/finalizers/0"}]'
if kubectl get hzm x -n "$NS" 2>/dev/null; then fail "x still exists after its finalizer was removed"; fi

step "the watch saw it all"
sleep 1
kill "$WATCH_PID" 2>/dev/null || true
wait "$WATCH_PID" 2>/dev/null || true
WATCH_PID=""
cat "$WATCH_LOG"
grep -qE '^ADDED +x ' "$WATCH_LOG" || fail "watch missed ADDED"
grep -qE '^MODIFIED +x .*Completed' "$WATCH_LOG" || fail "watch missed the Completed status"
grep -qE '^DELETED +x ' "$WATCH_LOG" || fail "watch missed DELETED"

echo "smoke: PASS"
