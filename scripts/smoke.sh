#!/usr/bin/env bash
# smoke.sh BIN — the desktop smoke test: the production binary in a real window under Xvfb,
# with a fresh temporary data folder. It fails unless a window titled Threadline exists and a
# screenshot of the screen is not blank: more than one colour, and the app's own background
# (#f7f7f8, main.go's BackgroundColour and the frontend's --app-bg) among them.
#
#   SMOKE_DEMO=1   start with --demo (the title then carries the unread count: "Threadline (N)")
#   SMOKE_SHOT=F   keep the screenshot at F
set -euo pipefail

bin=${1:?usage: smoke.sh path/to/threadline}
[ -x "$bin" ] || { echo "smoke: $bin is not an executable; run make build" >&2; exit 1; }
for tool in xvfb-run xdotool /usr/bin/import /usr/bin/identify /usr/bin/convert; do
  command -v "$tool" >/dev/null || { echo "smoke: $tool is missing; run scripts/setup.sh --test" >&2; exit 1; }
done

if [ -z "${SMOKE_INNER:-}" ]; then
  # Re-run inside a fresh X server of our own (a free display, its own auth).
  exec env SMOKE_INNER=1 xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" "$0" "$@"
fi

tmp=$(mktemp -d)
app_pid=
cleanup() {
  [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null && wait "$app_pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

args=(--data "$tmp/data")
title='^Threadline$'
if [ -n "${SMOKE_DEMO:-}" ]; then
  args+=(--demo)
  title='^Threadline( \([0-9]+\))?$'
fi
"$bin" "${args[@]}" >"$tmp/app.log" 2>&1 &
app_pid=$!

win=
for _ in $(seq 1 60); do
  if ! kill -0 "$app_pid" 2>/dev/null; then
    echo "smoke: the app exited early:" >&2; cat "$tmp/app.log" >&2; exit 1
  fi
  win=$(xdotool search --onlyvisible --name "$title" 2>/dev/null | head -n1 || true)
  [ -n "$win" ] && break
  sleep 0.5
done
if [ -z "$win" ]; then
  echo "smoke: no visible window titled Threadline after 30 s" >&2
  cat "$tmp/app.log" >&2
  exit 1
fi
name=$(xdotool getwindowname "$win")

# Let the frontend paint (the demo inbox loads its first page), then look until it has.
shot="$tmp/screen.png"
colours=0
has_bg=0
for _ in $(seq 1 20); do
  sleep 0.5
  /usr/bin/import -window root "$shot"
  colours=$(/usr/bin/identify -format '%k' "$shot")
  if /usr/bin/convert "$shot" -format %c histogram:info:- | grep -qi '#F7F7F8'; then has_bg=1; fi
  [ "$colours" -gt 16 ] && [ "$has_bg" = 1 ] && break
done
if [ -n "${SMOKE_SHOT:-}" ]; then
  mkdir -p "$(dirname "$SMOKE_SHOT")"
  cp "$shot" "$SMOKE_SHOT"
fi
if [ "$colours" -le 1 ]; then
  echo "smoke: the screenshot is blank ($colours colour)" >&2; exit 1
fi
if [ "$has_bg" != 1 ]; then
  echo "smoke: the app's background #f7f7f8 is not on screen ($colours colours): not our window's content" >&2; exit 1
fi
echo "smoke: ok: window \"$name\", screenshot with $colours colours including the app background"
