#!/usr/bin/env bash
# Builds the image with Cloud Build (no local Docker needed) and deploys the
# CDKTF stacks of one environment:
#   1. the foundation stack (APIs, image repository, topics, tables, secrets, accounts, metrics);
#   2. the image, built from the Dockerfile and pushed to Artifact Registry;
#   3. the services stack (Cloud Run, schedule, alerts, dashboard) with that image.
# Inside the daily window the subscriber is started at once; outside it, the
# schedule starts it.
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
if [ "$INSIDE_WINDOW_NOW" = true ]; then
  note "inside the window: setting the subscriber to one instance now (it connects to Tote when it boots)"
  gcloud scheduler jobs run "$JOB_SCALE_UP" --project "$PROJECT" --location "$REGION"
else
  note "outside the window: the subscriber stays at zero instances until $JOB_SCALE_UP runs"
fi

say "Deployed $image"
note "subscriber: $(service_url "$SUBSCRIBER_SERVICE")  (IAM only; see scripts/smoke.sh)"
note "dashboards: $(service_url "$SSE_SERVICE")"
note "next: scripts/smoke.sh"
