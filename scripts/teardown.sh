#!/usr/bin/env bash
# Deletes everything the stacks created in one environment, history and
# secrets included. Deletion protection (on in prod) is lifted first: that is
# what typing the project id confirms. The state bucket and the enabled APIs
# are left; the last lines say how to remove the bucket.
#
#   DEPLOY_ENV=dev|prod  DEPLOY_PROJECT=<project-id>  scripts/teardown.sh [--yes]
source "$(dirname "$0")/deploy-env.sh"

yes=""
[ "${1:-}" = "--yes" ] && yes=1

say "Checking prerequisites"
load_deploy_env
need_terraform

say "This deletes the $DEPLOY_ENV deployment in $PROJECT: both services, the schedule, all topics,"
note "the BigQuery dataset $DATASET with ALL history, the secrets, the images and the accounts."
if [ -z "$yes" ]; then
  [ -t 0 ] || die "Not a terminal: pass --yes to confirm."
  read -r -p "    Type the project id to confirm: " answer
  [ "$answer" = "$PROJECT" ] || die "Not confirmed; nothing was deleted."
fi

# The image the subscriber runs: lifting protection must not roll out a new revision. Without a
# subscriber service there is nothing of the services stack to protect, and the destroy needs some
# image reference only because the stack names one (nothing is created from it).
current=$(gcloud run services describe "$SUBSCRIBER_SERVICE" --project "$PROJECT" --region "$REGION" \
  --format='value(spec.template.spec.containers[0].image)' 2>/dev/null || true)
export DEPLOY_IMAGE=${current:-$IMAGE_REPOSITORY:none}
export DEPLOY_DELETION_PROTECTION=false

if [ "$DELETION_PROTECTION" = true ]; then
  say "Lifting deletion protection"
  if [ -n "$current" ]; then
    cdktf deploy "$FOUNDATION_STACK" "$SERVICES_STACK" --auto-approve
  else
    # A services deploy here would create the services it is about to destroy.
    cdktf deploy "$FOUNDATION_STACK" --auto-approve --ignore-missing-stack-dependencies
  fi
fi

say "Stopping the subscriber"
url=$(service_url "$SUBSCRIBER_SERVICE")
if [ -n "$url" ]; then
  token=$(gcloud auth print-identity-token 2>/dev/null || true)
  curl_with_token "$token" -sS --max-time 60 -X POST "$url/stop" >/dev/null 2>&1 || note "not running"
  unset token
fi

say "Destroying $SERVICES_STACK"
cdktf destroy "$SERVICES_STACK" --auto-approve --ignore-missing-stack-dependencies
say "Destroying $FOUNDATION_STACK"
cdktf destroy "$FOUNDATION_STACK" --auto-approve --ignore-missing-stack-dependencies

# The custom roles are gone but their ids stay taken for 37 days: the next deploy of this
# environment uses the next generation of ids (read back by scripts/deploy-env.sh).
next_generation=$((DEPLOY_ROLE_GENERATION + 1))
if printf '%s' "$next_generation" | gcloud storage cp - "$(role_generation_object)" >/dev/null 2>&1; then
  note "custom roles of the next deploy: generation $next_generation (ids end in _$next_generation)"
else
  warn "Could not record the role generation in $(role_generation_object). Within 37 days, redeploy with DEPLOY_ROLE_GENERATION=$next_generation."
fi

say "Removing subscriptions the SSE instances left behind"
left=$(gcloud pubsub subscriptions list --project "$PROJECT" --filter='name~/subscriptions/(sse|smoke)-' --format='value(name)' 2>/dev/null || true)
for s in $left; do
  gcloud pubsub subscriptions delete "$s" --project "$PROJECT" --quiet >/dev/null && note "deleted ${s##*/}"
done
[ -n "$left" ] || note "none"

say "Done. Left in place: the enabled APIs and the state bucket. To remove the bucket too:"
note "gcloud storage rm --recursive gs://$STATE_BUCKET"
note "(it also records the role generation: a redeploy within 37 days after removing it needs DEPLOY_ROLE_GENERATION=$next_generation)"
