#!/usr/bin/env bash
# Operator figures against the kube emulator, with a synthetic state of N AIMServices:
# time to converge (every service has its InferenceService and writes stop), resident
# memory after convergence, writes in an idle window, and the latency from applying one
# new AIMService to its InferenceService existing.
#
#   benches/operator.sh [--services N] [--idle S] [--samples K] [--settle S] [--timeout S] [--max-rss MB] [--emulator-gc]
#
# Defaults: 10000 services, 30 s idle, 5 samples, 5 s without writes = settled, 1800 s to
# converge, stop the operator above 8192 MB RSS. Uses $AIMCTL (default target/release/aimctl,
# built when missing), $KUBE_EMULATOR_DIR (default ../shared/tools/kube-emulator), curl >= 7.75,
# jq and the Python yq (`yq -c .`). As in the e2e tests, only the service controller runs
# (--controllers service) and the script plays the supporting controllers: model, templates
# and caches get their (Ready) status through the status subresource, since template
# discovery needs pod logs the emulator cannot serve.
set -euo pipefail

cd "$(dirname "$0")/.."
services=10000 idle=30 samples=5 settle=5 timeout=1800 max_rss=8192 emulator_gc=0
while [ $# -gt 0 ]; do
  case "$1" in
    --services) services=$2 ;; --idle) idle=$2 ;; --samples) samples=$2 ;;
    --settle) settle=$2 ;; --timeout) timeout=$2 ;; --max-rss) max_rss=$2 ;;
    --emulator-gc) emulator_gc=1; shift; continue ;;
    *) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
  shift 2
