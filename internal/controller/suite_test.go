package controller_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/sim-operator/sim-operator/internal/app"
	"github.com/sim-operator/sim-operator/internal/testutil"
)

// Namespaces of the suite. Two managers run against one apiserver and one
// simulator: "spec" and "spec-b" with a one-hour sync period, so every API
// call a test sees is one the behaviour under test made; "drift" with a
// one-second sync period, for drift correction and the steady state.
const (
	nsSpec  = "spec"
	nsSpecB = "spec-b"
	nsDrift = "drift"
	nsSMS   = "sms"
	// nsManual is watched by no manager: tests call a reconciler directly.
	nsManual = "manual"
	syncFast = time.Second
)

var (
	ctx       context.Context
	cancel    context.CancelFunc
	testEnv   *envtest.Environment
	cfg       *rest.Config
	k8sClient client.WithWatch
	sim       *testutil.SimServer
	caPath    string
)

func TestControllers(t *testing.T) {
	RegisterFailHandler(Fail)
	RunSpecs(t, "Controller Suite")
}

var _ = BeforeSuite(func() {
	logf.SetLogger(zap.New(zap.WriteTo(GinkgoWriter), zap.UseDevMode(true)))
	ctx, cancel = context.WithCancel(context.TODO())

	By("starting the apiserver with the CRDs")
	testEnv = &envtest.Environment{
		CRDDirectoryPaths:     []string{filepath.Join("..", "..", "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}
	var err error
	cfg, err = testEnv.Start()
	Expect(err).NotTo(HaveOccurred())
	k8sClient, err = client.NewWithWatch(cfg, client.Options{Scheme: app.Scheme})
	Expect(err).NotTo(HaveOccurred())
	for _, ns := range []string{nsSpec, nsSpecB, nsDrift, nsSMS, nsManual, nsRestart, nsSIMRestart, nsCreds, nsCredsMissing} {
		Expect(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}})).To(Succeed())
	}

	By("starting the simulator over TLS on loopback")
	sim, err = testutil.StartSimulator(testSimOptions())
	Expect(err).NotTo(HaveOccurred())
	caFile := filepath.Join(GinkgoT().TempDir(), "ca.pem")
	Expect(os.WriteFile(caFile, sim.CAPEM, 0o600)).To(Succeed())

	By("starting two managers built exactly as main.go builds them")
	caPath = caFile
	startManager(ctx, time.Hour, nsSpec, nsSpecB, nsSMS)
	startManager(ctx, syncFast, nsDrift)
})

// startManager runs a manager, built as main.go builds it, until ctx ends,
// and returns a channel closed when it has stopped.
func startManager(ctx context.Context, syncPeriod time.Duration, namespaces ...string) <-chan struct{} {
	return startManagerWith(ctx, func(o *app.Options) {
		o.SyncPeriod, o.WatchNamespaces = syncPeriod, namespaces
	})
}

// startManagerWith is startManager with the suite's options changed by set.
func startManagerWith(ctx context.Context, set func(*app.Options)) <-chan struct{} {
	o := app.DefaultOptions()
	o.APIURL, o.APICAFile, o.APIKey = sim.URL(), caPath, testutil.APIKey
	o.APIRate = -1
	o.SyncJitter = 0.1
	o.MinBackoff, o.MaxBackoff = 20*time.Millisecond, 500*time.Millisecond
	o.MetricsAddr, o.ProbeAddr = "0", "0"
	o.SeveralManagersInProcess = true
	o.DefaultAccountNamespaceSelector = app.AllNamespaces
	set(&o)
	mgr, err := app.NewManager(cfg, o)
	Expect(err).NotTo(HaveOccurred())
	stopped := make(chan struct{})
	go func() {
		defer GinkgoRecover()
		defer close(stopped)
		Expect(mgr.Start(ctx)).To(Succeed())
	}()
	return stopped
}

var _ = AfterSuite(func() {
	cancel()
	if sim != nil {
		sim.Close()
	}
	if testEnv != nil {
		Eventually(testEnv.Stop, time.Minute, time.Second).Should(Succeed())
	}
})

var _ = ctrl.Log
