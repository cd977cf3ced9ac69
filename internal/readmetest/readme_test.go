package readmetest

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/threadline/threadline/sync/protocol"
)

// A snippet the README promises works is the fenced block right after a
// line "<!-- readme-test: NAME LANG -->".
var markerRE = regexp.MustCompile(`^<!-- readme-test: (\S+) (\S+) -->$`)

type snippet struct {
	name, lang, code string
	line             int
}

// snippets reads the marked blocks of the README.
func snippets(t *testing.T) map[string]snippet {
	t.Helper()
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]snippet{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	var cur *snippet
	inFence := false
	var code strings.Builder
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case cur == nil:
			if m := markerRE.FindStringSubmatch(line); m != nil {
				cur = &snippet{name: m[1], lang: m[2], line: n}
			}
		case !inFence:
			if !strings.HasPrefix(line, "```") {
				t.Fatalf("README.md:%d: the readme-test marker is not followed by a fenced block", cur.line)
			}
			inFence = true
			code.Reset()
		case line == "```":
			cur.code = code.String()
			key := cur.name + " " + cur.lang
			if _, dup := out[key]; dup {
				t.Fatalf("README.md:%d: a second %s snippet", cur.line, key)
			}
			out[key] = *cur
			cur, inFence = nil, false
		default:
			code.WriteString(line + "\n")
		}
	}
	if cur != nil {
		t.Fatalf("README.md:%d: unterminated snippet", cur.line)
	}
	return out
}

// need returns the tool's path, or skips without it; make test sets
// THREADLINE_REQUIRE_BROWSER, and then what scripts/setup.sh --test
// installs must be there.
func need(t *testing.T, tool string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("THREADLINE_REQUIRE_BROWSER") != "" {
			t.Fatalf("%s is not installed (scripts/setup.sh --test installs it)", tool)
		}
		t.Skipf("%s is not installed (scripts/setup.sh --test installs it)", tool)
	}
	return p
}

// hashCases are [identity secret, contact id] pairs: plain, with spaces
// and punctuation, and with non-ASCII text (hashed as UTF-8).
var hashCases = [][2]string{
	{"dev-identity-secret-change-me-0001", "42"},
	{"a secret with spaces, \"quotes\" & $igns", "dana@example.com"},
	{"sécret-ünïcødé-✓", "Zoë/客户/7"},
}

// runner is how a language's snippet runs: the tool, and the file it is
// written into between prefix and suffix.
type runner struct {
	tool, file     string
	prefix, suffix string
}

// write puts the snippet named name, wrapped for r, in a new temporary
// folder, and returns it, the tool to run it with, the folder and the file.
func (r runner) write(t *testing.T, name string) (s snippet, tool, dir, file string) {
	t.Helper()
	s, ok := snippets(t)[name]
	if !ok {
		t.Fatalf("README.md has no %s snippet (<!-- readme-test: %s --> before its block)", name, name)
	}
	tool = need(t, r.tool)
	dir = t.TempDir()
	file = filepath.Join(dir, r.file)
	if err := os.WriteFile(file, []byte(r.prefix+s.code+r.suffix), 0o644); err != nil {
		t.Fatal(err)
	}
	return s, tool, dir, file
}

// harness is what each language's snippet is run with: its function
// applied to every case of the JSON in $CASES, one hash a line.
var harness = map[string]runner{
	"node": {tool: "node", file: "hash.mjs", suffix: `
const cases = JSON.parse(process.env.CASES);
for (const [secret, id] of cases) console.log(threadlineHash(secret, id));
`},
	"python": {tool: "python3", file: "hash.py", suffix: `
import json, os
for secret, contact_id in json.loads(os.environ["CASES"]):
    print(threadline_hash(secret, contact_id))
`},
	"php": {tool: "php", file: "hash.php", suffix: `
foreach (json_decode(getenv('CASES'), true) as [$secret, $id]) {
    echo threadline_hash($secret, $id), "\n";
}
`},
	"go": {tool: "go", file: "hash.go", prefix: "package main\n\nimport (\n\t\"encoding/json\"\n\t\"fmt\"\n\t\"os\"\n)\n\n", suffix: `
func main() {
	var cases [][2]string
	if err := json.Unmarshal([]byte(os.Getenv("CASES")), &cases); err != nil {
		panic(err)
	}
	for _, c := range cases {
		fmt.Println(threadlineHash(c[0], c[1]))
	}
}
`},
}