done
AIMCTL=${AIMCTL:-target/release/aimctl}
EMU=${KUBE_EMULATOR_DIR:-../shared/tools/kube-emulator}
for tool in curl jq yq; do command -v $tool >/dev/null || { echo "operator.sh: no $tool" >&2; exit 1; }; done

ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }   # now, in milliseconds
secs() { printf '%.1f' "$1e-3"; }                  # milliseconds -> seconds
began=$(ms)
log() { printf '[%6.1fs] %s\n' "$(( $(ms) - began ))e-3" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
pause() { sleep "$1" & wait $!; }                  # a sleep that signals can interrupt

work=$(mktemp -d -t aimctl-operator-bench.XXXXXX)
op_pid=""
cleanup() {
  local rc=$?
  [ -n "$op_pid" ] && kill "$op_pid" 2>/dev/null && wait "$op_pid" 2>/dev/null || true
  "$EMU/stop" --kubeconfig "$work/kubeconfig" >/dev/null 2>&1 || true
  if [ $rc -eq 0 ] && [ -z "${KEEP:-}" ]; then rm -rf "$work"; else echo "operator.sh: kept $work (operator.log; kubeconfig.log is the emulator's)" >&2; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# 1. The binary.
if [ ! -x "$AIMCTL" ]; then
  [ "$AIMCTL" = target/release/aimctl ] || die "AIMCTL=$AIMCTL is not an executable"
  log "building $AIMCTL"; cargo build --release --bin aimctl >&2
fi
log "binary: $AIMCTL (built $(date -r "$AIMCTL" '+%F %T'))"

# 2. The state, one JSON object a line.
"$AIMCTL" generate --services "$services" --templates 20 --namespaces 10 | yq -c . > "$work/objects.jsonl"
log "generated $(wc -l < "$work/objects.jsonl") objects"

# 3. The emulator, then every object and the supporting statuses, by parallel curl.
#    The emulator's garbage collector runs after every write, over every object, on the
#    one thread that serves all requests: with 5,000 objects each write costs it ~12 ms,
#    Events included (a new service records ten). A real API server's collector is a
#    controller of kube-controller-manager, off the write path, and nothing here deletes,
#    so the emulator runs without it unless --emulator-gc asks for it as shipped.
venv=${XDG_CACHE_HOME:-$HOME/.cache}/kube-emulator/venv
emu=$("$EMU/start" --venv "$venv" --kubeconfig "$work/kubeconfig" --crds crds --crds "$EMU/crds/third-party") || die "emulator start"
eval "$emu"
if [ "$emulator_gc" = 0 ]; then   # `start` made the venv; the same emulator again, on the same port, without GC
  "$EMU/stop" --kubeconfig "$work/kubeconfig" >/dev/null
  "$venv/bin/python" "$EMU/kube_emulator.py" --no-gc --port "$EMULATOR_PORT" --port-file "$work/kubeconfig.port" \
    --crds "$PWD/crds" --crds "$EMU/crds/third-party" > "$work/kubeconfig.log" 2>&1 &
  EMULATOR_PID=$!
  echo "$EMULATOR_PID" > "$work/kubeconfig.pid"
  for _ in $(seq 100); do curl -sf "$EMULATOR_URL/readyz" >/dev/null && break; pause 0.2; done
  curl -sf "$EMULATOR_URL/readyz" >/dev/null || die "the emulator did not restart without GC"
fi
export KUBECACHEDIR=$work/kube-cache
stats() { curl -sf "$EMULATOR_URL/_emulator/stats"; }
# Objects on stdin; $1 is a jq filter giving {method, path, ctype, body} per request.
send() {
  jq -r --arg u "$EMULATOR_URL" '
    def path: (if .apiVersion == "v1" then "/api/v1" else "/apis/\(.apiVersion)" end)
      + (if .metadata.namespace then "/namespaces/\(.metadata.namespace)" else "" end)
      + "/\(.kind | ascii_downcase)s";
    '"$1"' | "url = \"\($u)\(.path)\"\nrequest = \(.method)\nheader = \"Content-Type: \(.ctype)\"\n"
      + "data-binary = \(.body | tojson | tojson)\noutput = /dev/null\nwrite-out = \"%{http_code} %{url}\\n\"\nnext"' \
    | sed '$d' > "$work/requests.cfg"
  curl -s --no-progress-meter --parallel --parallel-max 32 -K "$work/requests.cfg" > "$work/answers" 2>&1 || true
  local bad; bad=$(grep -vc '^20[01] ' "$work/answers" || true)
  [ "$bad" = 0 ] || { grep -v '^20[01] ' "$work/answers" | head -5 >&2; die "$bad requests failed"; }
  wc -l < "$work/answers"
}
create='{method: "POST", path: path, ctype: "application/json", body: del(.status)}'
t=$(ms)
n1=$(jq -c 'select(.metadata.namespace == null)' "$work/objects.jsonl" | send "$create")
n2=$(jq -c 'select(.metadata.namespace != null)' "$work/objects.jsonl" | send "$create")
n3=$(jq -c 'select(.status != null and .kind != "AIMService")' "$work/objects.jsonl" \
  | send '{method: "PATCH", path: "\(path)/\(.metadata.name)/status", ctype: "application/merge-patch+json", body: {status}}')
load_s=$(secs $(( $(ms) - t )))
log "created $((n1 + n2)) objects and $n3 statuses in ${load_s}s"

# 4. The operator, until every service has its InferenceService and the API's resourceVersion
#    and the operator's writes (no-op applies included) stop moving for $settle seconds.
progress() { stats | jq -r '"\(.resourceVersion) \([(.writes.byFieldManager.aimctl // {})[]] | add // 0)"'; }
isvcs() {
  curl -sf "$EMULATOR_URL/apis/serving.kserve.io/v1beta1/inferenceservices?limit=1" \
    | jq '(.items | length) + (.metadata.remainingItemCount // 0)'
}
mem() { awk -v k="$1:" '$1 == k { printf "%.0f", $2 / 1024 }' "/proc/$op_pid/status" 2>/dev/null || echo "?"; }
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }   # CPU time of a process, in clock ticks
t0=$(ms)
env -u POD_NAMESPACE RUST_LOG="${RUST_LOG:-info}" "$AIMCTL" operator --controllers service \
  --metrics-addr 127.0.0.1:0 --log-format text > "$work/operator.log" 2>&1 &
op_pid=$!
last="" t_last=$t0 t_all="" shown=$t0 outcome=converged rss_sync="?"
cpu_op=$(cpu "$op_pid") cpu_emu=$(cpu "$EMULATOR_PID")
while :; do
  kill -0 "$op_pid" 2>/dev/null || { outcome="operator exited"; break; }
  [ "$rss_sync" = "?" ] && grep -q "caches synced" "$work/operator.log" && rss_sync=$(mem VmRSS)
  p=$(progress) n=$(isvcs) t=$(ms) rss=$(mem VmRSS)
  [ "$p" != "$last" ] && last=$p t_last=$t
  [ -z "$t_all" ] && [ "$n" -ge "$services" ] && t_all=$t
  [ -n "$t_all" ] && [ $(( t - t_last )) -ge $(( settle * 1000 )) ] && break
  [ $(( t - t0 )) -lt $(( timeout * 1000 )) ] || { outcome="not converged in ${timeout}s"; break; }
  [ "$rss" -lt "$max_rss" ] || { outcome="stopped at ${rss} MB RSS"; break; }
  [ $(( t - shown )) -ge 10000 ] && shown=$t && log "$(secs $(( t - t0 )))s: $n/$services InferenceServices, rv ${p% *}, ${p#* } aimctl writes, RSS $rss MB"
  pause 0.5
done
rss=$(mem VmRSS) hwm=$(mem VmHWM) tck=$(getconf CLK_TCK)
cpu_op=$(( ($(cpu "$op_pid" 2>/dev/null || echo "$cpu_op") - cpu_op) / tck )) cpu_emu=$(( ($(cpu "$EMULATOR_PID") - cpu_emu) / tck ))
all_s=${t_all:+$(secs $(( t_all - t0 ))) s} conv_s=$(secs $(( t_last - t0 )))
log "$outcome: $n/$services InferenceServices (all after ${all_s:-never}), last write after ${conv_s}s"
log "writes so far: $(stats | jq -c '.writes.byResource | with_entries(select(.key | test("status|inference|httproute|event|cache|aimservices")))')"
log "operator memory: VmRSS $rss_sync MB after the cache synced, now VmRSS $rss MB, VmHWM $hwm MB; CPU while waiting: operator ${cpu_op}s, emulator ${cpu_emu}s"
metrics=$(curl -s "http://$(grep -om1 'addr=[0-9.:]*' "$work/operator.log" | cut -d= -f2)/metrics" || true)
log "operator metrics: $(grep -E '^aimctl_(reconciles_total|snapshot_builds_total|snapshot_objects|writes_total)' <<< "$metrics" | tr '\n' ' ')"

idle_all="-" idle_ours="-" lat=() median="-" per_write="-"
if [ "$outcome" = converged ]; then
  # 5. Idle writes: every successful write (Events have no field manager) and aimctl's.
  curl -sf -XPOST "$EMULATOR_URL/_emulator/reset-stats" -d '{}' >/dev/null
  pause "$idle"
  idle_w=$(stats | jq -c .writes)
  idle_all=$(jq '[.create, .update, .patch, .apply, .delete, .deletecollection] | add' <<< "$idle_w")
  idle_ours=$(jq -r '.byFieldManager.aimctl // {} | "\([to_entries[] | select(.key != "noop") | .value] | add // 0) (+\(.noop // 0) no-op)"' <<< "$idle_w")
  log "writes in ${idle}s idle: $idle_all in all, $idle_ours by aimctl: $idle_w"

  # The emulator's own cost at this size: sequential writes, each by its own curl (with --emulator-gc, each waits
  # for a GC pass over every object).
  curl -sf -XPOST -H 'Content-Type: application/json' -d '{"metadata":{"name":"bench-probe"}}' "$EMULATOR_URL/api/v1/namespaces/default/configmaps" >/dev/null
  t=$(ms)
  for i in $(seq 1 20); do
    curl -sf -XPATCH -H 'Content-Type: application/merge-patch+json' -d "{\"data\":{\"i\":\"$i\"}}" "$EMULATOR_URL/api/v1/namespaces/default/configmaps/bench-probe" >/dev/null
  done
  per_write=$(printf '%.1f' "$(( ($(ms) - t) * 50 ))e-3")
  log "emulator: $per_write ms per sequential write"

  # 6. Apply a new AIMService -> its InferenceService exists (a watch from the resourceVersion before the apply).
  for i in $(seq 1 "$samples"); do
    name=bench-$i-$$ ns=team-$(( i % 10 ))
    rv=$(stats | jq -r .resourceVersion)
    body="{\"apiVersion\":\"aim.eai.amd.com/v1alpha1\",\"kind\":\"AIMService\",\"metadata\":{\"name\":\"$name\",\"namespace\":\"$ns\"},\"spec\":{\"model\":{\"name\":\"qwen3-32b\"},\"replicas\":1}}"
    a=${EPOCHREALTIME/./}
    curl -sf -XPATCH -H 'Content-Type: application/apply-patch+yaml' -d "$body" \
      "$EMULATOR_URL/apis/aim.eai.amd.com/v1alpha1/namespaces/$ns/aimservices/$name?fieldManager=bench&force=true" >/dev/null
    line=""
    read -r line < <(exec curl -sN --max-time 60 "$EMULATOR_URL/apis/serving.kserve.io/v1beta1/namespaces/$ns/inferenceservices?watch=1&resourceVersion=$rv&labelSelector=aim.eai.amd.com%2Fservice%3D$name") || true
    b=${EPOCHREALTIME/./}
    kill $! 2>/dev/null || true
    [[ $line == *'"ADDED"'* ]] || die "no InferenceService for $ns/$name within 60s"
    lat+=("$(printf '%.1f' "$(( b - a ))e-3")")
    log "sample $i: $ns/$name -> InferenceService in ${lat[-1]} ms, $(( $(jq -r .object.metadata.resourceVersion <<< "$line") - rv - 2 )) writes committed between the apply and it"
    pause 1
  done
  median=$(printf '%s\n' "${lat[@]}" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}')
fi
rss_end=$(mem VmRSS) hwm_end=$(mem VmHWM)
errors=$(grep -cE '\b(ERROR|WARN)\b' "$work/operator.log" || true)
[ "$errors" = 0 ] || { log "ERROR/WARN lines in the operator log (first 5):"; grep -E '\b(ERROR|WARN)\b' "$work/operator.log" | head -5 | cut -c1-400 >&2; }

# 7. Summary (the trap stops the operator and the emulator).
printf '\n%-44s %-30s %s\n' "operator, $services AIMServices" figure goal
printf '%-44s %-30s %s\n' "load state ($((n1 + n2)) objects + $n3 statuses)" "${load_s} s" "" \
  "all InferenceServices exist" "${all_s:-no ($n/$services)}" "" \
  "$outcome; last write after" "${conv_s} s" "" \
  "VmRSS after the cache synced" "$rss_sync MB" "<= 64 MB" \
  "VmRSS / VmHWM when the wait ended" "$rss / $hwm MB" "<= 64 MB" \
  "VmRSS / VmHWM at the end" "$rss_end / $hwm_end MB" "" \
  "CPU while waiting: operator / emulator" "$cpu_op / $cpu_emu s" "" \
  "writes in ${idle} s idle: all / by aimctl" "$idle_all / $idle_ours" "0" \
  "apply -> InferenceService, ${#lat[@]} samples" "${lat[*]:--} ms" "" \
  "  median" "$median ms" "<= 100 ms" \
  "emulator alone: one sequential write" "$per_write ms" "" \
  "emulator's garbage collector" "$([ "$emulator_gc" = 1 ] && echo on || echo 'off (see step 3)')" "" \
  "ERROR/WARN lines in the operator log" "$errors" "0" \
  "whole script" "$(secs $(( $(ms) - began ))) s" ""
[ "$outcome" = converged ]
