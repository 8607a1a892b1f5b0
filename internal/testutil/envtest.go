package testutil

import (
	"os"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// StartControlPlane starts envtest's apiserver and etcd for the test, with
// the CRDs of crdDir installed (none if empty), and stops them when it ends.
// Without KUBEBUILDER_ASSETS (`make test` sets it) the test is skipped.
func StartControlPlane(t testing.TB, crdDir string) (*envtest.Environment, *rest.Config) {
	t.Helper()
	if os.Getenv("KUBEBUILDER_ASSETS") == "" {
		t.Skip("KUBEBUILDER_ASSETS not set; `make test` sets it")
	}
	env := &envtest.Environment{}
	if crdDir != "" {
		env.CRDDirectoryPaths, env.ErrorIfCRDPathMissing = []string{crdDir}, true
	}
	cfg, err := env.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = env.Stop() })
	return env, cfg
}

// Eventually polls cond every interval until it holds, and fails the test
// naming what it waited for once timeout has passed.
func Eventually(t testing.TB, what string, timeout, interval time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(interval) {
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", timeout, what)
		}
	}
}
