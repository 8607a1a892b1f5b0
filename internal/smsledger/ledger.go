// Package smsledger is the SMS ledger: one SMSRecord per message that went
// out (or may have), so that a message re-created from Git is never sent
// twice, swept after a retention window, and migrated at start from the
// ConfigMaps earlier versions kept.
package smsledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// The SMS record remembers, in the cluster, every message that went out (or
// may have), by namespace, name and spec, so that a message re-created from
// Git after its object was deleted (a TTL, a prune, a second apply after a
// delete) is not sent again. One SMSRecord per message, named from a hash of
// the message's name in its namespace:
//
//   - per message, not per namespace: each is written by one reconcile of one
//     message, so a burst of messages never contends on one object;
//   - a kind of the operator's own, which the aggregated namespace roles do
//     not grant: a namespace editor cannot delete a record to have a message
//     sent again (ConfigMaps, used before, were theirs to delete);
//   - bounded: a record older than the retention window (--sms-record-retention,
//     30 days) is deleted by a sweep, and a namespace's records go with it.
//
// Records kept as labelled ConfigMaps by earlier versions are migrated once,
// at start (see MigrateSMSRecords).
const (
	// LabelSMSRecord marked the ConfigMaps that held SMS records before
	// SMSRecord; only the migration reads it.
	LabelSMSRecord = "onomondo.sim-operator.dev/sms-record"
	// DefaultSMSRecordRetention is how long a message's record keeps it from being sent again.
	DefaultSMSRecordRetention = 30 * 24 * time.Hour

	// Sending, Sent and Unknown are the states a record holds: the POST is
	// about to go, it went, or its answer was lost.
	Sending = "Sending"
	Sent    = "Sent"
	Unknown = "DeliveryUnknown"

	recordDataKey  = "record"
	recordNameBase = "sms-record-"
)

// +kubebuilder:rbac:groups=onomondo.sim-operator.dev,resources=smsrecords,verbs=get;list;watch;create;update;delete

// Ledger reads and writes the records; a nil Ledger, or one with no
// retention, keeps none.
type Ledger struct {
	client    client.Client
	retention time.Duration
	now       func() time.Time
}

// New is the ledger of c, keeping records for retention, on clock now.
func New(c client.Client, retention time.Duration, now func() time.Time) *Ledger {
	return &Ledger{client: c, retention: retention, now: now}
}

// recordKey is the record of a message: its name hashed (a message's name
// may be as long as a record's may be, so no prefix would fit).
func recordKey(sms *v1alpha1.SMSMessage) types.NamespacedName {
	sum := sha256.Sum256([]byte(sms.Name))
	return types.NamespacedName{Namespace: sms.Namespace, Name: recordNameBase + hex.EncodeToString(sum[:12])}
}

// RecordName is the name of a message's record in its namespace.
func RecordName(sms *v1alpha1.SMSMessage) string { return recordKey(sms).Name }

// SpecHash identifies a message's content, as its record keeps it.
func SpecHash(sms *v1alpha1.SMSMessage) string { return specHash(sms) }

