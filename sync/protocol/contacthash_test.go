package protocol

import "testing"

func TestContactHash(t *testing.T) {
	tests := []struct{ secret, id, want string }{
		// RFC 4231-style known vector: HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
		{"key", "The quick brown fox jumps over the lazy dog", "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"},
		// RFC 4231 test case 2.
		{"Jefe", "what do ya want for nothing?", "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
	}
	for _, tt := range tests {
		if got := ContactHash(tt.secret, tt.id); got != tt.want {
			t.Errorf("ContactHash(%q, %q) = %s; want %s", tt.secret, tt.id, got, tt.want)
		}
	}
	if ContactHash("s", "42") == ContactHash("s", "43") || ContactHash("s", "42") == ContactHash("t", "42") {
		t.Error("ContactHash ignores its secret or its contact id")
	}
}
