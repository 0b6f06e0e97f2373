#!/usr/bin/env bash
# One-time setup of a project for the Tote pipeline: enables the APIs and
# creates the bucket holding Terraform state. Everything else is created by
# scripts/deploy.sh from the CDKTF stack. Safe to run again.
#
#   DEPLOY_ENV=dev|prod  DEPLOY_PROJECT=<project-id>  scripts/bootstrap.sh
source "$(dirname "$0")/deploy-env.sh"

say "Checking prerequisites"
load_deploy_env

say "Enabling APIs (a minute or two the first time)"
note "$REQUIRED_APIS"
# shellcheck disable=SC2086 # the list is meant to split into arguments
gcloud services enable serviceusage.googleapis.com $REQUIRED_APIS --project "$PROJECT" ||
  die "Could not enable the APIs. Is billing enabled on $PROJECT, and do you have roles/serviceusage.serviceUsageAdmin (or Owner)?"

say "Terraform state bucket gs://$STATE_BUCKET"
if gcloud storage buckets describe "gs://$STATE_BUCKET" --project "$PROJECT" >/dev/null 2>&1; then
  note "exists"
else
  gcloud storage buckets create "gs://$STATE_BUCKET" --project "$PROJECT" --location "$REGION" \
    --uniform-bucket-level-access --public-access-prevention ||
    die "Could not create gs://$STATE_BUCKET (bucket names are global: set DEPLOY_STATE_BUCKET to another name)."
  note "created in $REGION"
fi
# Old state versions are the way back from a bad apply.
gcloud storage buckets update "gs://$STATE_BUCKET" --versioning \
  --update-labels=app=tote-pipeline,managed-by=bootstrap >/dev/null
note "versioning on"

say "Done. Next:"
note "scripts/deploy.sh                      # build the image and create everything else"
note "scripts/set-secrets.sh < tote.env      # the Tote URLs and API key (never on the command line)"
note "scripts/smoke.sh                       # check the deployment end to end"
