#!/usr/bin/env bash
# End-to-end check of a deployment: the subscriber answers /health and /status
# with an identity token, POST /test-pubsub publishes one test envelope per
# catalog topic, and each of them arrives on its topic. When the subscriber
# has no instance (outside the daily window) it gets one for the check; on
# exit the count found at the start is put back, unless by then the schedule
# keeps an instance (the clock is read at that moment, scale-up lead
# included) or the count was changed meanwhile. Leaves nothing behind.
#
#   DEPLOY_ENV=dev|prod  DEPLOY_PROJECT=<project-id>  scripts/smoke.sh
source "$(dirname "$0")/deploy-env.sh"

say "Checking prerequisites"
load_deploy_env
need_api run.googleapis.com pubsub.googleapis.com
url=$(service_url "$SUBSCRIBER_SERVICE")
[ -n "$url" ] || die "Service $SUBSCRIBER_SERVICE not found in $REGION: run scripts/deploy.sh first."
token=$(gcloud auth print-identity-token 2>/dev/null) || die "Could not get an identity token: run gcloud auth login."
call() { curl_with_token "$token" -sS --max-time 60 "$@"; }

before=$(instance_count) || die "Could not read the instance count of $SUBSCRIBER_SERVICE through the Cloud Run Admin API (run.services.get)."
raised=""
run_id="smoke-$(date -u +%Y%m%d%H%M%S)"
subs=()
cleanup() {
  local s now
  for s in ${subs[@]+"${subs[@]}"}; do gcloud pubsub subscriptions delete "$s" --project "$PROJECT" --quiet >/dev/null 2>&1 || true; done
  [ -n "$raised" ] || return 0
  if schedule_keeps_instance; then
    say "The schedule keeps one subscriber instance now ($JOB_SCALE_UP to $JOB_SCALE_DOWN): leaving it at 1"
    return 0
  fi
  now=$(instance_count || echo unknown)
  if [ "$now" != 1 ]; then
    warn "The instance count is $now, not the 1 this check set: someone changed it meanwhile, so it is left alone."
    return 0
  fi
  say "Putting the subscriber's instance count back to $before"
  set_instance_count "$before" ||
    warn "Could not. Outside the window run: gcloud scheduler jobs run $JOB_SCALE_DOWN --location $REGION --project $PROJECT"
}
trap cleanup EXIT

if [ "$before" = 0 ]; then
  if schedule_keeps_instance; then
    warn "The subscriber has no instance although the schedule should have one now: did $JOB_SCALE_UP fail? Setting 1 (and leaving it)."
  else
    say "The subscriber has no instance (outside $WINDOW): one for the check"
  fi
  # Marked first, so an interrupted call is still undone on exit.
  raised=1
  set_instance_count 1 || die "Could not set the instance count to 1 (run.services.update on $SUBSCRIBER_SERVICE)."
fi

say "GET $url/health"
for i in $(seq 1 36); do
  code=$(call -o /dev/null -w '%{http_code}' "$url/health" || true)
  [ "$code" = 200 ] && break
  [ "$i" = 36 ] && die "/health did not answer 200 within 3 minutes (last: $code). See: gcloud run services logs read $SUBSCRIBER_SERVICE --region $REGION --project $PROJECT"
  sleep 5
done
note "200"

say "GET $url/status"
call --fail-with-body "$url/status" | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const j = JSON.parse(s);
    for (const k of ["state", "instanceId", "protocol", "connectedSince", "lastMessageAt"]) if (k in j) console.log(`    ${k}: ${j[k]}`);
  });' || die "/status failed."

say "Subscribing to every feed topic (test messages only)"
for topic in $FEED_TOPICS; do
  sub="$run_id-$topic"
  gcloud pubsub subscriptions create "$sub" --project "$PROJECT" --topic "$topic" \
    --message-filter='attributes.test = "true"' --expiration-period=1d --message-retention-duration=10m \
    --labels=app=tote-pipeline,purpose=smoke >/dev/null || die "Could not create a subscription on $topic."
  subs+=("$sub")
done
note "${#subs[@]} subscriptions"

say "POST $url/test-pubsub"
result=$(call -X POST "$url/test-pubsub") || die "/test-pubsub failed."
echo "$result" | node -e '
  let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const j = JSON.parse(s);
    for (const [t, r] of Object.entries(j.topics ?? {})) if (!r.ok) console.log(`    ${t}: ${r.error}`);
    process.exit(j.ok ? 0 : 1);
  });' || die "The subscriber could not publish to every topic (above)."
note "published one test envelope per topic"

say "Waiting for each envelope on its topic"
failed=0
for topic in $FEED_TOPICS; do
  expected=$(echo "$result" | node -e 'let s="";process.stdin.on("data",(d)=>(s+=d)).on("end",()=>console.log(JSON.parse(s).topics[process.argv[1]].envelopeId))' "$topic")
  got=""
  for i in $(seq 1 10); do
    got=$(gcloud pubsub subscriptions pull "$run_id-$topic" --project "$PROJECT" --auto-ack --limit=10 \
      --format='value(message.attributes.envelopeId)' 2>/dev/null | grep -Fx "$expected" || true)
    [ -n "$got" ] && break
    sleep 3
  done
  if [ -n "$got" ]; then note "ok      $topic"; else note "MISSING $topic ($expected)"; failed=1; fi
done
[ "$failed" = 0 ] || die "Some test envelopes did not arrive (above)."

if [ "$SSE_ACCESS" = iap ]; then
  say "SSE service: behind IAP (DEPLOY_SSE_ACCESS=iap), not reachable directly; check it through the load balancer"
else
  say "GET $(service_url "$SSE_SERVICE")/health ($SSE_ACCESS)"
  sse_code=$(curl -sS --max-time 60 -o /dev/null -w '%{http_code}' "$(service_url "$SSE_SERVICE")/health" || true)
  [ "$sse_code" = 200 ] || die "The SSE service answered $sse_code."
  note "200"
fi

say "Smoke test passed"
