// Package app wires the manager: flags, the Onomondo client, the API-key
// source, the cache and the controllers. main.go, the sandbox and the
// tests all build the operator through it, so they run the same thing.
package app

import (
	"cmp"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/controller"
	"github.com/sim-operator/sim-operator/internal/eventbudget"
	opmetrics "github.com/sim-operator/sim-operator/internal/metrics"
	"github.com/sim-operator/sim-operator/internal/onomondo"
	"github.com/sim-operator/sim-operator/internal/smsledger"
)

// Scheme knows the built-in kinds the manager reads or writes (Namespaces,
// Secrets, ConfigMaps, Events, Leases) and this operator's. Not every
// built-in group: each registered kind is heap and touched pages in every
// replica, for types the manager never decodes.
var Scheme = runtime.NewScheme()

func init() {
	utilruntime.Must(corev1.AddToScheme(Scheme))
	utilruntime.Must(coordinationv1.AddToScheme(Scheme))
	utilruntime.Must(eventsv1.AddToScheme(Scheme))
	utilruntime.Must(v1alpha1.AddToScheme(Scheme))
}

// APIKeyEnv is the environment variable that may hold the API key.
const APIKeyEnv = "ONOMONDO_API_KEY"

// Options are the operator's settings; BindFlags maps them to flags.
type Options struct {
	APIURL          string
	APICAFile       string
	APIInsecureHTTP bool
	APIKeySecret    string // NAME (in $POD_NAMESPACE) or NAMESPACE/NAME, key apiKey
	APIKey          string // from ONOMONDO_API_KEY when no Secret is named
	APITimeout      time.Duration
	APIRate         float64
	APIBurst        int
	// APIMaxRetryAfter caps every wait the API dictates (Retry-After,
	// x-ratelimit-reset), for every account.
	APIMaxRetryAfter time.Duration
	// APIEdition is the default account's edition: Legacy or Current.
	APIEdition string
	// APIAuthScheme is how the default account's key is sent: "" (raw) or Bearer.
	APIAuthScheme string

	SyncPeriod              time.Duration
	SyncJitter              float64
	MaxConcurrentReconciles int
	MinBackoff, MaxBackoff  time.Duration

	KubeAPIQPS   float64
	KubeAPIBurst int
	// Events have their own budget and queue (see internal/eventbudget).
	EventQPS       float64
	EventBurst     int
	EventQueueSize int
	// SeveralManagersInProcess lets tests and benchmarks run more than one
	// manager in a process (controller names must otherwise be unique).
	SeveralManagersInProcess bool
	// WatchNamespaces limits the operator to these namespaces (all if empty).
	WatchNamespaces []string
	// WatchLabelSelector makes this manager one shard: it reconciles only
	// the SIMs, Connectors, SMSMessages, NetworkLists and Webhooks whose
	// labels match (Flux's flag and syntax, e.g. "sharding.sim-operator.dev/key in (shard1)", or
	// "!sharding.sim-operator.dev/key" for the default shard).
	WatchLabelSelector string
	// LeaderElectionID names the Lease; empty: one per shard, derived from
	// WatchLabelSelector.
	LeaderElectionID string
	// DefaultAccount serves resources without spec.accountRef with the
	// flag-configured API and key; false makes every resource name an account.
	DefaultAccount bool
	// DefaultAccountNamespaceSelector is a label selector naming the
	// namespaces whose resources may use the default account; empty: those
	// of WatchNamespaces, else none.
	DefaultAccountNamespaceSelector string
	// AccountKeyRefresh is how often an account's key is read again from its Secret.
	AccountKeyRefresh time.Duration
	// SMSRecordRetention is how long a sent message is remembered, so that a
	// re-created copy of it is not sent again (0: not remembered).
	SMSRecordRetention time.Duration
	// RedactIdentifiers hides IMSIs, MSISDNs and SMS recipients from logs
	// and events (status keeps them).
	RedactIdentifiers bool

	// ApplyEarly applies, without leader election, a Claim holder's spec
	// change pending at the start as its object arrives in the initial list,
	// before the caches have synced (see controller.Arrivals).
	ApplyEarly bool

	MetricsAddr    string
	SecureMetrics  bool
	ProbeAddr      string
	LeaderElection bool
	// LeaderElectionNamespace holds the Lease ($POD_NAMESPACE when empty;
	// in a cluster, the service account's namespace otherwise).
	LeaderElectionNamespace string
	// LeaseDuration, RenewDeadline and RetryPeriod tune the election: a
	// standby takes over at most LeaseDuration + RetryPeriod after the leader
	// died without releasing the Lease (a graceful stop releases it at once).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration

	EnableHTTP2 bool
	PprofAddr   string
}

