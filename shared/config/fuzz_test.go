package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary files to the loader: it must return a
// configuration or problems each naming a key path or a line, never panic.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.toml"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err == nil {
			f.Add(data)
		}
	}
	for _, seed := range []string{
		"", "[smtp]\nlisten = \"x\"\n", "[queue.virtual.remote]\nthreads-per-node = 100000000\n",
		"[queue.strategy]\nschedule = [ { if = \"true\", then = \"'a'\" }, { else = \"'b'\" } ]\n",
		"[smtp.limits]\nidle-timeout = \"-1s\"\n", "a = [", "[[x]]\n[x]\n", "[task.periodic.a]\nschedule = \"@every 0s\"\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data)
		if err == nil {
			if cfg == nil {
				t.Fatal("no configuration and no error")
			}
			return
		}
		if strings.TrimSpace(err.Error()) == "" {
			t.Fatalf("empty error for %q", data)
		}
	})
}
