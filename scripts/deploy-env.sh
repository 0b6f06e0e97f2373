# Sourced by the deploy scripts: checks the prerequisites each script needs and
# loads the deployment's names from infra/print-config.ts, so the scripts and
# the CDKTF stack cannot disagree. Not meant to be run on its own.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

say() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
warn() { printf '\nWARNING: %s\n' "$*" >&2; }
die() {
  printf '\nERROR: %s\n' "$*" >&2
  exit 1
}

need_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is not installed. $2"
}

# gcloud logged in, a project chosen, Node dependencies present, and the
# deployment configuration loaded into the shell (PROJECT, REGION, ...).
load_deploy_env() {
  need_cmd gcloud "Install the Google Cloud CLI: https://cloud.google.com/sdk/docs/install"
  need_cmd node "Install Node.js 20 or newer: https://nodejs.org"
  local account
  account=$(gcloud auth list --filter=status:ACTIVE --format='value(account)' 2>/dev/null | head -n 1 || true)
  [ -n "$account" ] || die "gcloud is not logged in. Run: gcloud auth login"
  if [ -z "${DEPLOY_PROJECT:-}" ]; then
    DEPLOY_PROJECT=$(gcloud config get-value project 2>/dev/null || true)
    [ -n "$DEPLOY_PROJECT" ] || die "No project chosen. Set DEPLOY_PROJECT=<project-id> or run: gcloud config set project <project-id>"
  fi
  export DEPLOY_PROJECT
  # cdktf reports usage to HashiCorp unless told not to.
  export CHECKPOINT_DISABLE=1
  node scripts/ensure-deps.mjs
  local config
  config=$(npx --no-install tsx infra/print-config.ts) || die "The deployment configuration is invalid (see above)."
  eval "$config"
  gcloud projects describe "$PROJECT" --format='value(projectId)' >/dev/null 2>&1 ||
    die "Project $PROJECT does not exist or $account cannot see it."
  note "project $PROJECT, environment $DEPLOY_ENV, region $REGION, as $account"
}

# Terraform (under cdktf) authenticates with Application Default Credentials, not the gcloud login.
need_terraform() {
  need_cmd terraform "Install Terraform 1.5 or newer (or OpenTofu with TERRAFORM_BINARY_NAME=tofu): https://developer.hashicorp.com/terraform/install"
  gcloud auth application-default print-access-token >/dev/null 2>&1 ||
    die "No Application Default Credentials for Terraform. Run: gcloud auth application-default login"
  gcloud storage buckets describe "gs://$STATE_BUCKET" --project "$PROJECT" >/dev/null 2>&1 ||
    die "The Terraform state bucket gs://$STATE_BUCKET does not exist. Run: scripts/bootstrap.sh"
}

need_api() {
  local api
  for api in "$@"; do
    [ -n "$(gcloud services list --enabled --project "$PROJECT" --filter="config.name=$api" --format='value(config.name)' 2>/dev/null)" ] ||
      die "The $api API is not enabled in $PROJECT. Run: scripts/bootstrap.sh"
  done
}

cdktf() {
  npx --no-install cdktf "$@"
}

service_url() {
  gcloud run services describe "$1" --project "$PROJECT" --region "$REGION" --format='value(status.url)' 2>/dev/null || true
}
