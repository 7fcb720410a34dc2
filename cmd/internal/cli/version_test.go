package cli

import (
	"runtime/debug"
	"testing"

	"github.com/stretchr/testify/require"
)

// Without -ldflags, the version comes from the build information: the
// main module's version, else the VCS revision, short, marked dirty.
func TestBuildVersion(t *testing.T) {
	t.Parallel()
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	for _, tc := range []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{"no build information", nil, "dev"},
		{"go install of a release", &debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}, Settings: vcs("69ff133a0c36430d61ed309241bd18730a3e9846", "false")}, "v1.2.3"},
		{"a clean checkout", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("69ff133a0c36430d61ed309241bd18730a3e9846", "false")}, "69ff133a0c36"},
		{"a checkout with changes", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs("69ff133a0c36430d61ed309241bd18730a3e9846", "true")}, "69ff133a0c36-dirty"},
		{"-buildvcs=false", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, "dev"},
	} {
		require.Equal(t, tc.want, buildVersion(tc.info), tc.name)
	}
}
