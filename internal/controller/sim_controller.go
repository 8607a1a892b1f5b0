package controller

import (
	"context"
	"fmt"
	"strings"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/recorder"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// SIMAPI is what the SIM controller needs from the Onomondo client.
type SIMAPI interface {
	GetSIM(ctx context.Context, id string) (*onomondo.SIM, error)
	CreateSIM(ctx context.Context, id string, s onomondo.SIM) error
	UpdateSIM(ctx context.Context, id string, s onomondo.SIM) error
	DeleteSIM(ctx context.Context, id string) error
}

// SIMReconciler makes SIMs in the Onomondo API match SIM resources, with the
// shared managed-object machinery (managed.go) and the SIM's API calls and
// comparison (simExternal).
type SIMReconciler struct {
	client.Client
	API      SIMAPI
	Recorder recorder.EventRecorder
	Options  ManagedOptions
}

// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=sims,verbs=get;list;watch;update;patch
// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=sims/status,verbs=get;update;patch
// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=sims/finalizers,verbs=update
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch

// SetupWithManager registers the SIM controller.
func (r *SIMReconciler) SetupWithManager(mgr ctrl.Manager) error {
	m := &managedReconciler[*v1alpha1.SIM]{
		Client:   r.Client,
		ext:      simExternal{api: r.API},
		newObj:   func() *v1alpha1.SIM { return &v1alpha1.SIM{} },
		newList:  func() client.ObjectList { return &v1alpha1.SIMList{} },
		recorder: r.Recorder,
	}
	return m.setup(mgr, "sim", r.Options)
}

// simExternal is the SIM's half of the managed reconciler.
type simExternal struct{ api SIMAPI }

func (simExternal) kind() string { return "SIM" }

// id is the IMSI when set, else the MSISDN.
func (simExternal) id(s *v1alpha1.SIM) string { return s.APIID() }

// claimKey is the identifier as the API resolves it.
func (simExternal) claimKey(s *v1alpha1.SIM) string {
	if s.Spec.IMSI != "" {
		return "imsi:" + s.Spec.IMSI
	}
	return "msisdn:" + strings.TrimPrefix(s.Spec.MSISDN, "+")
}

func (simExternal) logValues(s *v1alpha1.SIM) []any {
	return []any{"imsi", s.Spec.IMSI, "msisdn", s.Spec.MSISDN}
}

func (simExternal) observed(s *v1alpha1.SIM) bool { return s.Status.AtProvider != nil }
func (simExternal) status(s *v1alpha1.SIM) any    { return s.Status }

// upToDate: the observed SIM has the spec's settings (and its MSISDN, when the spec names one).
func (simExternal) upToDate(s *v1alpha1.SIM) bool {
	o := s.Status.AtProvider
	if o == nil {
		return false
	}
	if s.Spec.MSISDN != "" && strings.TrimPrefix(o.MSISDN, "+") != strings.TrimPrefix(s.Spec.MSISDN, "+") {
		return false
	}
	return o.Voice == s.Spec.Voice && o.SMS == s.Spec.SMS && o.Data == s.Spec.Data && o.DataThrottling == s.Spec.DataThrottling
}

func (simExternal) describe(s *v1alpha1.SIM) string {
	o := s.Status.AtProvider
	if o == nil {
		return "nothing yet"
	}
	return fmt.Sprintf("voice=%t sms=%t data=%t dataThrottling=%t", o.Voice, o.SMS, o.Data, o.DataThrottling)
}

func (e simExternal) create(ctx context.Context, s *v1alpha1.SIM) error {
	return e.write(s, e.api.CreateSIM(ctx, s.APIID(), desiredSIM(s)))
}

func (e simExternal) update(ctx context.Context, s *v1alpha1.SIM) error {
	return e.write(s, e.api.UpdateSIM(ctx, s.APIID(), desiredSIM(s)))
}

// write records an accepted desired state as what the API now holds.
func (simExternal) write(s *v1alpha1.SIM, err error) error {
	if err == nil {
		d := desiredSIM(s)
		s.Status.AtProvider = observation(&d)
	}
	return err
}

func (e simExternal) observe(ctx context.Context, s *v1alpha1.SIM) error {
	current, err := e.api.GetSIM(ctx, s.APIID())
	if err == nil {
		s.Status.AtProvider = observation(current)
	}
	return err
}

func (e simExternal) remove(ctx context.Context, s *v1alpha1.SIM) error {
	return e.api.DeleteSIM(ctx, s.APIID())
}

func (simExternal) exists(err error) bool { return onomondo.IsCode(err, onomondo.CodeIMSIConflict) }

func desiredSIM(s *v1alpha1.SIM) onomondo.SIM {
	return onomondo.SIM{
		IMSI: s.Spec.IMSI, MSISDN: s.Spec.MSISDN,
		Voice: s.Spec.Voice, SMS: s.Spec.SMS, Data: s.Spec.Data, DataThrottling: s.Spec.DataThrottling,
	}
}

func observation(s *onomondo.SIM) *v1alpha1.SIMObservation {
	return &v1alpha1.SIMObservation{
		IMSI: s.IMSI, MSISDN: s.MSISDN, Voice: s.Voice, SMS: s.SMS, Data: s.Data, DataThrottling: s.DataThrottling,
	}
}
