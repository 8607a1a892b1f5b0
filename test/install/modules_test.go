package install_test

import (
	"os/exec"
	"strings"
	"testing"
)

// The operator's module graph carries no test-only tool: Helm, Prometheus'
// rule engine, gonum and the release libraries live in modules of their own
// (test, internal/bench, tools/release), and with them the cloud SDKs.
func TestTheOperatorsModuleGraphIsLean(t *testing.T) {
	cmd := exec.Command("go", "list", "-m", "all")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, heavy := range []string{"helm.sh/helm", "github.com/prometheus/prometheus ", "gonum.org/v1/plot",
		"github.com/aws/aws-sdk-go", "github.com/Azure/azure-sdk-for-go", "github.com/google/go-containerregistry",
		"sigs.k8s.io/krew", "github.com/CycloneDX"} {
		if strings.Contains(string(out), heavy) {
			t.Errorf("the operator's module graph carries %s", strings.TrimSpace(heavy))
		}
	}
}
