package demo

import (
	"bytes"
	"encoding/json"
	"strings"
)

// The seed examples print their provider's requests as curl commands to
// paste in order. These helpers write them so that any id and secret
// survive the shell and JSON, and so that a failed request stops the chain
// visibly.

// JSON returns a JSON object of the name, value pairs, in order, quoted for
// a POSIX shell: '{"clientId":"…","secret":"…"}'. Values are JSON-escaped,
// so any -client-id or -client-secret works.
func JSON(pairs ...string) string {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(pairs[i])
		v, _ := json.Marshal(pairs[i+1])
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return ShellQuote(b.String())
}

// Var is a shell variable set from a JSON string member of a response.
type Var struct{ Name, Member string }

// Capture returns a shell line that runs curl with args (already quoted)
// and, when the request succeeds, prints the response and sets each
// variable to its member; when it fails, it prints "request failed:" and
// the response to stderr and unsets the variables, so that an error body
// is never passed on as a token.
func Capture(args string, vars ...Var) string {
	var b strings.Builder
	b.WriteString("RESP=$(curl -sS --fail-with-body " + args + ") && printf '%s\\n' \"$RESP\"")
	var names []string
	for _, v := range vars {
		b.WriteString(" && " + v.Name + "=$(printf '%s' \"$RESP\" | sed -nE 's/.*\"" + v.Member + "\":\"([^\"]+)\".*/\\1/p')")
		names = append(names, v.Name)
	}
	b.WriteString(" || { echo \"request failed: $RESP\" >&2; unset " + strings.Join(names, " ") + "; }")
	return b.String()
}
