// Package metrics exports the operator's own gauges: resources by their
// conditions and account (kept current by informer event handlers, so a
// scrape costs the number of states, not of resources), and per kind the
// drift schedule's overdue time and effective periods. Collectors register
// once per process in controller-runtime's registry.
package metrics

import (
	"cmp"
	"context"
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/schedule"
)

var (
	simsDesc = prometheus.NewDesc("sim_operator_sims",
		"SIM resources by their Ready condition's status and reason, and their account.", []string{"ready", "reason", "account"}, nil)
	smsDesc = prometheus.NewDesc("sim_operator_sms_messages",
		"SMSMessage resources by their Sent condition's reason (Pending before the first attempt), and their account.", []string{"state", "account"}, nil)
	syncedDesc = prometheus.NewDesc("sim_operator_resources_synced",
		"SIM and Connector resources by their Synced condition's status and reason (CredentialsRejected, DuplicateSIM, an API code, …).",
		[]string{"kind", "synced", "reason", "account"}, nil)
)

// state is a resource's label values: its condition's status and reason (or
// an SMS's state) and its account ("default", Account/NS/NAME,
// ClusterAccount/NAME); a SIM's adds its Synced status and reason.
type state [5]string

// StateCollector counts resources by condition. Informer event handlers keep
// the counts current, so a scrape costs the number of states, not the number
// of resources (no list of 50,000 SIMs every 15 seconds).
type StateCollector struct {
	// reader tells which accounts exist (the manager's cache).
	reader     client.Reader
	mu         sync.Mutex
	sims       stateCounts // by Ready and Synced: one entry per SIM for both gauges
	sms        stateCounts
	connSynced stateCounts
}

// stateCounts is each resource's state label values and how many share them.
// A resource holds the number of its state, not the state's strings: the
// states are few and the resources many.
type stateCounts struct {
	of     map[types.NamespacedName]uint32
	states []state
	number map[state]uint32
	count  map[state]int
}

func (c *stateCounts) set(key types.NamespacedName, st state) {
	if c.of == nil {
		c.of, c.number, c.count = map[types.NamespacedName]uint32{}, map[state]uint32{}, map[state]int{}
	}
	n, ok := c.number[st]
	if !ok {
		n = uint32(len(c.states))
		c.states = append(c.states, st)
		c.number[st] = n
	}
	if old, ok := c.of[key]; ok {
		if old == n {
			return
		}
		c.drop(c.states[old])
	}
	c.of[key] = n
	c.count[st]++
}

func (c *stateCounts) remove(key types.NamespacedName) {
	if old, ok := c.of[key]; ok {
		delete(c.of, key)
		c.drop(c.states[old])
	}
}

func (c *stateCounts) drop(st state) {
	if c.count[st]--; c.count[st] == 0 {
		delete(c.count, st)
	}
}

// accountLabel is the account label of a resource: its account's name
// when the account exists, else "unknown". A label takes only accounts that
// exist, so names typed into manifests cannot make series without bound.
func (c *StateCollector) accountLabel(namespace string, ref *v1alpha1.AccountReference) string {
	if ref == nil || c.reader == nil {
		return v1alpha1.AccountName(namespace, ref)
	}
	var obj client.Object = &v1alpha1.ClusterAccount{}
	key := client.ObjectKey{Name: ref.Name}
	if ref.Kind != "ClusterAccount" {
		obj, key.Namespace = &v1alpha1.Account{}, cmp.Or(ref.Namespace, namespace)
	}
	if c.reader.Get(context.Background(), key, obj) != nil {
		return unknownAccount
	}
	return v1alpha1.AccountName(namespace, ref)
}

// unknownAccount labels the resources whose account does not exist.
const unknownAccount = "unknown"

// simState is a SIM's Ready status and reason, its account, then its
// Synced status and reason ("Unknown", "" before the first reconcile).
func (c *StateCollector) simState(s *v1alpha1.SIM) state {
	st := c.syncedState(s)
	st[3], st[4] = st[0], st[1]
	st[0], st[1] = "Unknown", ""
	if cond := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionReady); cond != nil {
		st[0], st[1] = string(cond.Status), cond.Reason
	}
	return st
}

// syncedState is a resource's Synced status and reason ("Unknown", "" before the first reconcile).
func syncedState[T managedObject](c *StateCollector) func(T) state {
	return func(obj T) state { return c.syncedState(obj) }
}

func (c *StateCollector) syncedState(obj managedObject) state {
	acct := c.accountLabel(obj.GetNamespace(), policies(obj).AccountRef)
	if cond := meta.FindStatusCondition(status(obj).Conditions, v1alpha1.ConditionSynced); cond != nil {
		return state{string(cond.Status), cond.Reason, acct}
	}
	return state{"Unknown", "", acct}
}

// smsState is a message's Sent reason ("Pending" before the first attempt).
func (c *StateCollector) smsState(m *v1alpha1.SMSMessage) state {
	acct := c.accountLabel(m.Namespace, m.Spec.AccountRef)
	if cond := meta.FindStatusCondition(m.Status.Conditions, v1alpha1.ConditionSent); cond != nil {
		return state{cond.Reason, acct}
	}
	return state{"Pending", acct}
}

// RegisterStateCollector follows SIMs and SMSMessages in the manager's cache
// and adds the collector to controller-runtime's registry (once per process:
// a second manager in the same process reuses the first's).
func RegisterStateCollector(c cache.Cache) error {
	sc := &StateCollector{reader: c}
	if first, err := RegisterOnce(sc); err != nil || !first {
		return err
	}
	if err := follow(c, sc, &v1alpha1.SIM{}, &sc.sims, sc.simState); err != nil {
		return err
	}
	if err := follow(c, sc, &v1alpha1.Connector{}, &sc.connSynced, syncedState[*v1alpha1.Connector](sc)); err != nil {
		return err
	}
	return follow(c, sc, &v1alpha1.SMSMessage{}, &sc.sms, sc.smsState)
}

