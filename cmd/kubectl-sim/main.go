// Command kubectl-sim is the sim-operator's kubectl plugin: import a live
// fleet from a vendor CSV, see the fleet at a glance, preview what Git will
// change in the API, and retry, pause or resume resources.
//
//	go install github.com/sim-operator/sim-operator/cmd/kubectl-sim@latest
//	kubectl sim --help
package main

import (
	"errors"
	"fmt"
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/sim-operator/sim-operator/internal/plugin"
)

func main() {
	err := plugin.NewRootCommand(genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}).Execute()
	var exit plugin.ExitError
	switch {
	case errors.As(err, &exit):
		os.Exit(int(exit))
	case err != nil:
		fmt.Fprintln(os.Stderr, "kubectl sim:", err)
		os.Exit(2)
	}
}