// specHash identifies a message's content: recipient, sender and text. The
// TTL is not part of it: changing how long an object stays is no new message.
func specHash(sms *v1alpha1.SMSMessage) string {
	b, _ := json.Marshal([]any{sms.Spec.To, sms.Spec.SIMRef, sms.Spec.From, sms.Spec.Text})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Earlier returns the record of an earlier object of the same message (same
// namespace, name and spec) within the retention window, or nil.
func (s *Ledger) Earlier(ctx context.Context, sms *v1alpha1.SMSMessage) (*v1alpha1.SMSRecordSpec, error) {
	if s == nil || s.retention <= 0 {
		return nil, nil
	}
	var rec v1alpha1.SMSRecord
	if err := s.client.Get(ctx, recordKey(sms), &rec); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	if r := &rec.Spec; r.Message != sms.Name || r.UID == sms.UID || r.SpecHash != specHash(sms) || s.expired(r) {
		return nil, nil
	}
	return &rec.Spec, nil
}

func (s *Ledger) expired(rec *v1alpha1.SMSRecordSpec) bool {
	return s.now().Sub(rec.RecordedAt.Time) > s.retention
}

// Write records the message's state; the first write creates the record.
func (s *Ledger) Write(ctx context.Context, sms *v1alpha1.SMSMessage, state string) error {
	if s == nil || s.retention <= 0 {
		return nil
	}
	spec := v1alpha1.SMSRecordSpec{
		Message: sms.Name, SpecHash: specHash(sms), UID: sms.UID, State: state,
		AttemptID: sms.Status.AttemptID, Recipient: sms.Status.Recipient, SentAt: sms.Status.SentAt,
		RecordedAt: metav1.NewTime(s.now()),
	}
	key := recordKey(sms)
	var rec v1alpha1.SMSRecord
	err := s.client.Get(ctx, key, &rec)
	if apierrors.IsNotFound(err) {
		rec = v1alpha1.SMSRecord{ObjectMeta: metav1.ObjectMeta{
			Namespace: key.Namespace, Name: key.Name,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "sim-operator"},
		}, Spec: spec}
		return s.client.Create(ctx, &rec)
	}
	if err != nil {
		return err
	}
	rec.Spec = spec
	return s.client.Update(ctx, &rec)
}

// Forget deletes the record of a message that certainly did not go out.
func (s *Ledger) Forget(ctx context.Context, sms *v1alpha1.SMSMessage) error {
	if s == nil || s.retention <= 0 {
		return nil
	}
	rec := &v1alpha1.SMSRecord{ObjectMeta: metav1.ObjectMeta{Namespace: sms.Namespace, Name: recordKey(sms).Name}}
	return client.IgnoreNotFound(s.client.Delete(ctx, rec))
}

// Start sweeps expired records once an hour (and at start), so that the
// records stay bounded by the messages of one retention window.
func (s *Ledger) Start(ctx context.Context) error {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		s.sweep(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// NeedLeaderElection: one replica sweeps.
func (s *Ledger) NeedLeaderElection() bool { return true }

func (s *Ledger) sweep(ctx context.Context) {
	var list v1alpha1.SMSRecordList
	if err := s.client.List(ctx, &list); err != nil {
		logf.FromContext(ctx).Error(err, "listing SMS records to sweep")
		return
	}
	for i := range list.Items {
		rec := &list.Items[i]
		if !s.expired(&rec.Spec) {
			continue
		}
		if err := s.client.Delete(ctx, rec, client.Preconditions{UID: &rec.UID}); client.IgnoreNotFound(err) != nil {
			logf.FromContext(ctx).Error(err, "deleting an expired SMS record", "record", rec.Name)
		}
	}
}

// MigrateSMSRecords moves the records earlier versions kept as labelled
// ConfigMaps into SMSRecords, once, before the controllers start: each
// becomes an SMSRecord of the same name (an existing one is kept), then the
// ConfigMap is deleted. Nothing is sent. Without the rights to list
// ConfigMaps (the migration's own ClusterRole, which an installer may drop
// once upgraded) it does nothing and says so. It returns how many it moved.
func MigrateSMSRecords(ctx context.Context, reader client.Reader, writer client.Client) (int, error) {
	var list corev1.ConfigMapList
	err := reader.List(ctx, &list, client.HasLabels{LabelSMSRecord})
	if apierrors.IsForbidden(err) || meta.IsNoMatchError(err) {
		logf.FromContext(ctx).Info("not migrating SMS records kept as ConfigMaps: the operator may not list ConfigMaps " +
			"(bind the sms-ledger-migration ClusterRole for one start after an upgrade from a version before SMSRecord)")
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	moved := 0
	for i := range list.Items {
		cm := &list.Items[i]
		var spec v1alpha1.SMSRecordSpec
		if json.Unmarshal([]byte(cm.Data[recordDataKey]), &spec) != nil || spec.Message == "" {
			continue // not a record this operator wrote: left alone
		}
		rec := &v1alpha1.SMSRecord{ObjectMeta: metav1.ObjectMeta{Namespace: cm.Namespace, Name: cm.Name,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "sim-operator"}}, Spec: spec}
		if err := writer.Create(ctx, rec); err != nil && !apierrors.IsAlreadyExists(err) {
			return moved, fmt.Errorf("migrating SMS record %s/%s: %w", cm.Namespace, cm.Name, err)
		}
		if err := writer.Delete(ctx, cm, client.Preconditions{UID: &cm.UID}); client.IgnoreNotFound(err) != nil && !apierrors.IsForbidden(err) {
			return moved, fmt.Errorf("deleting migrated SMS record ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
		}
		moved++
	}
	return moved, nil
}
