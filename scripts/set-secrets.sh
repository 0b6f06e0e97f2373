#!/usr/bin/env bash
# Stores the Tote connection settings (and, with DEPLOY_SSE_ACCESS=token, the
# SSE readers' HS256 key SSE_ACCESS_JWT_SECRET) in Secret Manager as new secret
# versions. Values are read from a file or stdin, never from the command line
# (argv is visible to other users and kept in shell history), and never printed.
# Each new version is read back and compared before the versions it replaces
# are disabled, so a rotated key stops working at once and a failed write
# leaves the old value in force. Disabled versions can be enabled again
# (gcloud secrets versions enable N --secret S) until you destroy them.
#
#   scripts/set-secrets.sh < tote.env              # NAME=VALUE lines, any of the three names
#   scripts/set-secrets.sh --file tote.env
#   scripts/set-secrets.sh TOTE_API_KEY < key.txt  # one value, the whole input
#   scripts/set-secrets.sh                         # at a terminal: asks, input hidden
#
# The services read `latest` when they connect, so a new version is used at the
# next reconnect (restart the subscriber to use it at once); no redeploy.
source "$(dirname "$0")/deploy-env.sh"

NAMES_ALLOWED="TOTE_SUBSCRIPTIONS_URL TOTE_GRAPHQL_URL TOTE_API_KEY SSE_ACCESS_JWT_SECRET"
single="" file=""
while [ $# -gt 0 ]; do
  case "$1" in
    --file) [ $# -ge 2 ] || die "--file needs a path"; file=$2; shift 2 ;;
    TOTE_SUBSCRIPTIONS_URL | TOTE_GRAPHQL_URL | TOTE_API_KEY | SSE_ACCESS_JWT_SECRET) single=$1; shift ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) die "Unknown argument. Values are never taken from the command line; see scripts/set-secrets.sh --help" ;;
  esac
done
if [ -n "$file" ]; then
  [ -r "$file" ] || die "Cannot read $file"
  exec <"$file"
fi

say "Checking prerequisites"
# Standard input carries the secret values: no prerequisite command may read any of it.
{
  load_deploy_env
  need_api secretmanager.googleapis.com
  # The SSE key exists only in token mode with HS256 (print-config.ts leaves its id empty otherwise).
  [ -n "$SECRET_SSE_ACCESS_JWT_SECRET" ] || NAMES_ALLOWED="TOTE_SUBSCRIPTIONS_URL TOTE_GRAPHQL_URL TOTE_API_KEY"
  case " $NAMES_ALLOWED " in *" $single "*) ;; *) [ -z "$single" ] || die "$single is used only with DEPLOY_SSE_ACCESS=token (and no DEPLOY_SSE_JWKS_URL)." ;; esac
  for id in $SECRET_IDS; do
    gcloud secrets describe "$id" --project "$PROJECT" >/dev/null 2>&1 ||
      die "Secret $id does not exist yet: run scripts/deploy.sh first (the stack creates the secrets, this script only adds values)."
  done
} </dev/null

set_value() { printf -v "VALUE_$1" '%s' "$2"; }
value_of() { eval "printf '%s' \"\${VALUE_$1:-}\""; }

if [ -n "$single" ]; then
  if [ -t 0 ]; then
    read -rs -p "$single: " v && echo
  else
    v=$(cat)
  fi
  set_value "$single" "$v"
elif [ -t 0 ]; then
  for name in $NAMES_ALLOWED; do
    read -rs -p "$name (empty to leave unchanged): " v && echo
    set_value "$name" "$v"
  done
else
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in '' | '#'*) continue ;; esac
    name=${line%%=*}
    [ "$name" != "$line" ] || die "Expected NAME=VALUE lines; a line without '=' was found."
    case " $NAMES_ALLOWED " in *" $name "*) ;; *) die "Unknown name $name (expected one of: $NAMES_ALLOWED)" ;; esac
    v=${line#*=}
    # Accept values quoted the way .env files often quote them.
    case "$v" in \"*\") v=${v#\"}; v=${v%\"} ;; \'*\') v=${v#\'}; v=${v%\'} ;; esac
    set_value "$name" "$v"
  done
fi

# Check everything before storing anything.
given=0
for name in $NAMES_ALLOWED; do
  v=$(value_of "$name")
  [ -n "$v" ] || continue
  given=$((given + 1))
  case "$v" in *[[:space:]]*) die "$name contains whitespace or a line break." ;; esac
  case "$name" in
    TOTE_SUBSCRIPTIONS_URL) case "$v" in wss://* | ws://*) ;; *) die "$name must start with wss:// (or ws://)." ;; esac ;;
    TOTE_GRAPHQL_URL) case "$v" in https://* | http://*) ;; *) die "$name must start with https:// (or http://)." ;; esac ;;
    # HS256 wants a key at least as long as the hash: 32 bytes.
    SSE_ACCESS_JWT_SECRET) [ "${#v}" -ge 32 ] || die "$name must be at least 32 characters (e.g. openssl rand -base64 48)." ;;
  esac
done
[ "$given" -gt 0 ] || die "No values given."

say "Adding secret versions in $PROJECT"
for name in $NAMES_ALLOWED; do
  v=$(value_of "$name")
  [ -n "$v" ] || continue
  id_var="SECRET_$name"
  id=${!id_var}
  version=$(printf '%s' "$v" | gcloud secrets versions add "$id" --project "$PROJECT" --data-file=- --format='value(name)') ||
    die "Could not add a version to $id (do you have roles/secretmanager.admin or Owner?)"
  version=${version##*/}
  # Read back and compare in the shell: the value is never printed or passed as an argument.
  stored=$(gcloud secrets versions access "$version" --secret "$id" --project "$PROJECT" 2>/dev/null) ||
    die "Could not read back $id version $version; the earlier versions are left enabled."
  [ "$stored" = "$v" ] || die "$id version $version does not hold the value given; the earlier versions are left enabled."
  unset stored
  disabled=0
  for old in $(gcloud secrets versions list "$id" --project "$PROJECT" --filter=state=ENABLED --format='value(name)'); do
    old=${old##*/}
    [ "$old" = "$version" ] && continue
    gcloud secrets versions disable "$old" --secret "$id" --project "$PROJECT" --quiet >/dev/null ||
      die "Could not disable $id version $old (the new version $version is in place)."
    disabled=$((disabled + 1))
  done
  note "$name -> $id version $version (verified; $disabled earlier version(s) disabled)"
done
unset v

say "Done. The subscriber uses the new Tote values at its next connect; to reconnect it now (inside the window):"
note "gcloud scheduler jobs run $JOB_STOP --location $REGION --project $PROJECT"
note "gcloud scheduler jobs run $JOB_START --location $REGION --project $PROJECT"
if [ -n "$(value_of SSE_ACCESS_JWT_SECRET)" ]; then
  note "The SSE service reads its key when an instance starts: new instances check tokens with the new key."
fi
note "Disabled versions can be destroyed once nothing needs them: gcloud secrets versions destroy N --secret S --project $PROJECT"
