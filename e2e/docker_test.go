package e2e

import (
	"debug/buildinfo"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// dockerStage is one stage of a Dockerfile: its FROM line's image and
// name, and its instructions in order, continuation lines joined.
type dockerStage struct {
	image, name string
	instrs      [][2]string // keyword (upper case), arguments
}

// parseDockerfile splits a Dockerfile into its stages. It knows only what
// the tests need: comments, line continuations and FROM … AS name.
func parseDockerfile(t *testing.T, src string) []dockerStage {
	t.Helper()
	var stages []dockerStage
	src = strings.ReplaceAll(src, "\\\n", " ")
	for line := range strings.Lines(src) {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		kw, args, _ := strings.Cut(line, " ")
		kw, args = strings.ToUpper(kw), strings.TrimSpace(args)
		if kw == "FROM" {
			f := strings.Fields(args)
			st := dockerStage{image: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				st.name = f[2]
			}
			stages = append(stages, st)
			continue
		}
		if len(stages) == 0 {
			if kw == "ARG" {
				continue
			}
			t.Fatalf("Dockerfile: %s before the first FROM", kw)
		}
		last := &stages[len(stages)-1]
		last.instrs = append(last.instrs, [2]string{kw, args})
	}
	return stages
}

// shellWords splits a plain shell command line into words: blanks
// separate words, and single or double quotes group them (no escapes
// inside). Anything a shell would expand or interpret fails the test, so
// the Dockerfile's build line stays one that this test reproduces exactly.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else if quote == '"' && strings.ContainsRune("$`\\", r) {
				t.Fatalf("Dockerfile build line %q: %q inside double quotes", s, r)
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case strings.ContainsRune("$`\\;&|<>(){}*?[]~#", r):
			t.Fatalf("Dockerfile build line %q: %q is beyond what the test reproduces", s, r)
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		t.Fatalf("Dockerfile build line %q: unclosed quote", s)
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}

