package plugin

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/sim-operator/sim-operator/internal/version"
)

func newVersionCommand(o *options) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the plugin's version, git revision and Go version",
		Example: `  kubectl sim version
  kubectl sim version -o json`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			v := version.Get()
			switch output {
			case "":
				_, err := fmt.Fprintln(o.streams.Out, "kubectl-sim "+v.String())
				return err
			case "json":
				b, err := json.Marshal(v)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(o.streams.Out, string(b))
				return err
			case "yaml":
				b, err := yaml.Marshal(v)
				if err != nil {
					return err
				}
				_, err = o.streams.Out.Write(b)
				return err
			}
			return fmt.Errorf("-o %q: want json or yaml", output)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "json or yaml (default: one line).")
	return cmd
}
