// Package version is the one source of a binary's version: the manager's
// --version and sim_operator_build_info, and kubectl sim version, read it;
// make and the Dockerfile set it at link time.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// Version and Revision are set at link time (make build, make release, the
// Dockerfile):
// -ldflags "-X github.com/sim-operator/sim-operator/internal/version.Version=0.2.0".
// Without them the revision is what the Go toolchain recorded from git.
var (
	Version  = "dev"
	Revision = ""
)

// Info is a binary's build facts.
type Info struct{ Version, Revision, GoVersion string }

// Get returns this binary's build facts.
func Get() Info {
	b := Info{Version: Version, Revision: Revision, GoVersion: runtime.Version()}
	if info, ok := debug.ReadBuildInfo(); ok && b.Revision == "" {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				b.Revision = s.Value
			}
		}
	}
	if b.Revision == "" {
		b.Revision = "unknown"
	}
	return b
}

// String is the line --version prints, with the program's name.
func (b Info) String() string {
	return fmt.Sprintf("%s (revision %s, %s)", b.Version, b.Revision, b.GoVersion)
}
