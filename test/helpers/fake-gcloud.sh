#!/usr/bin/env bash
# Stand-in gcloud: answers what the deploy scripts ask, keeps secret versions under $FAKE_STATE.
printf '%s\n' "$*" >> "$FAKE_STATE/argv.log"
# The value of --NAME=VALUE or --NAME VALUE.
flag() {
  local want=$1 prev=""
  shift
  for a in "$@"; do
    case "$a" in --$want=*) echo "${a#*=}"; return ;; esac
    [ "$prev" = "--$want" ] && { echo "$a"; return; }
    prev=$a
  done
}
case "$1 $2" in
  "auth list") echo operator@example.com ;;
  "auth print-access-token" | "auth print-identity-token") echo "$FAKE_TOKEN" ;;
  "config get-value") echo "$DEPLOY_PROJECT" ;;
  "projects describe") echo "$3" ;;
  "services list") f=$(flag filter "$@"); echo "${f#config.name=}" ;;
  "storage cat") exit 1 ;;
  "secrets describe") exit 0 ;;
  "secrets versions")
    case "$3" in
      add)
        d="$FAKE_STATE/$4"; mkdir -p "$d"; n=$(( $(ls "$d" | grep -c '\.value$') + 1 ))
        cat > "$d/$n.value"; echo ENABLED > "$d/$n.state"; echo "projects/p/secrets/$4/versions/$n" ;;
      access)
        s=$(flag secret "$@"); if [ -n "$FAKE_READBACK_DIFFERS" ]; then echo something-else; else cat "$FAKE_STATE/$s/$4.value"; fi ;;
      list)
        for f in "$FAKE_STATE/$4"/*.state; do [ "$(cat "$f")" = ENABLED ] && echo "projects/p/secrets/$4/versions/$(basename "$f" .state)"; done; true ;;
      disable)
        s=$(flag secret "$@"); echo DISABLED > "$FAKE_STATE/$s/$4.state" ;;
    esac ;;
  *) echo "fake gcloud: unexpected: $*" >&2; exit 3 ;;
esac
