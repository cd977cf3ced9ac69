#!/usr/bin/env bash
# setup.sh installs what building (and, with --test, testing) Threadline needs, and
# nothing that is already there. It is idempotent and takes about a second when
# everything is present.
#
#   scripts/setup.sh           system libraries, the wails CLI, the frontend's npm packages
#   scripts/setup.sh --test    the same, plus Xvfb, ImageMagick, xdotool and Chromium for tests,
#                              PHP and Python (the README's identity snippets run in a test),
#                              and the web widget's npm packages (frontend/widget)
#
# Debian and Ubuntu only install by themselves; elsewhere it goes on when everything is there
# and otherwise prints what to install and stops (SETUP_NOT_DEBIAN=1 tries that path here).
set -euo pipefail

WAILS_VERSION=v2.15.0
NODE_MAJOR_MIN=20

BUILD_APT=(libgtk-3-dev libwebkit2gtk-4.1-dev pkg-config)
TEST_APT=(xvfb xauth imagemagick x11-utils xdotool dbus chromium php-cli python3)

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
want_test=0
for arg in "$@"; do
  case "$arg" in
    --test) want_test=1 ;;
    *) echo "setup: unknown argument $arg" >&2; exit 2 ;;
  esac
done

say() { echo "setup: $*"; }
die() { echo "setup: $*" >&2; exit 1; }

packages=("${BUILD_APT[@]}")
[ "$want_test" = 1 ] && packages+=("${TEST_APT[@]}")

# --- system packages -------------------------------------------------------------------------
is_debian() { [ -z "${SETUP_NOT_DEBIAN:-}" ] && [ -f /etc/debian_version ] && command -v apt-get >/dev/null && command -v dpkg >/dev/null; }

installed() { dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'; }

if is_debian; then
  missing=()
  for p in "${packages[@]}"; do
    installed "$p" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    sudo=()
    if [ "$(id -u)" != 0 ]; then
      command -v sudo >/dev/null || die "need root or sudo to install: ${missing[*]}"
      sudo=(sudo)
    fi
    say "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    # Ubuntu ships Chromium as chromium-browser; Debian as chromium.
    for i in "${!missing[@]}"; do
      if [ "${missing[$i]}" = chromium ] && ! apt-cache show chromium >/dev/null 2>&1; then
        missing[$i]=chromium-browser
      fi
    done
    "${sudo[@]}" apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "${missing[@]}"
  fi
else
  # Elsewhere, go on only when everything is already there; otherwise say what to install.
  lacking=()
  command -v pkg-config >/dev/null && pkg-config --exists gtk+-3.0 webkit2gtk-4.1 ||
    lacking+=("GTK 3 and WebKitGTK 4.1 development files, and pkg-config (Debian: ${BUILD_APT[*]})")
  if [ "$want_test" = 1 ]; then
    for tool in xvfb-run xauth xwininfo xdotool dbus-daemon /usr/bin/import /usr/bin/identify /usr/bin/convert php python3; do
      command -v "$tool" >/dev/null || lacking+=("$tool (Debian: ${TEST_APT[*]})")
    done
  fi
  if [ ${#lacking[@]} -gt 0 ]; then
    echo "setup: this is not Debian or Ubuntu, so nothing was installed. Install, with your package manager:" >&2
    printf '  - %s\n' "${lacking[@]}" >&2
    echo "  and Go 1.26 or newer, Node.js ${NODE_MAJOR_MIN} or newer with npm; then run this again." >&2
    exit 1
  fi
fi

# --- toolchains ------------------------------------------------------------------------------
command -v go >/dev/null || die "Go is not installed (https://go.dev/doc/install), need 1.26 or newer"
command -v node >/dev/null || die "Node.js is not installed, need ${NODE_MAJOR_MIN} or newer with npm"
command -v npm >/dev/null || die "npm is not installed"
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge "$NODE_MAJOR_MIN" ] || die "Node.js $(node --version) is too old, need ${NODE_MAJOR_MIN} or newer"

# --- wails CLI, always used by full path -----------------------------------------------------
gobin="$(go env GOPATH)/bin"
wails="$gobin/wails"
# Read its whole output first: `wails version | grep -q` would kill wails with SIGPIPE, which
# pipefail reports as a failure, and wails would be reinstalled every time.
have=
[ -x "$wails" ] && have=$("$wails" version 2>/dev/null || true)
if ! grep -qx "${WAILS_VERSION}" <<<"$have"; then
  say "installing wails ${WAILS_VERSION} into $gobin"
  GOBIN="$gobin" go install "github.com/wailsapp/wails/v2/cmd/wails@${WAILS_VERSION}"
fi

# --- frontend packages -----------------------------------------------------------------------
# npm ci wipes node_modules, so run it only when package-lock.json changed since the last one.
npm_ci() {
  local dir=$1 stamp want
  cd "$root/$dir"
  stamp=node_modules/.threadline-lock.sha256
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    say "npm ci in $dir"
    PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error
    echo "$want" >"$stamp"
  fi
}
npm_ci frontend
# The web chat widget's tests (playwright-core, no browser download: they drive Debian's Chromium).
if [ "$want_test" = 1 ]; then
  npm_ci frontend/widget
fi