// DefaultOptions are the flag defaults.
func DefaultOptions() Options {
	return Options{
		APIURL:                  onomondo.DefaultBaseURL,
		APITimeout:              onomondo.DefaultTimeout,
		APIRate:                 onomondo.DefaultRate,
		APIBurst:                onomondo.DefaultBurst,
		APIMaxRetryAfter:        onomondo.DefaultMaxRetryAfter,
		APIEdition:              string(v1alpha1.EditionLegacy),
		SyncPeriod:              controller.DefaultSyncPeriod,
		SyncJitter:              controller.DefaultSyncJitter,
		MaxConcurrentReconciles: controller.DefaultMaxConcurrentReconciles,
		MinBackoff:              controller.DefaultMinBackoff,
		MaxBackoff:              controller.DefaultMaxBackoff,
		KubeAPIQPS:              50,
		KubeAPIBurst:            100,
		EventQPS:                20,
		EventBurst:              100,
		EventQueueSize:          20000,
		SMSRecordRetention:      smsledger.DefaultSMSRecordRetention,
		DefaultAccount:          true,
		AccountKeyRefresh:       30 * time.Second,
		ApplyEarly:              true,
		MetricsAddr:             "0",
		SecureMetrics:           true,
		ProbeAddr:               ":8081",
		LeaseDuration:           15 * time.Second,
		RenewDeadline:           10 * time.Second,
		RetryPeriod:             2 * time.Second,
	}
}

