package gateway

import (
	"encoding/json"
	"math/rand/v2"
	"testing"
)

// TestAppendBytesStringMatchesJSON: every string, plain or needing
// escapes (quotes, backslashes, control bytes, multi-byte and invalid
// UTF-8) anywhere in its first eight-byte words or after, reads back as
// encoding/json reads its own encoding of it.
func TestAppendBytesStringMatchesJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 1))
	alphabet := []string{"a", "Z", "0", "-", " ", "~", "\"", "\\", "\n", "\x00", "\x1f", "\x7f", "é", "€", "\xff", "\xe2\x82", "<", "\u2028"}
	for n := range 20000 {
		var s []byte
		for range n % 40 {
			s = append(s, alphabet[r.IntN(len(alphabet))]...)
		}
		if n%3 == 0 {
			// Mostly plain, one odd byte somewhere: the word loop must
			// stop at it.
			s = []byte("ig-1a2b3c4d5e6f7-2a-ffff0123456789")[:n%34]
			if len(s) > 0 {
				s[r.IntN(len(s))] = alphabet[r.IntN(len(alphabet))][0]
			}
		}
		got := appendBytesString(nil, s)
		want, _ := json.Marshal(string(s))
		var a, b string
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("%q encodes to %s, not a JSON string: %v", s, got, err)
		}
		if err := json.Unmarshal(want, &b); err != nil || a != b {
			t.Fatalf("%q encodes to %s, which reads %q; encoding/json's %s reads %q", s, got, a, want, b)
		}
	}
}
