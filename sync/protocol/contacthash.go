package protocol

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// ContactHash is how a website's backend proves a contact's identity
// (DESIGN §2), the hash a contact's hello carries: hex(HMAC-SHA256(workspace
// identity secret, contactID)), in lower case. A relay checking one compares
// the MACs with hmac.Equal, not the strings.
func ContactHash(secret, contactID string) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(contactID))
	return hex.EncodeToString(m.Sum(nil))
}
