package app

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sim-operator/sim-operator/internal/controller"
)

// Version and Revision are set at link time (make build, the Dockerfile):
// -ldflags "-X github.com/sim-operator/sim-operator/internal/app.Version=v0.2.0".
// Without them the revision is what the Go toolchain recorded from git.
var (
	Version  = "dev"
	Revision = ""
)

// BuildInfo is what --version prints and sim_operator_build_info labels.
type BuildInfo struct{ Version, Revision, GoVersion string }

// Build returns this binary's build facts.
func Build() BuildInfo {
	b := BuildInfo{Version: Version, Revision: Revision, GoVersion: runtime.Version()}
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

func (b BuildInfo) String() string {
	return fmt.Sprintf("sim-operator %s (revision %s, %s)", b.Version, b.Revision, b.GoVersion)
}

// registerBuildInfo exports sim_operator_build_info{version,revision,goversion} 1.
func registerBuildInfo() error {
	b := Build()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "sim_operator_build_info",
		Help:        "The running build: always 1, with its version, git revision and Go version as labels.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
	})
	g.Set(1)
	_, err := controller.RegisterOnce(g)
	return err
}
