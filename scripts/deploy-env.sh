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
  need_cmd curl "Install curl."
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
  # The runtime packages (tsx reads the configuration) and CDKTF (infra/, its own lockfile).
  node scripts/ensure-deps.mjs infra
  local config
  config=$(npx --no-install tsx infra/print-config.ts) || die "The deployment configuration is invalid (see above)."
  eval "$config"
  # Custom role ids carry the deployment generation (teardown.sh counts teardowns beside the state).
  if [ -z "${DEPLOY_ROLE_GENERATION:-}" ]; then
    DEPLOY_ROLE_GENERATION=$(role_generation)
    export DEPLOY_ROLE_GENERATION
    if [ "$DEPLOY_ROLE_GENERATION" != 0 ]; then
      config=$(npx --no-install tsx infra/print-config.ts) || die "The deployment configuration is invalid (see above)."
      eval "$config"
    fi
  fi
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

# CDKTF is the infra package's own (infra/node_modules); it runs from the repository root, where cdktf.json is.
cdktf() {
  infra/node_modules/.bin/cdktf "$@"
}

service_url() {
  gcloud run services describe "$1" --project "$PROJECT" --region "$REGION" --format='value(status.url)' 2>/dev/null || true
}

# Teardowns so far of this environment, kept beside its Terraform state; 0 when none is recorded.
role_generation_object() {
  printf 'gs://%s/tote/%s/role-generation' "$STATE_BUCKET" "$DEPLOY_ENV"
}
role_generation() {
  local n
  n=$(gcloud storage cat "$(role_generation_object)" 2>/dev/null || true)
  case "$n" in '' | *[!0-9]*) echo 0 ;; *) echo "$n" ;; esac
}

# curl with a bearer token: the header goes to curl on stdin (-H @-), never on
# its command line, where every local user can read it (ps, /proc/<pid>/cmdline).
# The token reaches this function as an argument of a shell function, which no
# process's argv carries. Requests must not read a body from stdin (use --data).
curl_with_token() {
  local token=$1
  shift
  printf 'Authorization: Bearer %s\n' "$token" | curl -H @- "$@"
}

# The subscriber's instance count, through the Cloud Run Admin API (the call
# the scale jobs make), so a script can see what it found and put exactly that
# back. Prints 0 when the count is unset (the API leaves zero out); fails when
# the service cannot be read (e.g. it does not exist yet).
subscriber_api() {
  printf 'https://run.googleapis.com/v2/projects/%s/locations/%s/services/%s' "$PROJECT" "$REGION" "$SUBSCRIBER_SERVICE"
}
instance_count() {
  local body
  local token
  token=$(gcloud auth print-access-token 2>/dev/null) || return 1
  body=$(curl_with_token "$token" -sS --fail --max-time 30 "$(subscriber_api)" 2>/dev/null) || return 1
  printf '%s' "$body" | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).scaling?.manualInstanceCount ?? 0));'
}
set_instance_count() {
  local token
  token=$(gcloud auth print-access-token 2>/dev/null) || return 1
  curl_with_token "$token" -sS --fail-with-body --max-time 60 -X PATCH \
    -H 'Content-Type: application/json' --data "{\"scaling\":{\"manualInstanceCount\":$1}}" \
    "$(subscriber_api)?updateMask=scaling.manualInstanceCount" >/dev/null
}

# Whether the schedule has the subscriber at one instance, decided from the
# clock at the moment a script acts (never once at its start), against the
# scale-up and scale-down times of the stack (SCALED_FROM and SCALED_UNTIL,
# minutes of the day in WINDOW_TIME_ZONE, from infra/print-config.ts).
#
# A script's change must not land after a scheduler job's and undo it, so each
# test keeps this many minutes clear of the job it could race: no scale-down
# just before the scale-up job fires, no scale-up just before the scale-down.
SCHEDULE_GUARD_MINUTES=2
# A services apply takes a few minutes; deploy.sh starts none closer than this to a scale job.
SCALE_JOB_CLEARANCE_MINUTES=${DEPLOY_SCALE_JOB_CLEARANCE_MINUTES:-10}

minute_now() {
  local hm
  hm=$(TZ="$WINDOW_TIME_ZONE" date +%H:%M)
  echo $((10#${hm%:*} * 60 + 10#${hm#*:}))
}
# in_daily_range FROM UNTIL MINUTE: FROM inclusive, UNTIL exclusive, in minutes of the day, wrapping midnight.
in_daily_range() {
  local from=$((($1 % 1440 + 1440) % 1440)) until=$((($2 % 1440 + 1440) % 1440)) m=$3
  if [ "$from" -le "$until" ]; then
    [ "$m" -ge "$from" ] && [ "$m" -lt "$until" ]
  else
    [ "$m" -ge "$from" ] || [ "$m" -lt "$until" ]
  fi
}
# True when a script must not scale the subscriber to 0: the schedule has an instance, or is about to add one.
schedule_keeps_instance() {
  in_daily_range $((SCALED_FROM - SCHEDULE_GUARD_MINUTES)) "$SCALED_UNTIL" "${1:-$(minute_now)}"
}
# True when a script may add the instance itself: the schedule wants one and is not about to remove it.
schedule_wants_instance() {
  in_daily_range "$SCALED_FROM" $((SCALED_UNTIL - SCHEDULE_GUARD_MINUTES)) "${1:-$(minute_now)}"
}

# A services apply can undo a scale job that fires while it runs: Terraform
# sends the whole service, scaling included, as it read it at refresh (the
# stack only tells it not to plan changes there). deploy.sh therefore starts
# no services apply shortly before a scale job, and afterwards re-applies the
# schedule's count when a job fired during the apply.
#
# Minutes from MINUTE (default: now) to the next scale job (0 when one fires this minute).
minutes_to_scale_job() {
  local m=${1:-$(minute_now)} d best=1440 job
  for job in "$SCALED_FROM" "$SCALED_UNTIL"; do
    d=$((((job - m) % 1440 + 1440) % 1440))
    [ "$d" -lt "$best" ] && best=$d
  done
  echo "$best"
}
# True when a scale job fired in the minutes from START to END (minutes of the day, both included).
scale_job_between() {
  local start=$1 end=$2 span job
  span=$((((end - start) % 1440 + 1440) % 1440))
  for job in "$SCALED_FROM" "$SCALED_UNTIL"; do
    [ $((((job - start) % 1440 + 1440) % 1440)) -le "$span" ] && return 0
  done
  return 1
}
# The count the schedule has at MINUTE (default: now): 1 from the scale-up to the scale-down job, else 0.
schedule_count() {
  in_daily_range "$SCALED_FROM" "$SCALED_UNTIL" "${1:-$(minute_now)}" && echo 1 || echo 0
}
