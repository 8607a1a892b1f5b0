package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

// The SMS record remembers, in the cluster, every message that went out (or
// may have), by namespace, name and spec, so that a message re-created from
// Git after its object was deleted (a TTL, a prune, a second apply after a
// delete) is not sent again. One small ConfigMap per message, named from a
// hash of the message's name in its namespace:
//
//   - per message, not per namespace: each is written by one reconcile of one
//     message, so a burst of messages never contends on one object, and each
//     stays far below the 1 MiB object limit;
//   - a ConfigMap, labelled, so `kubectl get cm -l` shows the record with no
//     new kind to install; the operator caches only the labelled ones;
//   - bounded: a record older than the retention window (--sms-record-retention,
//     30 days) is deleted by a sweep, and a namespace's records go with it.
const (
	// LabelSMSRecord marks the ConfigMaps that hold SMS records.
	LabelSMSRecord = "onomondo.sim-operator.dev/sms-record"
	// DefaultSMSRecordRetention is how long a message's record keeps it from being sent again.
	DefaultSMSRecordRetention = 30 * 24 * time.Hour

	recordSending  = "Sending"
	recordSent     = "Sent"
	recordUnknown  = "DeliveryUnknown"
	recordDataKey  = "record"
	recordNameBase = "sms-record-"
)

// smsRecord is what a ConfigMap remembers of one message.
type smsRecord struct {
	// Message is the SMSMessage's name; SpecHash identifies what it said.
	Message  string `json:"message"`
	SpecHash string `json:"specHash"`
	// UID is the object that sent it: its own record never blocks it.
	UID types.UID `json:"uid"`
	// State is Sending (written before the POST), Sent or DeliveryUnknown.
	State     string       `json:"state"`
	AttemptID string       `json:"attemptID"`
	Recipient string       `json:"recipient"`
	SentAt    *metav1.Time `json:"sentAt,omitempty"`
	// RecordedAt starts the retention window.
	RecordedAt metav1.Time `json:"recordedAt"`
}

// smsRecords reads and writes the records.
type smsRecords struct {
	client    client.Client
	retention time.Duration
	now       func() time.Time
}

// recordKey is the ConfigMap of a message: its name hashed (a message's name
// may be as long as a ConfigMap's may be, so no prefix would fit).
func recordKey(sms *v1alpha1.SMSMessage) types.NamespacedName {
	sum := sha256.Sum256([]byte(sms.Name))
	return types.NamespacedName{Namespace: sms.Namespace, Name: recordNameBase + hex.EncodeToString(sum[:12])}
}

// specHash identifies a message's content: recipient, sender and text. The
// TTL is not part of it: changing how long an object stays is no new message.
func specHash(sms *v1alpha1.SMSMessage) string {
	b, _ := json.Marshal([]any{sms.Spec.To, sms.Spec.SIMRef, sms.Spec.From, sms.Spec.Text})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// earlier returns the record of an earlier object of the same message (same
// namespace, name and spec) within the retention window, or nil.
func (s *smsRecords) earlier(ctx context.Context, sms *v1alpha1.SMSMessage) (*smsRecord, error) {
	if s == nil || s.retention <= 0 {
		return nil, nil
	}
	var cm corev1.ConfigMap
	if err := s.client.Get(ctx, recordKey(sms), &cm); err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	var rec smsRecord
	if json.Unmarshal([]byte(cm.Data[recordDataKey]), &rec) != nil || rec.Message != sms.Name ||
		rec.UID == sms.UID || rec.SpecHash != specHash(sms) || s.expired(&rec) {
		return nil, nil
	}
	return &rec, nil
}

func (s *smsRecords) expired(rec *smsRecord) bool {
	return s.now().Sub(rec.RecordedAt.Time) > s.retention
}

// write records the message's state; the first write creates the ConfigMap.
func (s *smsRecords) write(ctx context.Context, sms *v1alpha1.SMSMessage, state string) error {
	if s == nil || s.retention <= 0 {
		return nil
	}
	rec := smsRecord{
		Message: sms.Name, SpecHash: specHash(sms), UID: sms.UID, State: state,
		AttemptID: sms.Status.AttemptID, Recipient: sms.Status.Recipient, SentAt: sms.Status.SentAt,
		RecordedAt: metav1.NewTime(s.now()),
	}
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	key := recordKey(sms)
	var cm corev1.ConfigMap
	err = s.client.Get(ctx, key, &cm)
	if apierrors.IsNotFound(err) {
		cm = corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
			Namespace: key.Namespace, Name: key.Name,
			Labels:      map[string]string{LabelSMSRecord: "true", "app.kubernetes.io/managed-by": "sim-operator"},
			Annotations: map[string]string{"onomondo.sim-operator.dev/sms-message": sms.Name},
		}, Data: map[string]string{recordDataKey: string(data)}}
		return s.client.Create(ctx, &cm)
	}
	if err != nil {
		return err
	}
	cm.Data = map[string]string{recordDataKey: string(data)}
	return s.client.Update(ctx, &cm)
}

// forget deletes the record of a message that certainly did not go out.
func (s *smsRecords) forget(ctx context.Context, sms *v1alpha1.SMSMessage) error {
	if s == nil || s.retention <= 0 {
		return nil
	}
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: sms.Namespace, Name: recordKey(sms).Name}}
	return client.IgnoreNotFound(s.client.Delete(ctx, cm))
}

// Start sweeps expired records once an hour (and at start), so that the
// records stay bounded by the messages of one retention window.
func (s *smsRecords) Start(ctx context.Context) error {
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
func (s *smsRecords) NeedLeaderElection() bool { return true }

func (s *smsRecords) sweep(ctx context.Context) {
	var list corev1.ConfigMapList
	if err := s.client.List(ctx, &list, client.HasLabels{LabelSMSRecord}); err != nil {
		logf.FromContext(ctx).Error(err, "listing SMS records to sweep")
		return
	}
	for i := range list.Items {
		var rec smsRecord
		cm := &list.Items[i]
		if json.Unmarshal([]byte(cm.Data[recordDataKey]), &rec) == nil && !s.expired(&rec) {
			continue
		}
		if err := s.client.Delete(ctx, cm, client.Preconditions{UID: &cm.UID}); client.IgnoreNotFound(err) != nil {
			logf.FromContext(ctx).Error(err, "deleting an expired SMS record", "configmap", cm.Name)
		}
	}
}
