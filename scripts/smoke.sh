#!/usr/bin/env bash
# smoke.sh BIN — the desktop smoke test: the production binary in a real window under Xvfb,
# with a fresh temporary data folder. It fails unless a window titled Threadline exists and a
# screenshot of the screen shows the app's own content: more than 16 colours (rendered text, not
# a blank or single-colour window), the app's background (--app-bg, also main.go's
# BackgroundColour) and its border colour (--border, which only the rendered frontend paints),
# both read from frontend/src/style.css.
#
#   SMOKE_DEMO=1   start with --demo (the title then carries the unread count: "Threadline (N)")
#   SMOKE_SHOT=F   keep the screenshot at F
#   SMOKE_OPEN=1   for that kept screenshot, open the first conversation (keys j, Enter) first
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
  local rc=$?
  if [ -n "$app_pid" ] && kill "$app_pid" 2>/dev/null; then wait "$app_pid" 2>/dev/null || true; fi
  rm -rf "$tmp"
  exit "$rc"
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
name=
for _ in $(seq 1 60); do
  if ! kill -0 "$app_pid" 2>/dev/null; then
    echo "smoke: the app exited early:" >&2; cat "$tmp/app.log" >&2; exit 1
  fi
  # xdotool matches names without regard to case (GTK's own "threadline" window matches too):
  # keep the window whose title matches exactly.
  for w in $(xdotool search --onlyvisible --name "$title" 2>/dev/null || true); do
    n=$(xdotool getwindowname "$w" 2>/dev/null || true)
    if [[ $n =~ $title ]]; then win=$w; name=$n; break; fi
  done
  [ -n "$win" ] && break
  sleep 0.5
done
if [ -z "$win" ]; then
  echo "smoke: no visible window titled Threadline after 30 s" >&2
  cat "$tmp/app.log" >&2
  exit 1
fi

# Let the frontend paint (the demo inbox loads its first page), then look until it has.
css=$(dirname "$0")/../frontend/src/style.css
css_colour() { sed -n "s/^ *--$1: *\(#[0-9a-fA-F]\{6\}\);.*/\1/p" "$css" | head -n1; }
bg=$(css_colour app-bg)
border=$(css_colour border)
[ -n "$bg" ] && [ -n "$border" ] || { echo "smoke: no --app-bg or --border colour in $css" >&2; exit 1; }

shot="$tmp/screen.png"
colours=0
has_bg=0
has_border=0
for _ in $(seq 1 40); do
  sleep 0.5
  /usr/bin/import -window root "$shot"
  colours=$(/usr/bin/identify -format '%k' "$shot")
  histogram=$(/usr/bin/convert "$shot" -format %c histogram:info:-)
  has_bg=0; has_border=0
  grep -qi "$bg" <<<"$histogram" && has_bg=1
  grep -qi "$border" <<<"$histogram" && has_border=1
  [ "$colours" -gt 16 ] && [ "$has_bg" = 1 ] && [ "$has_border" = 1 ] && break
done
if [ -n "${SMOKE_SHOT:-}" ]; then
  mkdir -p "$(dirname "$SMOKE_SHOT")"
  if [ -n "${SMOKE_OPEN:-}" ]; then
    # No window manager here: a click on the pane gives the window the keyboard.
    xdotool mousemove --window "$win" 900 400 click 1 sleep 0.3 key j sleep 0.3 key Return sleep 2
    /usr/bin/import -window root "$tmp/open.png"
    cp "$tmp/open.png" "$SMOKE_SHOT"
  else
    cp "$shot" "$SMOKE_SHOT"
  fi
fi
if [ "$colours" -le 16 ]; then
  echo "smoke: the screenshot is blank: $colours colours, no rendered content" >&2; cat "$tmp/app.log" >&2; exit 1
fi
if [ "$has_bg" != 1 ] || [ "$has_border" != 1 ]; then
  echo "smoke: the app's background $bg (seen: $has_bg) or border $border (seen: $has_border) is not on screen ($colours colours): not our frontend" >&2
  cat "$tmp/app.log" >&2; exit 1
fi
echo "smoke: ok: window \"$name\", screenshot with $colours colours including the app's background $bg and border $border"
