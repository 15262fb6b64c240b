package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/examples/internal/demotest"
)

// The page's own requests, as it writes them (seeds/003): the curl
// command's credentials and the Node.js script's.
const (
	pageID, pageSecret = "testClient", "superSecret"
	pageBody           = `{"clientId":"testClient","secret":"superSecret"}`
	nodeID, nodeSecret = "your-client-id", "your-secret"
)

var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func start(t *testing.T, args ...string) *demotest.Server {
	t.Helper()
	return demotest.Start(t, run, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
}

// token replays the page's curl request: POST /token with
// Content-Type: application/json and the credentials in the body.
func token(t *testing.T, s *demotest.Server, body string) demotest.Response {
	return demotest.Do(t, "POST", s.URL+"/token", strings.NewReader(body), "Content-Type", "application/json")
}

// getCollections replays the page's GET, headers as it writes them.
func getCollections(t *testing.T, s *demotest.Server, tok string) demotest.Response {
	return demotest.Do(t, "GET", s.URL+"/api/collections", nil,
		"Content-Type", "application/json", "Authorization", "Bearer "+tok)
}

func TestReplay(t *testing.T) {
	s := start(t, "-client-id", pageID, "-client-secret", pageSecret)

	// curl -X POST -H "Content-Type: application/json" --data "{\"clientId\":\"testClient\",\"secret\":\"superSecret\"}" "http://api.example.com/token"
	m := demotest.WantJSON(t, token(t, s, pageBody), 200, "accessToken", "tokenType", "expiresIn")
	tok, _ := m["accessToken"].(string)
	if !uuidV4.MatchString(tok) || m["tokenType"] != "Bearer" || m["expiresIn"] != 1800.0 {
		t.Fatalf("response %v", m)
	}

	// curl -X GET -H "Content-Type: application/json" -H "Authorization: Bearer 4172bbf1-…" "http://api.example.com/api/collections"
	if r := getCollections(t, s, tok); r.Status != 200 || !strings.Contains(r.Body, `"clientId":"testClient"`) {
		t.Errorf("collections: %d %s", r.Status, r.Body)
	}

	// The Node.js requests: lowercase header names and a chunked body.
	r := demotest.Do(t, "POST", s.URL+"/token", demotest.Chunked(pageBody), "content-type", "application/json")
	m = demotest.WantJSON(t, r, 200, "accessToken", "tokenType", "expiresIn")
	if r := demotest.Do(t, "GET", s.URL+"/api/collections", nil,
		"authorization", "Bearer "+m["accessToken"].(string), "content-type", "application/json"); r.Status != 200 {
		t.Errorf("collections, Node.js style: %d %s", r.Status, r.Body)
	}
}

func TestRefusals(t *testing.T) {
	s := start(t, "-client-id", pageID, "-client-secret", pageSecret)

	// An unknown id and a wrong secret: the same bytes.
	unknown := token(t, s, `{"clientId":"nobody","secret":"superSecret"}`)
	wrong := token(t, s, `{"clientId":"testClient","secret":"superSecreT"}`)
	demotest.WantJSON(t, unknown, 401, "error", "error_description")
	demotest.SameRefusal(t, unknown, wrong)

	// Malformed input is a 4xx, never a 5xx, and no token.
	for name, r := range map[string]demotest.Response{
		"form body":      demotest.Do(t, "POST", s.URL+"/token", strings.NewReader("clientId=testClient&secret=superSecret"), "Content-Type", "application/x-www-form-urlencoded"),
		"no type":        demotest.Do(t, "POST", s.URL+"/token", strings.NewReader(pageBody)),
		"repeated":       token(t, s, `{"clientId":"testClient","clientId":"testClient","secret":"superSecret"}`),
		"number":         token(t, s, `{"clientId":"testClient","secret":1}`),
		"truncated":      token(t, s, `{"clientId":"testClient","secret":"superSecret"`),
		"array":          token(t, s, `[]`),
		"in the query":   demotest.Do(t, "POST", s.URL+"/token?secret=superSecret", strings.NewReader(pageBody), "Content-Type", "application/json"),
		"GET":            demotest.Do(t, "GET", s.URL+"/token", nil),
		"huge":           token(t, s, `{"clientId":"`+strings.Repeat("x", 100<<10)+`"}`),
		"no credentials": token(t, s, `{}`),
	} {
		if r.Status < 400 || r.Status >= 500 || strings.Contains(r.Body, "accessToken") {
			t.Errorf("%s: %d %s", name, r.Status, r.Body)
		}
		if r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q", name, r.Header.Get("Cache-Control"))
		}
	}

	for name, tok := range map[string]string{
		"none":         "",
		"unknown UUID": "4172bbf1-0890-41c7-b0db-477095a288b6",
		"garbage":      "not-a-token",
	} {
		r := demotest.Do(t, "GET", s.URL+"/api/collections", nil, "Authorization", "Bearer "+tok)
		if tok == "" {
			r = demotest.Do(t, "GET", s.URL+"/api/collections", nil)
		}
		if r.Status != http.StatusUnauthorized {
			t.Errorf("collections with %s token: %d", name, r.Status)
		}
	}
}

