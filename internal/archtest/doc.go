// Package archtest holds the test that keeps imports pointing down (DESIGN §1):
// the reducer imports no project package, the sync side never reaches the
// desktop side or Wails, and only app/ and main touch the Wails runtime.
package archtest
