#!/usr/bin/env bash
# Leader election with two operator processes against the kube-apiserver of scripts/test-env,
# both running as the chart's ServiceAccount (ZS_OPERATOR_KUBECONFIG), so the real Lease in the
# chart's namespace is created, renewed and released under the chart's Role: one acts, the
# other waits; killing the first hands over within the lease duration; a graceful stop releases
# the lease. Prints "N passed, N failed".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${ZS_ROUTE53_ENDPOINT:?run: eval \"\$(scripts/test-env env)\"}"
: "${ZS_OPERATOR_KUBECONFIG:?run: eval \"\$(scripts/test-env env)\"}"
BIN="${ZS_BIN:-$ROOT/target/debug/zoneshift}"
NS="zs-leader-$$"
# The chart's Role grants the Lease zoneshift-leader in the release's namespace only.
LEASE_NS="${ZS_OPERATOR_NAMESPACE:-zoneshift-system}"
LEASE_SECONDS=3
declare -A PID ADMIN=([a]=127.0.0.1:18082 [b]=127.0.0.1:18083)
LOGS="$(mktemp -d)"
passed=0

fail() {
  echo "leader-election: FAIL: $*" >&2
  for r in a b; do echo "--- replica $r ---" >&2; tail -n 15 "$LOGS/$r.log" >&2 || true; done
  echo "$passed passed, 1 failed"
  exit 1
}
ok() { passed=$((passed + 1)); echo "leader-election: ok: $*"; }
cleanup() {
  for r in a b; do [[ -n "${PID[$r]:-}" ]] && kill -9 "${PID[$r]}" 2>/dev/null || true; done
  kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  rm -rf "$LOGS"
}
trap cleanup EXIT

start() { # replica
  KUBECONFIG="$ZS_OPERATOR_KUBECONFIG" POD_NAME="zoneshift-$1" "$BIN" run --namespace "$NS" --log-format text --admin-addr "${ADMIN[$1]}" \
    --leader-election --leader-election-namespace "$LEASE_NS" --leader-election-lease-duration "${LEASE_SECONDS}s" \
    --change-poll-interval 1s >"$LOGS/$1.log" 2>&1 &
  PID[$1]=$!
}
holder() { kubectl get lease -n "$LEASE_NS" zoneshift-leader -o jsonpath='{.spec.holderIdentity}' 2>/dev/null || true; }
metric() { curl -s "http://${ADMIN[$1]}/metrics" | awk -v m="$2" '$1 == m { print $2 }'; }

kubectl apply -f "$ROOT/crds/hostedzonemigration.yaml" >/dev/null
kubectl wait --for=condition=Established crd/hostedzonemigrations.zoneshift.io --timeout=30s >/dev/null
kubectl create namespace "$NS" >/dev/null
kubectl delete lease -n "$LEASE_NS" zoneshift-leader --ignore-not-found >/dev/null  # one an earlier run left
start a
for _ in $(seq 50); do [[ "$(holder)" == zoneshift-a ]] && break; sleep 0.1; done
[[ "$(holder)" == zoneshift-a ]] || fail "replica a never took the lease"
start b
sleep 2
[[ "$(holder)" == zoneshift-a ]] || fail "replica b took a lease that a holds"
[[ "$(metric a zoneshift_leader)" == 1 && "$(metric b zoneshift_leader)" == 0 ]] || fail "zoneshift_leader should be 1 on a and 0 on b"
ok "a holds the lease, b waits"

kubectl apply -n "$NS" -f - >/dev/null <<YAML
apiVersion: zoneshift.io/v1alpha1
kind: HostedZoneMigration
metadata: {name: site}
spec:
  domain: leader-$$.example.com
  records: [{name: www, type: A, values: [192.0.2.1]}]
YAML
kubectl wait -n "$NS" --for=condition=RecordsSynced hzm/site --timeout=30s >/dev/null || fail "the leader did not sync"
[[ -z "$(metric b zoneshift_reconciles_total)" ]] || fail "the standby reconciled"
ok "only the leader reconciles"

kill -9 "${PID[a]}"
wait "${PID[a]}" 2>/dev/null || true
killed=$(date +%s%3N)
for _ in $(seq 100); do [[ "$(holder)" == zoneshift-b ]] && break; sleep 0.1; done
[[ "$(holder)" == zoneshift-b ]] || fail "b did not take over after a was killed"
took_ms=$(($(date +%s%3N) - killed))
echo "leader-election: handover took ${took_ms} ms (lease ${LEASE_SECONDS} s, renewed every 1 s)"
# The lease runs out at most LEASE_SECONDS after a's last renewal; b asks every second.
((took_ms <= (LEASE_SECONDS + 2) * 1000)) || fail "handover took ${took_ms} ms, more than the lease duration allows"
ok "killing the leader hands over within the lease duration"

kubectl patch -n "$NS" hzm/site --type=merge -p '{"spec":{"records":[{"name":"www","type":"A","values":["192.0.2.2"]}]}}' >/dev/null
zone="$(kubectl get -n "$NS" hzm/site -o jsonpath='{.status.hostedZoneId}')"
for _ in $(seq 50); do "$ROOT/.venv/bin/python" "$ROOT/scripts/r53.py" list "$zone" | grep -q 192.0.2.2 && break; sleep 0.2; done
"$ROOT/.venv/bin/python" "$ROOT/scripts/r53.py" list "$zone" | grep -q 192.0.2.2 || fail "the new leader does not act"
ok "the new leader acts"

kill -TERM "${PID[b]}"
wait "${PID[b]}" 2>/dev/null || true
PID[b]=""
[[ -z "$(holder)" ]] || fail "a graceful stop did not release the lease (holder: $(holder))"
ok "a graceful stop releases the lease"
echo "$passed passed, 0 failed"
