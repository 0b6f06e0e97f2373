#!/usr/bin/env bash
# Builds the image with Cloud Build (no local Docker needed) and deploys the
# CDKTF stacks of one environment:
#   1. the foundation stack (APIs, image repository, topics, tables, secrets, accounts, metrics);
#   2. the image, built from the Dockerfile and pushed to Artifact Registry;
#   3. the services stack (Cloud Run, schedule, alerts, dashboard) with that image.
# The deploy never changes the subscriber's instance count (the stack ignores
# it) except where the schedule wants an instance at the moment the deploy
# ends and there is none (a first deploy, or a replaced service, inside the
# window): then it sets 1. It never scales down; the schedule does.
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
  tag=$(git rev-parse --short=12 HEAD 2>/dev/null || echo nogit)
  [ -z "$(git status --porcelain 2>/dev/null)" ] || tag="$tag-dirty"
  image="$IMAGE_REPOSITORY:$tag-$(date -u +%Y%m%d%H%M%S)"
  say "2/3 Building $image with Cloud Build"
  note "source staged in gs://$BUILD_BUCKET, build runs as $BUILDER_ACCOUNT"
  gcloud builds submit . --project "$PROJECT" --region "$REGION" \
    --config infra/cloudbuild.yaml --ignore-file infra/gcloudignore --substitutions "_IMAGE=$image" \
    --service-account "projects/$PROJECT/serviceAccounts/$BUILDER_ACCOUNT" \
    --gcs-source-staging-dir "gs://$BUILD_BUCKET/source" ||
    die "The image build failed (see the log above). Right after the first foundation deploy, IAM grants can take a minute to apply: run scripts/deploy.sh again."
fi

say "3/3 Services stack $SERVICES_STACK"
before=$(instance_count 2>/dev/null || echo "none (new service)")
DEPLOY_IMAGE=$image cdktf deploy "$SERVICES_STACK" --auto-approve --ignore-missing-stack-dependencies

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
# Decided now, at the end of a deploy that may have taken ten minutes, not when it started.
if [ "$count" = 0 ] && schedule_wants_instance; then
  note "the schedule has one instance now ($JOB_SCALE_UP to $JOB_SCALE_DOWN): setting 1 (it connects to Tote when it boots inside the window)"
  set_instance_count 1 || die "Could not set the instance count. Run: gcloud scheduler jobs run $JOB_SCALE_UP --location $REGION --project $PROJECT"
else
  note "left to the schedule ($JOB_SCALE_UP sets 1, $JOB_SCALE_DOWN sets 0)"
fi

say "Deployed $image"
note "subscriber: $(service_url "$SUBSCRIBER_SERVICE")  (IAM only; see scripts/smoke.sh)"
note "dashboards: $(service_url "$SSE_SERVICE")"
note "next: scripts/smoke.sh"