// BindFlags registers every option as a flag on fs.
func (o *Options) BindFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.APIURL, "api-url", o.APIURL, "Base URL of the Onomondo API.")
	fs.StringVar(&o.APICAFile, "api-ca-file", o.APICAFile, "PEM bundle to trust for the API, in addition to the system roots.")
	fs.BoolVar(&o.APIInsecureHTTP, "api-insecure-http", o.APIInsecureHTTP, "Allow an http:// --api-url (local development only).")
	fs.StringVar(&o.APIKeySecret, "api-key-secret", o.APIKeySecret,
		"NAME (in $"+PodNamespaceEnv+") or NAMESPACE/NAME of a Secret whose key apiKey holds the API key; read every 5 s. Without it, $"+APIKeyEnv+" is used.")
	fs.DurationVar(&o.APITimeout, "api-timeout", o.APITimeout, "Timeout of one API call.")
	fs.Float64Var(&o.APIRate, "api-rate", o.APIRate, "Client-side API budget in requests per second, shared by all controllers (the hosted API allows 10).")
	fs.IntVar(&o.APIBurst, "api-burst", o.APIBurst, "Burst of the client-side API budget.")
	fs.StringVar(&o.APIEdition, "api-edition", o.APIEdition,
		"The default account's API: Legacy (the seed's, /sim/{imsi}) or Current (Onomondo's API as documented today, /sims/{id} with PATCH).")
	fs.StringVar(&o.APIAuthScheme, "api-auth-scheme", o.APIAuthScheme,
		"How the default account's key is sent: empty for the raw key in Authorization, Bearer for \"Bearer <key>\".")
	fs.DurationVar(&o.APIMaxRetryAfter, "api-max-retry-after", o.APIMaxRetryAfter,
		"Cap on every wait the API dictates (Retry-After, x-ratelimit-reset), for every account: an answer asking for a day parks the account's resources this long at most.")
	fs.DurationVar(&o.SyncPeriod, "sync-period", o.SyncPeriod, "How often each in-sync SIM is read back to detect drift (one GET each on a Legacy account; one list call per 1,000 SIMs on a Current one).")
	fs.Float64Var(&o.SyncJitter, "sync-jitter", o.SyncJitter, "Spread of drift checks, as a fraction of --sync-period either way.")
	fs.IntVar(&o.MaxConcurrentReconciles, "max-concurrent-reconciles", o.MaxConcurrentReconciles, "Resources of one kind reconciled at once.")
	fs.DurationVar(&o.MinBackoff, "min-backoff", o.MinBackoff, "First retry delay after a retryable API error.")
	fs.DurationVar(&o.MaxBackoff, "max-backoff", o.MaxBackoff, "Longest retry delay after retryable API errors.")
	fs.Float64Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS, "Queries per second to the Kubernetes API server.")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "Burst of queries to the Kubernetes API server.")
	fs.Float64Var(&o.EventQPS, "event-qps", o.EventQPS,
		"Kubernetes events written per second, apart from --kube-api-qps; in a burst, events wait so that the writes making resources Ready go first (-1: no limit).")
	fs.IntVar(&o.EventBurst, "event-burst", o.EventBurst, "Burst of event writes.")
	fs.IntVar(&o.EventQueueSize, "event-queue-size", o.EventQueueSize,
		"Events of each type (Warning, Normal) that may wait for --event-qps; beyond it new events are dropped and counted in sim_operator_events_total{outcome=\"dropped\"}.")
	fs.BoolVar(&o.DefaultAccount, "default-account", o.DefaultAccount,
		"Serve resources without spec.accountRef with --api-url and --api-key-secret (false: every resource must name an Account or ClusterAccount).")
	fs.StringVar(&o.DefaultAccountNamespaceSelector, "default-account-namespace-selector", o.DefaultAccountNamespaceSelector,
		"Label selector (kubectl -l syntax) of the namespaces whose resources may use the default account, e.g. "+
			"'kubernetes.io/metadata.name in (fleet-a,fleet-b)'; empty: none (every other namespace is refused with AccountNotAllowed, no call). "+
			"'"+AllNamespaces+"' selects every namespace. Unset, an install restricted by --watch-namespaces serves those namespaces.")
	fs.DurationVar(&o.AccountKeyRefresh, "account-key-refresh", o.AccountKeyRefresh,
		"How often an Account's key is read again from its Secret (a rotated key takes effect within this).")
	fs.DurationVar(&o.SMSRecordRetention, "sms-record-retention", o.SMSRecordRetention,
		"How long a sent SMSMessage is remembered (one SMSRecord each), so that an object re-created with the same namespace, name and spec is not sent again (0: never remembered).")
	fs.BoolVar(&o.RedactIdentifiers, "redact-identifiers", o.RedactIdentifiers,
		"Hide IMSIs, MSISDNs and SMS recipients from logs and events (all but their last two digits), for fleets that count them as personal data; status keeps them.")
	fs.BoolVar(&o.ApplyEarly, "apply-early", o.ApplyEarly,
		"After a start, apply the pending spec change of a resource that holds its Claim as the resource arrives, before the caches have synced "+
			"(without --leader-elect only; false: every change waits for the caches).")
	fs.StringVar(&o.WatchLabelSelector, "watch-label-selector", o.WatchLabelSelector,
		"Run as one shard: reconcile only the SIMs, Connectors, SMSMessages, NetworkLists and Webhooks whose labels match this selector, "+
			"e.g. '"+ShardLabel+" in (shard1)', or '!"+ShardLabel+"' for the default shard (default: all). Each shard elects its own leader.")
	fs.StringVar(&o.LeaderElectionID, "leader-election-id", o.LeaderElectionID,
		"Name of the leader election Lease (default: one per --watch-label-selector).")
	fs.Func("watch-namespaces", "Comma-separated namespaces to manage (default: all).", func(v string) error {
		o.WatchNamespaces = strings.Split(v, ",")
		return nil
	})
	fs.StringVar(&o.MetricsAddr, "metrics-bind-address", o.MetricsAddr, "Metrics endpoint address (:8443 HTTPS, :8080 HTTP, 0 off).")
	fs.BoolVar(&o.SecureMetrics, "metrics-secure", o.SecureMetrics, "Serve metrics over HTTPS with authn/authz.")
	fs.StringVar(&o.ProbeAddr, "health-probe-bind-address", o.ProbeAddr, "Health probe address (0 off).")
	fs.BoolVar(&o.LeaderElection, "leader-elect", o.LeaderElection, "Elect a leader so that only one replica reconciles.")
	fs.StringVar(&o.LeaderElectionNamespace, "leader-election-namespace", o.LeaderElectionNamespace,
		"Namespace of the leader election Lease (default: $"+PodNamespaceEnv+", or the service account's namespace in a cluster).")
	fs.DurationVar(&o.LeaseDuration, "leader-elect-lease-duration", o.LeaseDuration,
		"How long a standby waits, after the leader's last renewal, before taking over from a leader that died without releasing the Lease.")
	fs.DurationVar(&o.RenewDeadline, "leader-elect-renew-deadline", o.RenewDeadline,
		"How long the leader keeps trying to renew before it stops reconciling (shorter than --leader-elect-lease-duration).")
	fs.DurationVar(&o.RetryPeriod, "leader-elect-retry-period", o.RetryPeriod, "How often candidates try to acquire or renew the Lease.")
	fs.BoolVar(&o.EnableHTTP2, "enable-http2", o.EnableHTTP2, "Enable HTTP/2 for the metrics server.")
	fs.StringVar(&o.PprofAddr, "pprof-bind-address", o.PprofAddr, "Serve net/http/pprof on this address (off if empty), for profiling.")
}

