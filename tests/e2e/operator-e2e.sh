#!/usr/bin/env bash
# End-to-end: the real zoneshift binary, driven by kubectl, against the kube-apiserver of
# scripts/test-env and the Route 53 stand-in. kubectl acts as the admin (KUBECONFIG); the
# operator runs as the chart's ServiceAccount with exactly the chart's RBAC
# (ZS_OPERATOR_KUBECONFIG), so a verb the chart does not grant fails here. Apply, get, wait for
# RecordsSynced, check the records in Route 53, change the spec, delete with deletionPolicy Delete.
# Exits non-zero on the first failure and prints "N passed, N failed" at the end.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${ZS_ROUTE53_ENDPOINT:?run: eval \"\$(scripts/test-env env)\"}"
: "${KUBECONFIG:?KUBECONFIG must name the cluster to test against}"
: "${ZS_OPERATOR_KUBECONFIG:?run: eval \"\$(scripts/test-env env)\"}"
BIN="${ZS_BIN:-$ROOT/target/debug/zoneshift}"
PY="$ROOT/.venv/bin/python"
NS="zs-e2e-$$"
DOMAIN="e2e-$$.example.com"
LOG="$(mktemp)"
OP_PID=""
passed=0

fail() {
  echo "e2e: FAIL: $*" >&2
  echo "--- operator log (last 40 lines) ---" >&2
  tail -n 40 "$LOG" >&2 || true
  echo "$passed passed, 1 failed"
  exit 1
}
ok() { passed=$((passed + 1)); echo "e2e: ok: $*"; }
cleanup() {
  if [[ -n "$OP_PID" ]]; then kill "$OP_PID" 2>/dev/null || true; wait "$OP_PID" 2>/dev/null || true; fi
  kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  rm -f "$LOG"
}
trap cleanup EXIT

# Route 53 as boto3 sees it, for checks independent of zoneshift's own reading.
r53() { "$PY" "$ROOT/scripts/r53.py" "$@"; }

[[ -x "$BIN" ]] || fail "no binary at $BIN: run cargo build"
kubectl apply -f "$ROOT/crds/hostedzonemigration.yaml" >/dev/null
kubectl wait --for=condition=Established crd/hostedzonemigrations.zoneshift.io --timeout=30s >/dev/null
kubectl create namespace "$NS" >/dev/null

ADMIN="127.0.0.1:${ZS_E2E_ADMIN_PORT:-18081}"
KUBECONFIG="$ZS_OPERATOR_KUBECONFIG" "$BIN" run --namespace "$NS" --log-format text --resync-interval 5s --change-poll-interval 1s --admin-addr "$ADMIN" >"$LOG" 2>&1 &
OP_PID=$!
# /readyz turns 200 once the CRD is established and the cache has synced.
for _ in $(seq 100); do
  [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADMIN/readyz")" == 200 ]] && break
  sleep 0.2