// follow keeps counts current from the informer of kind's kind.
func follow[T client.Object](c cache.Cache, sc *StateCollector, kind T, counts *stateCounts, stateOf func(T) state) error {
	inf, err := c.GetInformer(context.Background(), kind)
	if err != nil {
		return err
	}
	set := func(obj any) {
		if o, ok := obj.(T); ok {
			sc.mu.Lock()
			defer sc.mu.Unlock()
			counts.set(client.ObjectKeyFromObject(o), stateOf(o))
		}
	}
	_, err = inf.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    set,
		UpdateFunc: func(_, obj any) { set(obj) },
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if o, ok := obj.(client.Object); ok {
				sc.mu.Lock()
				defer sc.mu.Unlock()
				counts.remove(client.ObjectKeyFromObject(o))
			}
		},
	})
	return err
}

// Describe implements prometheus.Collector.
func (c *StateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- simsDesc
	ch <- smsDesc
	ch <- syncedDesc
}

// Collect implements prometheus.Collector.
func (c *StateCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ready, synced := map[[3]string]int{}, map[[3]string]int{}
	for k, n := range c.sims.count {
		ready[[3]string{k[0], k[1], k[2]}] += n
		synced[[3]string{k[3], k[4], k[2]}] += n
	}
	for k, n := range ready {
		ch <- prometheus.MustNewConstMetric(simsDesc, prometheus.GaugeValue, float64(n), k[0], k[1], k[2])
	}
	for k, n := range synced {
		ch <- prometheus.MustNewConstMetric(syncedDesc, prometheus.GaugeValue, float64(n), "SIM", k[0], k[1], k[2])
	}
	for k, n := range c.connSynced.count {
		ch <- prometheus.MustNewConstMetric(syncedDesc, prometheus.GaugeValue, float64(n), "Connector", k[0], k[1], k[2])
	}
	for k, n := range c.sms.count {
		ch <- prometheus.MustNewConstMetric(smsDesc, prometheus.GaugeValue, float64(n), k[0], k[1])
	}
}

// RegisterOverdue exports sim_operator_drift_check_overdue_seconds{kind}: how
// long the most overdue resource of the kind has waited past its due time
// (drift check or retry). It stays near zero while the operator keeps up; a
// growing value means the API budget or the workers are too small for the
// fleet. Once per process and kind, like the state collector.
func RegisterOverdue(kind string, s *schedule.Schedule) error {
	for _, g := range []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "sim_operator_drift_check_overdue_seconds",
			Help:        "How long the most overdue resource of the kind has been waiting past its drift check or retry.",
			ConstLabels: prometheus.Labels{"kind": kind},
		}, func() float64 { return s.Overdue().Seconds() }),
		driftPeriods{s: s, desc: prometheus.NewDesc("sim_operator_drift_period_seconds",
			"The drift period in force per account: --sync-period, or longer when the account's drift checks would take more than half of its API budget.",
			[]string{"account"}, prometheus.Labels{"kind": kind})},
	} {
		if _, err := RegisterOnce(g); err != nil {
			return err
		}
	}
	return nil
}

// driftPeriods exports each account's effective drift period.
type driftPeriods struct {
	s    *schedule.Schedule
	desc *prometheus.Desc
}

func (d driftPeriods) Describe(ch chan<- *prometheus.Desc) { ch <- d.desc }

func (d driftPeriods) Collect(ch chan<- prometheus.Metric) {
	for account, p := range d.s.Effective() {
		ch <- prometheus.MustNewConstMetric(d.desc, prometheus.GaugeValue, p.Seconds(), AccountLabel(account))
	}
}

// EarlyChanges counts a starting manager's early passes (see
// internal/controller/early.go), by kind and outcome: converged (decided
// and its status written before the caches synced) or left (to the
// workers, nothing written).
var EarlyChanges = prometheus.NewCounterVec(prometheus.CounterOpts{
	Name: "sim_operator_early_changes_total",
	Help: "Pending changes a starting manager took up as their objects arrived, by outcome: converged before the caches synced, or left to the workers.",
}, []string{"kind", "outcome"})

// RegisterEarlyChanges exports EarlyChanges, once per process.
func RegisterEarlyChanges() error {
	_, err := RegisterOnce(EarlyChanges)
	return err
}

// RegisterOnce adds a collector to controller-runtime's registry, once per
// process: a second manager in the same process (tests, the benchmark's
// floor) finds it there, and first is false.
func RegisterOnce(c prometheus.Collector) (first bool, err error) {
	err = crmetrics.Registry.Register(c)
	if are := (prometheus.AlreadyRegisteredError{}); errors.As(err, &are) {
		return false, nil
	}
	return err == nil, err
}

// managedObject is a resource with the managed kinds' policies and status.
type managedObject interface {
	client.Object
	Managed() (*v1alpha1.ManagedPolicies, *v1alpha1.ManagedStatus)
}

func policies(obj managedObject) *v1alpha1.ManagedPolicies { p, _ := obj.Managed(); return p }
func status(obj managedObject) *v1alpha1.ManagedStatus     { _, s := obj.Managed(); return s }

// AccountLabel names an account key as metrics and logs show it ("" is the
// flag-configured default account).
func AccountLabel(key string) string {
	if key == "" {
		return "default"
	}
	return key
}