// TestSecretChangeKillsTokens restarts on a persistent store with another
// secret: the old secret and every token it got are refused at once.
func TestSecretChangeKillsTokens(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "generic.db")
	s := start(t, "-store", db, "-client-id", pageID, "-client-secret", pageSecret)
	old := demotest.WantJSON(t, token(t, s, pageBody), 200, "accessToken", "tokenType", "expiresIn")["accessToken"].(string)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	s = start(t, "-store", db, "-client-id", pageID, "-client-secret", "anotherSecret")
	if !strings.Contains(s.Output(), "secret replaced") {
		t.Errorf("output:\n%s", s.Output())
	}
	if r := getCollections(t, s, old); r.Status != 401 {
		t.Errorf("token of the old secret: %d", r.Status)
	}
	if r := token(t, s, pageBody); r.Status != 401 {
		t.Errorf("old secret: %d", r.Status)
	}
	tok := demotest.WantJSON(t, token(t, s, `{"clientId":"testClient","secret":"anotherSecret"}`), 200,
		"accessToken", "tokenType", "expiresIn")["accessToken"].(string)
	if r := getCollections(t, s, tok); r.Status != 200 {
		t.Errorf("new token: %d", r.Status)
	}
}

// TestPrintedCommands pastes what the example prints into bash: the
// token lands in $TOKEN and the API answers; with a wrong secret the
// request fails visibly and $TOKEN stays unset.
func TestPrintedCommands(t *testing.T) {
	s := start(t, "-client-id", `it's"odd"`, "-client-secret", `a\b $HOME`)
	cmds := demotest.Commands(s.Output())
	if len(cmds) != 3 || !strings.Contains(cmds[0], s.URL+"/token") || !strings.Contains(cmds[2], s.URL+"/api/collections") {
		t.Fatalf("commands %q in\n%s", cmds, s.Output())
	}
	out, _ := demotest.Shell(t, append(cmds, `echo "TOKEN=$TOKEN"`))
	if !strings.Contains(out, `"clientId":"it's\"odd\""`) || !regexp.MustCompile(`(?m)^TOKEN=[0-9a-f-]{36}$`).MatchString(out) {
		t.Errorf("output:\n%s", out)
	}
	bad := strings.ReplaceAll(cmds[1], `$HOME`, `$HOMEx`)
	out, errOut := demotest.Shell(t, []string{"TOKEN=stale", bad, `echo "TOKEN=${TOKEN-unset}"`})
	if !strings.Contains(errOut, `request failed: {"error":"invalid_client"`) || !strings.Contains(out, "TOKEN=unset") {
		t.Errorf("failed request:\nstdout %s\nstderr %s", out, errOut)
	}
}

// TestNodeScripts runs the page's Node.js scripts with only the host and
// port changed, when node is installed.
func TestNodeScripts(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found")
	}
	s := start(t, "-client-id", nodeID, "-client-secret", nodeSecret)
	port := s.URL[strings.LastIndex(s.URL, ":")+1:]
	runNode := func(script string) string {
		script = strings.ReplaceAll(script, "hostname: 'api.example.com',\n  port: 80,", "hostname: '127.0.0.1',\n  port: "+port+",")
		f := filepath.Join(t.TempDir(), "req.js")
		if err := os.WriteFile(f, []byte(script), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.CommandContext(context.Background(), node, f).CombinedOutput()
		if err != nil {
			t.Fatalf("node: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	out := runNode(nodeTokenScript)
	names, m := demotest.Members(t, out)
	if strings.Join(names, ",") != "accessToken,tokenType,expiresIn" || !uuidV4.MatchString(m["accessToken"].(string)) {
		t.Fatalf("token script printed %s", out)
	}
	out = runNode(strings.ReplaceAll(nodeCollectionsScript, "4172bbf1-0890-41c7-b0db-477095a288b6", m["accessToken"].(string)))
	if !strings.Contains(out, `"collections"`) {
		t.Errorf("collections script printed %s", out)
	}
}

// The page's two Node.js scripts, verbatim.
const nodeTokenScript = `var http = require('http')

var options = {
  hostname: 'api.example.com',
  port: 80,
  method: 'POST',
  path: '/token',
  headers: {
    'content-type': 'application/json'
  }
}

var credentials = JSON.stringify({
  clientId: 'your-client-id',
  secret: 'your-secret'
})

var req = http.request(options, function (res) {
  var chunks = []

  res.on('data', function (chunk) {
    chunks.push(chunk)
  })

  res.on('end', function () {
    var body = Buffer.concat(chunks)
    console.log(body.toString())
  })
})

req.write(credentials)
req.end()
`

const nodeCollectionsScript = `var http = require('http')

var options = {
  hostname: 'api.example.com',
  port: 80,
  method: 'GET',
  path: '/api/collections',
  headers: {
    'authorization': 'Bearer 4172bbf1-0890-41c7-b0db-477095a288b6',
    'content-type': 'application/json'
  }
}

var req = http.request(options, function (res) {
  var chunks = []

  res.on('data', function (chunk) {
    chunks.push(chunk)
  })

  res.on('end', function () {
    var body = Buffer.concat(chunks)
    console.log(body.toString())
  })
})

req.end()
`

func TestFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-client-secret", "x"},
		{"-store", "oracle://x"},
		{"extra"},
	} {
		if err := run(context.Background(), args, io.Discard); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