// TestDockerfile builds ./cmd/portcullis exactly as the Dockerfile's build
// stage does (its ENV and its go build line, only the output path moved)
// and checks what the image relies on: the binary is static, so that it
// runs on a base without a C library; it records the Dockerfile's flags;
// the final stage runs it as a non-root user with "serve"; the builder's
// Go is the one go.mod asks for. No Docker engine is needed.
func TestDockerfile(t *testing.T) {
	src, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	stages := parseDockerfile(t, string(src))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a final one", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]

	// The builder's Go is the release series go.mod names.
	goVersion := goDirective(t, "../go.mod")
	series := regexp.MustCompile(`^1\.\d+`).FindString(goVersion)
	if tag, ok := strings.CutPrefix(build.image, "golang:"); !ok || !(tag == series || strings.HasPrefix(tag, series+".") || strings.HasPrefix(tag, series+"-")) {
		t.Errorf("build stage FROM %s: want golang:%s (go.mod says go %s)", build.image, series, goVersion)
	}

	// The build stage's environment and go build line.
	env := []string{"GOFLAGS=-buildvcs=false", "GOTOOLCHAIN=local", "GOOS=", "GOARCH=", "GOEXPERIMENT="}
	var goBuild []string
	for _, in := range build.instrs {
		switch in[0] {
		case "ENV":
			for _, kv := range shellWords(t, in[1]) {
				if !strings.Contains(kv, "=") {
					t.Fatalf("Dockerfile ENV %q: want KEY=VALUE pairs", in[1])
				}
				env = append(env, kv)
			}
		case "RUN":
			words := shellWords(t, in[1])
			for len(words) > 0 && strings.HasPrefix(words[0], "--") { // --mount=… and the like
				words = words[1:]
			}
			if len(words) > 1 && words[0] == "go" && words[1] == "build" {
				if goBuild != nil {
					t.Fatal("Dockerfile has two go build lines")
				}
				goBuild = words
			}
		}
	}
	if !slices.Contains(env, "CGO_ENABLED=0") {
		t.Errorf("build stage ENV lacks CGO_ENABLED=0: %q", env)
	}
	if goBuild == nil {
		t.Fatal("Dockerfile's build stage has no RUN go build line")
	}
	out := slices.Index(goBuild, "-o")
	if out < 0 || out+1 >= len(goBuild) {
		t.Fatalf("Dockerfile's go build has no -o: %q", goBuild)
	}
	builtAt := goBuild[out+1]
	bin := filepath.Join(t.TempDir(), "portcullis")
	args := slices.Clone(goBuild[1:])
	args[out] = bin
	if args[len(args)-1] != "./cmd/portcullis" {
		t.Errorf("Dockerfile builds %q, want ./cmd/portcullis", args[len(args)-1])
	}
	cmd := exec.CommandContext(t.Context(), "go", args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, b)
	}

	// Static: no program interpreter (the dynamic loader) and no dynamic
	// section, so nothing is loaded from the base image.
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("the binary has a %v program header: it is not static", p.Type)
		}
	}
	if s := f.Section(".dynamic"); s != nil {
		t.Error("the binary has a .dynamic section: it is not static")
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs %q", libs)
	}

	// The Dockerfile's flags reached the build.
	info, err := buildinfo.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	want := map[string]string{"CGO_ENABLED": "0"}
	var ldflags []string
	for i, a := range goBuild {
		switch {
		case a == "-trimpath":
			want["-trimpath"] = "true"
		case strings.HasPrefix(a, "-ldflags="):
			ldflags = strings.Fields(strings.TrimPrefix(a, "-ldflags="))
		case a == "-ldflags" && i+1 < len(goBuild):
			ldflags = strings.Fields(goBuild[i+1])
		}
	}
	for k, v := range want {
		if settings[k] != v {
			t.Errorf("build setting %s = %q, want %q", k, settings[k], v)
		}
	}
	// With -trimpath the go command does not record -ldflags: check what
	// -s (no symbol table) and -w (no DWARF) leave instead.
	for _, s := range f.Sections {
		if slices.Contains(ldflags, "-s") && s.Name == ".symtab" {
			t.Error("-ldflags has -s, but the binary has a symbol table")
		}
		if slices.Contains(ldflags, "-w") && (strings.HasPrefix(s.Name, ".debug_") || strings.HasPrefix(s.Name, ".zdebug_")) {
			t.Errorf("-ldflags has -w, but the binary has %s", s.Name)
		}
	}
	if info.Path != "github.com/portcullis/portcullis/cmd/portcullis" {
		t.Errorf("the binary is %s", info.Path)
	}

	// It runs: serve's help, as the image's entry point starts it.
	if b, err := exec.CommandContext(t.Context(), bin, "serve", "--help").CombinedOutput(); err != nil || !strings.Contains(string(b), "--issuer") {
		t.Errorf("portcullis serve --help: %v\n%s", err, b)
	}

	// The final stage: a base without a shell or C library, the binary
	// from the build stage, a non-root user, and "portcullis serve".
	if !strings.HasPrefix(final.image, "gcr.io/distroless/static") && final.image != "scratch" {
		t.Errorf("final stage FROM %s: want a distroless static image or scratch", final.image)
	}
	var copied, user string
	var entry []string
	for _, in := range final.instrs {
		switch in[0] {
		case "COPY":
			f := strings.Fields(in[1])
			if len(f) == 3 && f[0] == "--from="+build.name && f[1] == builtAt {
				copied = f[2]
			}
		case "USER":
			user = in[1]
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(in[1]), &entry); err != nil {
				t.Errorf("ENTRYPOINT %s: want the exec (JSON) form: %v", in[1], err)
			}
		}
	}
	if copied == "" {
		t.Errorf("the final stage does not COPY --from=%s %s", build.name, builtAt)
	}
	uid, _, _ := strings.Cut(user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q: want a numeric non-root uid (Kubernetes' runAsNonRoot checks numbers only)", user)
	}
	if !slices.Equal(entry, []string{copied, "serve"}) {
		t.Errorf("ENTRYPOINT %q, want %q", entry, []string{copied, "serve"})
	}
}

// TestCompose checks what compose.yaml must agree on with the Dockerfile
// and the store syntax, as far as text can tell without Docker: the issuer
// is built from the Dockerfile, its published port is the one the image
// exposes, and its store names the services that exist.
func TestCompose(t *testing.T) {
	b, err := os.ReadFile("../compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	compose := string(b)
	df, err := os.ReadFile("../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	expose := regexp.MustCompile(`(?m)^EXPOSE (\d+)$`).FindStringSubmatch(string(df))
	if expose == nil {
		t.Fatal("the Dockerfile exposes no port")
	}
	for _, want := range []string{
		"\n  portcullis:\n    build: .\n",
		"\n  postgres:\n    image: postgres:",
		"\n  redis:\n    image: redis:",
		fmt.Sprintf(`- "%s:%s"`, expose[1], expose[1]),
		"@postgres:5432/",
		"redis://redis:6379/",
	} {
		if !strings.Contains(compose, want) {
			t.Errorf("compose.yaml lacks %q", want)
		}
	}
}