done
[[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADMIN/readyz")" == 200 ]] || fail "/readyz never answered 200"
[[ "$(curl -s "http://$ADMIN/livez")" == ok ]] || fail "/livez is not ok"
ok "/livez and /readyz answer"

kubectl apply -n "$NS" -f - >/dev/null <<YAML
apiVersion: zoneshift.io/v1alpha1
kind: HostedZoneMigration
metadata: {name: site}
spec:
  domain: $DOMAIN
  hostedZone: {deletionPolicy: Delete}
  records:
    - {name: www, type: A, ttl: 300, values: [192.0.2.1]}
    - {name: "@", type: MX, values: ["10 mail.example.net."]}
    - {name: "@", type: TXT, values: ["v=spf1 -all"]}
YAML
ok "applied a HostedZoneMigration"

kubectl wait -n "$NS" --for=condition=RecordsSynced hzm/site --timeout=60s >/dev/null || fail "RecordsSynced never became True"
kubectl wait -n "$NS" --for=condition=Ready hzm/site --timeout=10s >/dev/null || fail "Ready is not True"
ok "RecordsSynced and Ready are True"

zone="$(kubectl get -n "$NS" hzm/site -o jsonpath='{.status.hostedZoneId}')"
[[ -n "$zone" ]] || fail "status.hostedZoneId is empty"
gen="$(kubectl get -n "$NS" hzm/site -o jsonpath='{.metadata.generation}')"
obs="$(kubectl get -n "$NS" hzm/site -o jsonpath='{.status.observedGeneration}')"
[[ "$gen" == "$obs" ]] || fail "observedGeneration $obs != generation $gen"
[[ "$(kubectl get -n "$NS" hzm/site -o jsonpath='{.status.records.inSync}')" == 3 ]] || fail "status.records.inSync is not 3"
kubectl get -n "$NS" hzm -o wide
ok "status: zone $zone, generation $gen observed, 3 in sync"

[[ "$(r53 count "$zone")" == 3 ]] || fail "Route 53 does not hold the 3 records: $(r53 list "$zone")"
ok "Route 53 holds the records"

metrics="$(curl -s "http://$ADMIN/metrics")"
for want in 'zoneshift_reconciles_total{result="ok"}' \
  'zoneshift_route53_requests_total{operation="ChangeResourceRecordSets",outcome="ok"}' \
  "zoneshift_records_desired{namespace=\"$NS\",name=\"site\"} 3" \
  "zoneshift_records_in_sync{namespace=\"$NS\",name=\"site\"} 3" \
  "zoneshift_migration_phase{namespace=\"$NS\",name=\"site\",phase=\"Syncing\"} 1" \
  'zoneshift_reconcile_duration_seconds_count'; do
  grep -qF "$want" <<<"$metrics" || fail "/metrics lacks $want"
done
ok "/metrics has reconciles, Route 53 requests, records and phase per migration"

kubectl patch -n "$NS" hzm/site --type=merge -p '{"spec":{"records":[{"name":"www","type":"A","ttl":300,"values":["192.0.2.2"]},{"name":"@","type":"MX","values":["10 mail.example.net."]},{"name":"@","type":"TXT","values":["v=spf1 -all"]}]}}' >/dev/null
for _ in $(seq 60); do
  r53 list "$zone" | grep -q '192.0.2.2' && break
  sleep 0.5
done
r53 list "$zone" | grep -q '192.0.2.2' || fail "the spec change did not reach Route 53"
gen2="$(kubectl get -n "$NS" hzm/site -o jsonpath='{.metadata.generation}')"
for _ in $(seq 20); do
  [[ "$(kubectl get -n "$NS" hzm/site -o jsonpath='{.status.observedGeneration}')" == "$gen2" ]] && break
  sleep 0.5
done
[[ "$(kubectl get -n "$NS" hzm/site -o jsonpath='{.status.observedGeneration}')" == "$gen2" ]] || fail "observedGeneration did not follow the spec change"
ok "a spec change reached Route 53 and observedGeneration followed"

kubectl delete -n "$NS" hzm/site --timeout=60s >/dev/null || fail "delete did not finish"
[[ "$(r53 exists "$zone")" == no ]] || fail "deletionPolicy Delete left zone $zone"
ok "deleted: the finalizer removed the records and the zone"

reasons="$(kubectl get events.v1.events.k8s.io -n "$NS" -o jsonpath='{.items[*].reason}')"
for want in ZoneCreated ChangesApplied RecordsDeleted ZoneDeleted; do
  [[ " $reasons " == *" $want "* ]] || fail "no $want event (events: $reasons)"
done
ok "events: $reasons"
forbidden="$(grep -ciE 'forbidden|403' "$LOG" || true)"
[[ "$forbidden" == 0 ]] || fail "the operator was refused something the chart does not grant: $(grep -iE 'forbidden|403' "$LOG" | head -3)"
ok "the chart's RBAC was enough: no 403 in the operator's log"
echo "$passed passed, 0 failed"
