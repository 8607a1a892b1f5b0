// Command release writes a release of sim-operator into one directory, with
// no Docker daemon and no network beyond the Go module proxy: the manager's
// container image as an OCI image layout, kubectl-sim archives for
// linux/darwin × amd64/arm64 with a krew plugin manifest, the packaged Helm
// chart, an SBOM (CycloneDX), the CHANGELOG section, and SHA256SUMS.
// `make release VERSION=x.y.z` runs it after writing install.yaml; it is a
// module of its own so that its libraries (go-containerregistry, krew,
// cyclonedx-gomod, Helm) stay out of the operator's dependency graph.
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	var c config
	flag.StringVar(&c.repo, "repo", "../..", "the sim-operator repository")
	flag.StringVar(&c.version, "version", "", "the release, x.y.z")
	flag.StringVar(&c.revision, "revision", "", "the git revision it is built from")
	flag.StringVar(&c.out, "out", "", "where to write the artefacts (default dist/release/vX.Y.Z in the repository)")
	flag.StringVar(&c.imageRepo, "image-repo", "ghcr.io/sim-operator/sim-operator", "the image's repository")
	flag.StringVar(&c.source, "source", "https://github.com/sim-operator/sim-operator", "the source repository (labels, krew URLs)")
	flag.Parse()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}