// ShardLabel is the label that assigns an object to a shard (as Flux's
// sharding.fluxcd.io/key).
const ShardLabel = "sharding.sim-operator.dev/key"

// AllNamespaces is the namespace selector that selects every namespace
// (the label the apiserver sets on each).
const AllNamespaces = "kubernetes.io/metadata.name"

// PodNamespaceEnv names the operator's own namespace (the downward API sets
// it in the bundle and the chart): a bare --api-key-secret NAME is there.
const PodNamespaceEnv = "POD_NAMESPACE"

// secretRef parses APIKeySecret: NAMESPACE/NAME, or NAME in $POD_NAMESPACE.
func (o *Options) secretRef() (types.NamespacedName, error) {
	if !strings.Contains(o.APIKeySecret, "/") {
		if ns := os.Getenv(PodNamespaceEnv); ns != "" && o.APIKeySecret != "" {
			return types.NamespacedName{Namespace: ns, Name: o.APIKeySecret}, nil
		}
	}
	ns, name, ok := strings.Cut(o.APIKeySecret, "/")
	if !ok || ns == "" || name == "" {
		return types.NamespacedName{}, fmt.Errorf("--api-key-secret %q: want NAMESPACE/NAME, or NAME with $%s set", o.APIKeySecret, PodNamespaceEnv)
	}
	return types.NamespacedName{Namespace: ns, Name: name}, nil
}

// lastApplied is the annotation `kubectl apply` (and Argo CD's client-side
// apply) writes: a second copy of the whole manifest on every object.
const lastApplied = "kubectl.kubernetes.io/last-applied-configuration"

