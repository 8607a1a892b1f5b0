package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/sim-operator/sim-operator/internal/metrics"
	"github.com/sim-operator/sim-operator/internal/version"
)

// BuildInfo is what --version prints and sim_operator_build_info labels.
type BuildInfo struct{ version.Info }

// Build returns this binary's build facts (internal/version).
func Build() BuildInfo { return BuildInfo{version.Get()} }

func (b BuildInfo) String() string { return "sim-operator " + b.Info.String() }

// registerBuildInfo exports sim_operator_build_info{version,revision,goversion} 1.
func registerBuildInfo() error {
	b := Build()
	g := prometheus.NewGauge(prometheus.GaugeOpts{
		Name:        "sim_operator_build_info",
		Help:        "The running build: always 1, with its version, git revision and Go version as labels.",
		ConstLabels: prometheus.Labels{"version": b.Version, "revision": b.Revision, "goversion": b.GoVersion},
	})
	g.Set(1)
	_, err := metrics.RegisterOnce(g)
	return err
}
