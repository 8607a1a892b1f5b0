/*
Copyright 2026.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
)

// SMSRecordSpec is what the operator remembers of one message that went out
// (or may have).
type SMSRecordSpec struct {
	// message is the SMSMessage's name.
	Message string `json:"message"`

	// specHash identifies what the message said (recipient, sender, text).
	SpecHash string `json:"specHash"`

	// uid is the SMSMessage object that sent it: its own record never blocks it.
	UID types.UID `json:"uid"`

	// state is Sending (written before the POST), Sent or DeliveryUnknown.
	// +kubebuilder:validation:Enum=Sending;Sent;DeliveryUnknown
	State string `json:"state"`

	// attemptID is the attempt that sent it.
	// +optional
	AttemptID string `json:"attemptID,omitempty"`

	// recipient is the number it was sent to.
	// +optional
	Recipient string `json:"recipient,omitempty"`

	// sentAt is when the API accepted it.
	// +optional
	SentAt *metav1.Time `json:"sentAt,omitempty"`

	// recordedAt starts the retention window (--sms-record-retention).
	RecordedAt metav1.Time `json:"recordedAt"`
}

// SMSRecord is the operator's ledger entry for one SMSMessage, by namespace
// and name: a message re-created from Git after its object was deleted is
// not sent again while its record lasts. Written only by the operator; the
// aggregated namespace roles (view, edit, admin) do not grant it, so a
// namespace editor cannot delete a record to have a message sent again.
// +kubebuilder:object:root=true
// +kubebuilder:resource:categories=onomondo
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.spec.message`
// +kubebuilder:printcolumn:name="State",type=string,JSONPath=`.spec.state`
// +kubebuilder:printcolumn:name="Sent",type=date,JSONPath=`.spec.sentAt`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SMSRecord struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is a standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the record.
	Spec SMSRecordSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// SMSRecordList contains a list of SMSRecord.
type SMSRecordList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []SMSRecord `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &SMSRecord{}, &SMSRecordList{})
		return nil
	})
}
