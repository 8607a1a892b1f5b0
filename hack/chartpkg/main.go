// Command chartpkg packages the Helm chart for a release with Helm's Go SDK,
// with the release's chart version and image tag: `make release` runs it.
package main

import (
	"flag"
	"fmt"
	"os"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
)

func main() {
	dir := flag.String("chart", "dist/chart", "the chart's directory")
	version := flag.String("version", "", "the chart's version, x.y.z")
	appVersion := flag.String("app-version", "", "the operator's image tag, vx.y.z")
	out := flag.String("out", ".", "where to write the package")
	flag.Parse()
	if err := run(*dir, *version, *appVersion, *out); err != nil {
		fmt.Fprintln(os.Stderr, "chartpkg:", err)
		os.Exit(1)
	}
}

func run(dir, version, appVersion, out string) error {
	if version == "" || appVersion == "" {
		return fmt.Errorf("--version and --app-version are required")
	}
	for _, m := range lint.All(dir, nil, "sim-operator", false).Messages {
		if m.Severity >= support.WarningSev {
			return fmt.Errorf("lint: %s", m)
		}
	}
	chrt, err := loader.Load(dir)
	if err != nil {
		return err
	}
	chrt.Metadata.Version, chrt.Metadata.AppVersion = version, appVersion
	path, err := chartutil.Save(chrt, out)
	if err != nil {
		return err
	}
	fmt.Println(path)
	return nil
}
