// Package e2e holds the desktop app's end-to-end tests and benchmarks: the
// production binary serving its real bindings in browser mode (--serve), a
// real relay on loopback, and Debian's Chromium driven by playwright-core.
//
// They need the built binary (THREADLINE_BIN, set by `make test`) and the
// frontend's npm packages; without them they skip, unless
// THREADLINE_REQUIRE_BROWSER=1 says a missing piece is a failure.
package e2e
