// Package readmetest holds the test that runs the README's copy-paste
// snippets: the identity hash in Node, Python, PHP and Go must equal the
// relay's protocol.ContactHash, and the tokenSha256 command must print the
// digest the relay compares tokens with.
package readmetest
