#!/usr/bin/env bash
# The Helm chart installed for real: helm (built by scripts/test-env from tests/helm/) lints and
# renders charts/zoneshift, the kube-apiserver of scripts/test-env validates the rendered objects
# (server-side dry run), and `helm install` installs them. There is no kubelet here, so the
# Deployment's pod never runs: the test reads the installed Deployment's arguments and
# environment with kubectl and starts the operator as a local process with them, authenticated
# with a token of the installed ServiceAccount, and migrates a small zone (RecordsSynced=True,
# records in moto). Prints "N passed, N failed"; exits non-zero on the first failure.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
: "${ZS_ROUTE53_ENDPOINT:?run: eval \"\$(scripts/test-env env)\"}"
: "${ZS_HELM:?run: eval \"\$(scripts/test-env env)\"}"
BIN="${ZS_BIN:-$ROOT/target/debug/zoneshift}"
PY="$ROOT/.venv/bin/python"
REL="zs-helm-$$"
NS="zs-helm-$$"
APP_NS="zs-helm-app-$$"
ADMIN=127.0.0.1:18086
WORK="$(mktemp -d)"
OP_PID=""
passed=0

fail() {
  echo "helm-install: FAIL: $*" >&2
  [[ -f "$WORK/op.log" ]] && { echo "--- operator log (last 30 lines) ---" >&2; tail -n 30 "$WORK/op.log" >&2; }
  echo "$passed passed, 1 failed"
  exit 1
}
ok() { passed=$((passed + 1)); echo "helm-install: ok: $*"; }
cleanup() {
  if [[ -n "$OP_PID" ]]; then kill "$OP_PID" 2>/dev/null || true; wait "$OP_PID" 2>/dev/null || true; fi
  "$ZS_HELM" uninstall "$REL" -n "$NS" >/dev/null 2>&1 || true
  kubectl delete namespace "$NS" "$APP_NS" --wait=false >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
[[ -x "$BIN" ]] || fail "no binary at $BIN: run cargo build"
echo "helm-install: $("$ZS_HELM" version --short), server $(kubectl version -o json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["serverVersion"]["gitVersion"])')"

# Local settings: Route 53 is moto, /metrics listens on loopback (never 0.0.0.0 here).
VALUES=(--set "operator.route53Endpoint=$ZS_ROUTE53_ENDPOINT" --set "operator.adminAddr=$ADMIN"
  --set operator.logFormat=text --set aws.region=us-east-1 --set operator.changePollInterval=1s)

"$ZS_HELM" lint --strict "$ROOT/charts/zoneshift" "${VALUES[@]}" >"$WORK/lint.txt" 2>&1 || { cat "$WORK/lint.txt"; fail "helm lint"; }
ok "helm lint --strict: $(tail -n 1 "$WORK/lint.txt")"

"$ZS_HELM" template "$REL" "$ROOT/charts/zoneshift" -n "$NS" "${VALUES[@]}" >"$WORK/rendered.yaml" || fail "helm template"
kinds="$("$PY" -c 'import sys, yaml; print(" ".join(sorted(d["kind"] for d in yaml.safe_load_all(open(sys.argv[1])) if d)))' "$WORK/rendered.yaml")"
ok "helm template renders: $kinds"

kubectl create namespace "$NS" >/dev/null
kubectl create namespace "$APP_NS" >/dev/null
kubectl apply --dry-run=server -n "$NS" -f "$WORK/rendered.yaml" >/dev/null || fail "the server refused the rendered chart (dry run)"
ok "the server accepts every rendered object (server-side dry run)"

"$ZS_HELM" install "$REL" "$ROOT/charts/zoneshift" -n "$NS" "${VALUES[@]}" >"$WORK/install.txt" || { cat "$WORK/install.txt"; fail "helm install"; }
[[ "$("$ZS_HELM" status "$REL" -n "$NS" -o json | "$PY" -c 'import json,sys; print(json.load(sys.stdin)["info"]["status"])')" == deployed ]] \
  || fail "the release is not deployed"
ok "helm install: release $REL deployed"

DEPLOY="$(kubectl get deploy -n "$NS" -l "app.kubernetes.io/instance=$REL" -o name)"
[[ -n "$DEPLOY" ]] || fail "no Deployment installed"
SA="$(kubectl get -n "$NS" "$DEPLOY" -o jsonpath='{.spec.template.spec.serviceAccountName}')"
kubectl get -n "$NS" serviceaccount "$SA" >/dev/null || fail "the Deployment's ServiceAccount $SA was not installed"
kubectl get clusterrole,clusterrolebinding -l "app.kubernetes.io/instance=$REL" -o name | sed 's/^/  /'
# No kube-controller-manager and no kubelet: the Deployment gets no ReplicaSet and no pod.
[[ -z "$(kubectl get -n "$NS" "$DEPLOY" -o jsonpath='{.status.readyReplicas}')" ]] || fail "a pod runs?"
ok "$DEPLOY and ServiceAccount $SA installed (no pod runs: there is no kubelet)"

# The installed Deployment's container arguments and plain environment, as the pod would get them.
kubectl get -n "$NS" "$DEPLOY" -o json >"$WORK/deploy.json"
mapfile -t ARGS < <("$PY" -c 'import json,sys; [print(a) for a in json.load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0]["args"]]' "$WORK/deploy.json")
mapfile -t ENVS < <("$PY" -c 'import json,sys; [print(e["name"] + "=" + e["value"]) for e in json.load(open(sys.argv[1]))["spec"]["template"]["spec"]["containers"][0].get("env", []) if "value" in e]' "$WORK/deploy.json")
echo "  args: ${ARGS[*]}"
echo "  env:  ${ENVS[*]} (POD_NAME, POD_NAMESPACE from the downward API)"
[[ "${ARGS[0]}" == run ]] || fail "the container does not run \`zoneshift run\`"

token="$(kubectl create token -n "$NS" "$SA" --duration=1h)"
server="$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
ca="$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.certificate-authority}')"
cat >"$WORK/kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "$server", certificate-authority: "$ca"}}]
users: [{name: "$SA", user: {token: "$token"}}]
contexts: [{name: c, context: {cluster: c, user: "$SA"}}]
current-context: c
EOF
[[ "$(KUBECONFIG="$WORK/kubeconfig" kubectl auth whoami -o jsonpath='{.status.userInfo.username}')" == "system:serviceaccount:$NS:$SA" ]] \
  || fail "the token does not authenticate as the installed ServiceAccount"
env "${ENVS[@]}" POD_NAME="$REL-local" POD_NAMESPACE="$NS" KUBECONFIG="$WORK/kubeconfig" "$BIN" "${ARGS[@]}" >"$WORK/op.log" 2>&1 &
OP_PID=$!
for _ in $(seq 100); do
  [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADMIN/readyz")" == 200 ]] && break
  sleep 0.2