func TestContactHashSnippets(t *testing.T) {
	cases, _ := json.Marshal(hashCases)
	var want []string
	for _, c := range hashCases {
		want = append(want, protocol.ContactHash(c[0], c[1]))
	}
	for _, lang := range []string{"node", "python", "php", "go"} {
		t.Run(lang, func(t *testing.T) {
			s, tool, dir, file := harness[lang].write(t, "contact-hash "+lang)
			args := []string{file}
			if lang == "go" {
				args = []string{"run", file}
			}
			cmd := exec.Command(tool, args...)
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "CASES="+string(cases), "GOFLAGS=")
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("README.md:%d: the %s snippet did not run: %v\n%s", s.line, lang, err, stderr.Bytes())
			}
			got := strings.Fields(string(out))
			if len(got) != len(want) {
				t.Fatalf("README.md:%d: the %s snippet printed %q; want %d hashes", s.line, lang, out, len(want))
			}
			for i, c := range hashCases {
				if got[i] != want[i] {
					t.Errorf("README.md:%d: %s threadlineHash(%q, %q) = %s; want %s (protocol.ContactHash)", s.line, lang, c[0], c[1], got[i], want[i])
				}
			}
		})
	}
}

// TestContactHashTemplate renders the README's PHP template line with the
// PHP snippet's function: the page gets the id and the relay's hash.
func TestContactHashTemplate(t *testing.T) {
	all := snippets(t)
	fn, ok1 := all["contact-hash php"]
	tpl, ok2 := all["contact-hash-template php"]
	if !ok1 || !ok2 {
		t.Fatal("README.md lacks the contact-hash php snippet or its template")
	}
	php := need(t, "php")
	const secret, id = "dev-identity-secret-change-me-0001", "42"
	src := fn.code + "\n$identitySecret = '" + secret + "';\n$user = (object) ['id' => " + id + "];\n?>\n" + tpl.code
	file := filepath.Join(t.TempDir(), "page.php")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(php, file).CombinedOutput()
	if err != nil {
		t.Fatalf("README.md:%d: php: %v\n%s", tpl.line, err, out)
	}
	want := `$threadline.push(["set", "user:id", ["` + id + `", "` + protocol.ContactHash(secret, id) + `"]]);`
	if !strings.Contains(string(out), want) {
		t.Errorf("README.md:%d: the template rendered\n%s\nwant a line %s", tpl.line, out, want)
	}
}

// TestTokenSHA256Snippet runs the README's command for a tokenSha256 and
// checks it prints the SHA-256 the relay compares a presented token with.
func TestTokenSHA256Snippet(t *testing.T) {
	s, ok := snippets(t)["token-sha256 sh"]
	if !ok {
		t.Fatal("README.md has no token-sha256 sh snippet")
	}
	sh := need(t, "sh")
	need(t, "sha256sum")
	for _, tok := range []string{"dev-token-ana-0123456789", "a token with spaces and 100% of %s"} {
		cmd := exec.Command(sh, "-c", s.code)
		cmd.Env = append(os.Environ(), "TOKEN="+tok)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("README.md:%d: %v", s.line, err)
		}
		sum := sha256.Sum256([]byte(tok))
		if f := strings.Fields(string(out)); len(f) == 0 || f[0] != hex.EncodeToString(sum[:]) {
			t.Errorf("README.md:%d: for TOKEN=%q it printed %q; want %s first", s.line, tok, out, hex.EncodeToString(sum[:]))
		}
	}
}

func TestMarkersHaveKnownNames(t *testing.T) {
	for key, s := range snippets(t) {
		switch {
		case strings.HasPrefix(key, "contact-hash "):
			if _, ok := harness[s.lang]; !ok {
				t.Errorf("README.md:%d: contact-hash snippet in %s, which this test cannot run", s.line, s.lang)
			}
		case key == "token-sha256 sh", key == "contact-hash-template php":
		case strings.HasPrefix(key, "webhook-verify "): // webhook_test.go
			if _, ok := receiverHarness[s.lang]; !ok {
				t.Errorf("README.md:%d: webhook-verify snippet in %s, which this test cannot run", s.line, s.lang)
			}
		case key == "embed html", key == "embed-start html": // sync/cmd/relay's TestTLS serves them to Chromium
		default:
			t.Errorf("README.md:%d: readme-test %s: no test runs it", s.line, key)
		}
	}
}
