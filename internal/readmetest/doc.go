// Package readmetest holds the test that runs the README's copy-paste
// snippets: the identity hash in Node, Python, PHP and Go must equal the
// relay's protocol.ContactHash, the tokenSha256 command must print the
// digest the relay compares tokens with, and the webhook receivers' checks
// of Threadline-Signature in Node and Go must accept a real relay's
// deliveries and refuse forged requests.
package readmetest