// stripUnread drops from cached objects what no controller reads: managed
// fields and the last-applied annotation (often the largest part of an
// applied object's metadata), and shares the strings every object repeats.
// The cache holds every SIM of the fleet.
func stripUnread(obj any) (any, error) {
	obj, err := cache.TransformStripManagedFields()(obj)
	if err != nil {
		return obj, err
	}
	o, ok := obj.(client.Object)
	if !ok {
		return obj, nil
	}
	if a := o.GetAnnotations(); a[lastApplied] != "" {
		delete(a, lastApplied)
		if len(a) == 0 {
			a = nil // an empty map still costs a few hundred bytes per object
		}
		o.SetAnnotations(a)
	}
	o.SetNamespace(intern(o.GetNamespace()))
	if tm, ok := o.GetObjectKind().(*metav1.TypeMeta); ok {
		tm.APIVersion, tm.Kind = intern(tm.APIVersion), intern(tm.Kind)
	}
	if f := o.GetFinalizers(); len(f) > 0 {
		for i := range f {
			f[i] = intern(f[i])
		}
	}
	switch o := o.(type) {
	case *v1alpha1.SIM:
		internConditions(o.Status.Conditions)
		shareIdentifiers(o)
	case *v1alpha1.Connector:
		internConditions(o.Status.Conditions)
	case *v1alpha1.SMSMessage:
		internConditions(o.Status.Conditions)
	}
	return obj, nil
}

// shareIdentifiers points the binding's and the observation's copies of the
// spec's identifiers at the spec's own strings: a bound SIM holds its IMSI
// three times, decoded three times.
func shareIdentifiers(s *v1alpha1.SIM) {
	share := func(dst *string, src string) {
		if *dst == src {
			*dst = src
		}
	}
	if b := s.Status.Binding; b != nil {
		share(&b.IMSI, s.Spec.IMSI)
		share(&b.MSISDN, s.Spec.MSISDN)
		share(&b.SIMID, s.Spec.SIMID)
		share(&b.ICCID, s.Spec.ICCID)
	}
	if p := s.Status.AtProvider; p != nil {
		share(&p.IMSI, s.Spec.IMSI)
		share(&p.MSISDN, s.Spec.MSISDN)
		share(&p.SIMID, s.Spec.SIMID)
		share(&p.ICCID, s.Spec.ICCID)
	}
}

// internConditions shares the strings conditions repeat across the fleet:
// each decoded object otherwise holds its own copy of every type, status,
// reason and message.
func internConditions(conds []metav1.Condition) {
	for i := range conds {
		c := &conds[i]
		c.Type, c.Reason, c.Message = intern(c.Type), intern(c.Reason), intern(c.Message)
		c.Status = metav1.ConditionStatus(intern(string(c.Status)))
	}
}

var intern = controller.Intern