done
[[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$ADMIN/readyz")" == 200 ]] || fail "/readyz never answered 200"
ok "the operator runs locally with the Deployment's arguments as $SA, /readyz is 200"

kubectl apply -n "$APP_NS" -f - >/dev/null <<YAML
apiVersion: zoneshift.io/v1alpha1
kind: HostedZoneMigration
metadata: {name: site}
spec:
  domain: helm-$$.example.com
  hostedZone: {deletionPolicy: Delete}
  records:
    - {name: www, type: A, ttl: 300, values: [192.0.2.1]}
    - {name: "@", type: TXT, values: ["v=spf1 -all"]}
YAML
kubectl wait -n "$APP_NS" --for=condition=RecordsSynced hzm/site --timeout=60s >/dev/null || fail "RecordsSynced never became True"
zone="$(kubectl get -n "$APP_NS" hzm/site -o jsonpath='{.status.hostedZoneId}')"
[[ "$("$PY" "$ROOT/scripts/r53.py" count "$zone")" == 2 ]] || fail "Route 53 does not hold the 2 records: $("$PY" "$ROOT/scripts/r53.py" list "$zone")"
ok "a small zone migrated: RecordsSynced=True, zone $zone holds the records in moto"
kubectl delete -n "$APP_NS" hzm/site --timeout=60s >/dev/null || fail "delete did not finish"
! grep -qiE 'forbidden' "$WORK/op.log" || fail "the operator was refused something: $(grep -iE forbidden "$WORK/op.log" | head -2)"
ok "deleted with deletionPolicy Delete; no 403 in the operator's log"

"$ZS_HELM" uninstall "$REL" -n "$NS" >/dev/null || fail "helm uninstall"
[[ -z "$(kubectl get clusterrole -l "app.kubernetes.io/instance=$REL" -o name)" ]] || fail "uninstall left ClusterRoles"
ok "helm uninstall removed the release's objects"
echo "$passed passed, 0 failed"
