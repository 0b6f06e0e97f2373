#!/usr/bin/env bash
# Builds the image with Cloud Build (no local Docker needed) and deploys the
# CDKTF stacks of one environment:
#   1. the foundation stack (APIs, image repository, topics, tables, secrets, accounts, metrics);
#   2. the image, built from the Dockerfile and pushed to Artifact Registry;
#   3. the services stack (Cloud Run, schedule, alerts, dashboard) with that image.
# The image is named by the content of its sources (scripts/build-context.mjs)
# and built only when that image does not exist yet, so redeploying unchanged
# code rolls out no new revision.
#
# The deploy never changes the subscriber's instance count (the stack ignores
# it) except where the schedule wants an instance at the moment the deploy
# ends and there is none (a first deploy, or a replaced service, inside the
# window): then it sets 1. It does not start the services apply in the
# minutes before a scale job, and if a job fired during the apply anyway it
# sets the count that job set (Terraform may have sent the one it read).
#
#   DEPLOY_ENV=dev|prod  DEPLOY_PROJECT=<project-id>  scripts/deploy.sh
#   DEPLOY_IMAGE=<existing image> scripts/deploy.sh     # skip the build (e.g. to roll back)
source "$(dirname "$0")/deploy-env.sh"

say "Checking prerequisites"
load_deploy_env
need_terraform
need_api run.googleapis.com cloudbuild.googleapis.com artifactregistry.googleapis.com

say "1/3 Foundation stack $FOUNDATION_STACK"
cdktf deploy "$FOUNDATION_STACK" --auto-approve

if [ -n "${DEPLOY_IMAGE:-}" ]; then
  say "2/3 Image: using DEPLOY_IMAGE, no build"
  image=$DEPLOY_IMAGE
else
  # Named by the content of what the build uploads: unchanged sources find their image built, and the
  # services stack then has nothing to change (no new revision, no overlap of two subscribers).
  image="$IMAGE_REPOSITORY:$(node scripts/build-context.mjs tag)"
  if gcloud artifacts docker images describe "$image" --project "$PROJECT" >/dev/null 2>&1; then
    say "2/3 Image $image"
    note "already built from these sources: no build"
  else
    say "2/3 Building $image with Cloud Build"
    note "source staged in gs://$BUILD_BUCKET, build runs as $BUILDER_ACCOUNT"
    gcloud builds submit . --project "$PROJECT" --region "$REGION" \
      --config infra/cloudbuild.yaml --ignore-file infra/gcloudignore --substitutions "_IMAGE=$image" \
      --service-account "projects/$PROJECT/serviceAccounts/$BUILDER_ACCOUNT" \
      --gcs-source-staging-dir "gs://$BUILD_BUCKET/source" ||
      die "The image build failed (see the log above). Right after the first foundation deploy, IAM grants can take a minute to apply: run scripts/deploy.sh again."
  fi
fi

say "3/3 Services stack $SERVICES_STACK"
# Terraform sends the subscriber's scaling as it read it when the apply began: a scale job firing
# meanwhile would be undone. Start clear of the jobs, and put the schedule's count back if one fired anyway.
wait_for=$(minutes_to_scale_job)
if [ "$wait_for" -lt "$SCALE_JOB_CLEARANCE_MINUTES" ]; then
  note "a scale job ($JOB_SCALE_UP or $JOB_SCALE_DOWN) fires in $wait_for min: waiting until it has, so this apply cannot undo it"
  sleep $(((wait_for + 1) * 60))
fi
before=$(instance_count 2>/dev/null || echo "none (new service)")
apply_from=$(minute_now)
DEPLOY_IMAGE=$image cdktf deploy "$SERVICES_STACK" --auto-approve --ignore-missing-stack-dependencies
apply_until=$(minute_now)

say "Secrets"
missing=0
for id in $SECRET_IDS; do
  if [ -z "$(gcloud secrets versions list "$id" --project "$PROJECT" --filter=state=ENABLED --limit=1 --format='value(name)' 2>/dev/null)" ]; then
    warn "Secret $id has no value yet."
    missing=1
  fi
done
if [ "$missing" = 1 ]; then
  note "Run scripts/set-secrets.sh: the subscriber cannot reach Tote until then, and picks the values up by itself"
  note "at its next connect attempt (no redeploy)."
else
  note "all set"
fi

if [ -z "${DEPLOY_ALERT_EMAIL:-}${DEPLOY_NOTIFICATION_CHANNELS:-}" ]; then
  warn "No DEPLOY_ALERT_EMAIL or DEPLOY_NOTIFICATION_CHANNELS: alerts open incidents in the console but notify nobody."
fi

say "Schedule ($WINDOW)"
count=$(instance_count) || die "Could not read the instance count of $SUBSCRIBER_SERVICE through the Cloud Run Admin API."
note "subscriber instances: $before before this deploy, $count now"
wanted=$(schedule_count)
# Decided now, at the end of a deploy that may have taken ten minutes, not when it started.
if scale_job_between "$apply_from" "$apply_until" && [ "$count" != "$wanted" ]; then
  note "a scale job fired during the apply, which may have sent the count it read before: setting the schedule's $wanted"
  set_instance_count "$wanted" || die "Could not set the instance count. Run: gcloud scheduler jobs run $([ "$wanted" = 1 ] && echo "$JOB_SCALE_UP" || echo "$JOB_SCALE_DOWN") --location $REGION --project $PROJECT"
elif [ "$count" = 0 ] && schedule_wants_instance; then
  note "the schedule has one instance now ($JOB_SCALE_UP to $JOB_SCALE_DOWN): setting 1 (it connects to Tote when it boots inside the window)"
  set_instance_count 1 || die "Could not set the instance count. Run: gcloud scheduler jobs run $JOB_SCALE_UP --location $REGION --project $PROJECT"
else
  note "left to the schedule ($JOB_SCALE_UP sets 1, $JOB_SCALE_DOWN sets 0)"
fi

say "Deployed $image"
note "subscriber: $(service_url "$SUBSCRIBER_SERVICE")  (IAM only; see scripts/smoke.sh)"
note "dashboards: $(service_url "$SSE_SERVICE")"
note "next: scripts/smoke.sh"