// NewManager checks the options and builds a manager with the controllers.
// Errors name the flag to fix.
func NewManager(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	if o.DefaultAccount && o.APIKeySecret == "" && o.APIKey == "" {
		return nil, fmt.Errorf("no API key: set --api-key-secret NAMESPACE/NAME or $%s", APIKeyEnv)
	}
	if o.APIEdition != string(v1alpha1.EditionLegacy) && o.APIEdition != string(v1alpha1.EditionCurrent) {
		return nil, fmt.Errorf("--api-edition %q: want Legacy or Current", o.APIEdition)
	}
	if o.APIAuthScheme != "" && o.APIAuthScheme != "Bearer" {
		return nil, fmt.Errorf("--api-auth-scheme %q: want Bearer or nothing", o.APIAuthScheme)
	}
	if o.EventQPS == 0 || o.EventQueueSize < 1 {
		return nil, fmt.Errorf("--event-qps %g / --event-queue-size %d: events would stop after the first burst; "+
			"want a positive rate (or -1 for no limit) and a queue of at least 1", o.EventQPS, o.EventQueueSize)
	}
	apiMetrics := onomondo.NewMetrics(metrics.Registry) // shared by every account's client
	api, err := onomondo.New(onomondo.Config{
		BaseURL: o.APIURL, APIKey: o.APIKey, CAFile: o.APICAFile, AllowInsecureHTTP: o.APIInsecureHTTP,
		Timeout: o.APITimeout, Rate: o.APIRate, Burst: o.APIBurst, Metrics: apiMetrics, MaxRetryAfter: o.APIMaxRetryAfter,
		Current: o.APIEdition == string(v1alpha1.EditionCurrent), Bearer: o.APIAuthScheme == "Bearer",
	})
	if err != nil {
		return nil, err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = float32(o.KubeAPIQPS), o.KubeAPIBurst

	cacheOpts := cache.Options{DefaultTransform: stripUnread}
	if o.WatchLabelSelector != "" {
		shard, err := labels.Parse(o.WatchLabelSelector)
		if err != nil {
			return nil, fmt.Errorf("--watch-label-selector %q: %w", o.WatchLabelSelector, err)
		}
		// The shard's objects only; Accounts, Namespaces and SMS records stay whole.
		cacheOpts.ByObject = map[client.Object]cache.ByObject{}
		for _, obj := range []client.Object{&v1alpha1.SIM{}, &v1alpha1.Connector{}, &v1alpha1.SMSMessage{}, &v1alpha1.NetworkList{}, &v1alpha1.Webhook{}} {
			cacheOpts.ByObject[obj] = cache.ByObject{Label: shard}
		}
	}
	if len(o.WatchNamespaces) > 0 {
		cacheOpts.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range o.WatchNamespaces {
			cacheOpts.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	httpClient, err := rest.HTTPClientFor(cfg) // the cache's informers, controller-runtime's and ours
	if err != nil {
		return nil, err
	}
	httpClient.Transport = probing{next: httpClient.Transport}
	cacheOpts.HTTPClient = httpClient
	var arrivals *controller.Arrivals
	if o.ApplyEarly && !o.LeaderElection { // an elected manager may write only once its caches synced
		arrivals = &controller.Arrivals{}
	}
	informers := &controller.IndexedInformers{}
	if cacheOpts.NewInformer, err = ownInformers(cfg, httpClient, arrivals, informers); err != nil {
		return nil, err
	}
	var secret types.NamespacedName
	if o.APIKeySecret != "" {
		if secret, err = o.secretRef(); err != nil {
			return nil, err
		}

	}
	var tlsOpts []func(*tls.Config)
	if !o.EnableHTTP2 {
		tlsOpts = append(tlsOpts, func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} })
	}
	metricsOpts := metricsserver.Options{BindAddress: o.MetricsAddr, SecureServing: o.SecureMetrics, TLSOpts: tlsOpts}
	if o.SecureMetrics {
		metricsOpts.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme: Scheme,
		Cache:  cacheOpts,
		NewCache: func(cfg *rest.Config, opts cache.Options) (cache.Cache, error) {
			c, err := cache.New(cfg, opts)
			if err != nil {
				return nil, err
			}
			return informers.Cache(c), nil
		},
		MapperProvider:                newMemoMapper,
		Metrics:                       metricsOpts,
		HealthProbeBindAddress:        o.ProbeAddr,
		PprofBindAddress:              o.PprofAddr,
		LeaderElection:                o.LeaderElection,
		LeaderElectionID:              o.leaderElectionID(),
		LeaderElectionReleaseOnCancel: true,
		LeaderElectionNamespace:       cmp.Or(o.LeaderElectionNamespace, os.Getenv(PodNamespaceEnv)),
		LeaseDuration:                 &o.LeaseDuration,
		RenewDeadline:                 &o.RenewDeadline,
		RetryPeriod:                   &o.RetryPeriod,
		Controller:                    config.Controller{SkipNameValidation: &o.SeveralManagersInProcess},
	})
	if err != nil {
		return nil, err
	}
	rec, err := eventbudget.New(cfg, mgr.GetHTTPClient(), Scheme, "sim-operator",
		eventbudget.Options{QPS: o.EventQPS, Burst: o.EventBurst, QueueSize: o.EventQueueSize, Yield: eventbudget.DefaultYield})
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(rec); err != nil {
		return nil, err
	}
	defaultNamespaces, err := o.defaultAccountNamespaces()
	if err != nil {
		return nil, err
	}
	accounts := &controller.Accounts{Client: mgr.GetClient(), Reader: mgr.GetAPIReader(), Default: api, DefaultNamespaces: defaultNamespaces,
		Metrics: apiMetrics, Timeout: o.APITimeout, KeyTTL: o.AccountKeyRefresh, MaxRetryAfter: o.APIMaxRetryAfter}
	if !o.DefaultAccount {
		accounts.Default = nil
	}
	controller.RedactIdentifiers(o.RedactIdentifiers)
	if o.SMSRecordRetention > 0 {
		if err := migrateSMSRecords(cfg, mgr); err != nil {
			return nil, err
		}
	}
	retry, err := setupControllers(mgr, api, accounts, rec, arrivals, o)
	if err != nil {
		return nil, err
	}
	if o.DefaultAccount && o.APIKeySecret != "" {
		if err := loadAPIKey(mgr, api, secret, retry); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

// leaderElectionID is the Lease of this manager's shard: the flag, else one
// name for the unsharded manager and one per label selector, so that each
// shard has its own leader.
func (o *Options) leaderElectionID() string {
	const id = "sim-operator.onomondo.sim-operator.dev"
	switch {
	case o.LeaderElectionID != "":
		return o.LeaderElectionID
	case o.WatchLabelSelector == "":
		return id
	}
	sum := sha256.Sum256([]byte(o.WatchLabelSelector))
	return "sim-operator-shard-" + hex.EncodeToString(sum[:6]) + ".onomondo.sim-operator.dev"
}

// defaultAccountNamespaces selects the namespaces the default account
// serves: the selector the installer gave, else the namespaces the install
// is restricted to (--watch-namespaces), else none.
func (o *Options) defaultAccountNamespaces() (labels.Selector, error) {
	switch {
	case o.DefaultAccountNamespaceSelector != "":
		sel, err := labels.Parse(o.DefaultAccountNamespaceSelector)
		if err != nil {
			return nil, fmt.Errorf("--default-account-namespace-selector %q: %w", o.DefaultAccountNamespaceSelector, err)
		}
		return sel, nil
	case len(o.WatchNamespaces) > 0:
		return labels.Parse(AllNamespaces + " in (" + strings.Join(o.WatchNamespaces, ",") + ")")
	}
	return labels.Nothing(), nil
}

// migrateSMSRecords moves SMS records kept as ConfigMaps by earlier versions
// into SMSRecords before any message is reconciled, so that an upgrade
// sends nothing twice. Its ConfigMap rights are its own ClusterRole's.
func migrateSMSRecords(cfg *rest.Config, mgr ctrl.Manager) error {
	c, err := client.New(cfg, client.Options{Scheme: Scheme, HTTPClient: mgr.GetHTTPClient(), Mapper: mgr.GetRESTMapper()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	n, err := smsledger.MigrateSMSRecords(ctx, c, c)
	if n > 0 {
		ctrl.Log.WithName("setup").Info("migrated SMS records from ConfigMaps to SMSRecords", "records", n)
	}
	return err
}

// setupControllers registers the controllers, the state metrics and the
// probes, and returns what retries the resources a rejected key failed.
// With arrivals, the managed kinds apply pending changes early.
func setupControllers(mgr ctrl.Manager, api *onomondo.Client, accounts *controller.Accounts, rec recorder.EventRecorder,
	arrivals *controller.Arrivals, o Options) ([]func(context.Context), error) {
	c := mgr.GetClient()
	managed := controller.ManagedOptions{
		SyncPeriod: o.SyncPeriod, SyncJitter: o.SyncJitter, MinBackoff: o.MinBackoff, MaxBackoff: o.MaxBackoff,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles, APIRate: o.APIRate,
	}
	sims := controller.NewSIMController(c, api, rec, managed)
	conns := controller.NewConnectorController(c, api, rec, managed)
	controller.UseSecretReader(conns, mgr.GetAPIReader())
	lists := controller.NewNetworkListController(c, api, rec, managed)
	hooks := controller.NewWebhookController(c, api, rec, managed)
	sms := controller.NewSMSMessageReconciler(c, api, rec, controller.SMSOptions{MinBackoff: o.MinBackoff, MaxBackoff: o.MaxBackoff,
		MaxConcurrentReconciles: o.MaxConcurrentReconciles, RecordRetention: o.SMSRecordRetention})
	sims.UseAccounts(accounts)
	conns.UseAccounts(accounts)
	lists.UseAccounts(accounts)
	hooks.UseAccounts(accounts)
	sms.UseAccounts(accounts)
	if arrivals != nil {
		sims.ApplyEarly(arrivals)
		conns.ApplyEarly(arrivals)
		lists.ApplyEarly(arrivals)
		hooks.ApplyEarly(arrivals)
	}
	for _, setup := range []func(ctrl.Manager) error{
		(&controller.AccountReconciler{Client: c, Accounts: accounts}).SetupWithManager,
		controller.IndexSMSBySIM,
		sims.SetupWithManager,
		conns.SetupWithManager,
		lists.SetupWithManager,
		hooks.SetupWithManager,
		sms.SetupWithManager,
		func(m ctrl.Manager) error { return opmetrics.RegisterStateCollector(m.GetCache()) },
		func(ctrl.Manager) error { return registerBuildInfo() },
		func(m ctrl.Manager) error { return m.AddHealthzCheck("healthz", healthz.Ping) },
		func(m ctrl.Manager) error { return m.AddReadyzCheck("caches", cachesSynced(m.GetCache())) },
	} {
		if err := setup(mgr); err != nil {
			return nil, err
		}
	}
	return []func(context.Context){sims.RetryCredentials, conns.RetryCredentials, lists.RetryCredentials, hooks.RetryCredentials, sms.RetryCredentials}, nil
}

// loadAPIKey reads the key once now (so no call goes out without it when it
// is there) and keeps reading it (see controller.APIKeyReader). A missing,
// unreadable or empty Secret is not fatal: the manager runs, serves probes
// and metrics, every resource says CredentialsMissing, and all recover
// within seconds of the key appearing.
func loadAPIKey(mgr ctrl.Manager, api *onomondo.Client, ref types.NamespacedName, onChange []func(context.Context)) error {
	r := &controller.APIKeyReader{Reader: mgr.GetAPIReader(), Secret: ref, API: api}
	if !r.Sync(context.Background()) {
		ctrl.Log.WithName("setup").Info("no API key in the Secret yet; resources wait with CredentialsMissing until it appears",
			"secret", ref.String())
	}
	r.OnChange = onChange // after the first read: nothing failed yet, and the cache is not started
	return mgr.Add(r)
}

// Main parses flags and runs the operator until a signal arrives.
func Main() error {
	o := DefaultOptions()
	o.APIKey = os.Getenv(APIKeyEnv)
	o.BindFlags(flag.CommandLine)
	zapOpts := zapOptions()
	zapOpts.BindFlags(flag.CommandLine)
	version := flag.Bool("version", false, "Print the version, git revision and Go version, and exit.")
	flag.Parse()
	if *version {
		fmt.Println(Build())
		return nil
	}
	ctrl.SetLogger(newLogger(zapOpts))
	gcPercent := setGCPercent()
	memLimit, err := setMemoryLimit()
	if err != nil {
		return err
	}
	mgr, err := NewManager(ctrl.GetConfigOrDie(), o)
	if err != nil {
		return err
	}
	if err := relaxGCUntilSynced(mgr, mgr.GetCache().WaitForCacheSync, gcPercent); err != nil {
		return err
	}
	ctrl.Log.WithName("setup").Info("starting manager", "version", Build().Version, "revision", Build().Revision, "apiURL", o.APIURL, "apiRate", o.APIRate, "syncPeriod", o.SyncPeriod, "goMemoryLimit", memLimit, "gcPercent", gcPercent)
	return mgr.Start(ctrl.SetupSignalHandler())
}

// cachesSynced is ready once the informers hold the fleet: a standby replica
// is Ready (and can take over at once) when its caches are warm.
func cachesSynced(c cache.Cache) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), time.Second)
		defer cancel()
		if !c.WaitForCacheSync(ctx) {
			return errors.New("informer caches not synced yet")
		}
		return nil
	}
}
