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
)

// AnnotationRetryDelivery, set to the status.attemptID of a message whose
// delivery is unknown, authorizes exactly one more send attempt. Whoever sets
// it accepts that the recipient may get the message twice.
const AnnotationRetryDelivery = "onomondo.sim-operator.dev/retry-delivery"

// LocalSIMReference names a SIM resource in the same namespace.
type LocalSIMReference struct {
	// name of the SIM resource; its MSISDN becomes the recipient.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// SMSMessageSpec is one SMS to send. It is immutable: to send another
// message, create another SMSMessage.
// +kubebuilder:validation:XValidation:rule="has(self.to) != has(self.simRef)",message="exactly one of spec.to and spec.simRef must be set"
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: create a new SMSMessage to send another message"
type SMSMessageSpec struct {
	// to is the recipient's phone number in E.164 format (optional leading +).
	// +kubebuilder:validation:Pattern=`^\+?[1-9][0-9]{1,14}$`
	// +optional
	To string `json:"to,omitempty"`

	// simRef names a SIM in this namespace whose MSISDN is the recipient.
	// +optional
	SIMRef *LocalSIMReference `json:"simRef,omitempty"`

	// from is the sender shown to the recipient: 1 to 11 letters and digits,
	// or a number of up to 15 digits.
	// +kubebuilder:validation:Pattern=`^([A-Za-z0-9]{1,11}|[0-9]{1,15})$`
	From string `json:"from"`

	// text is the message body, 1 to 1600 characters of UTF-8.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1600
	Text string `json:"text"`

	// accountRef names the Account (in this namespace) or ClusterAccount
	// the message is sent through; unset, the operator's default account.
	// +optional
	AccountRef *AccountReference `json:"accountRef,omitempty"`

	// ttlSecondsAfterFinished deletes the resource this many seconds after
	// it finished (sent or failed for good), like a Job's.
	// +kubebuilder:validation:Minimum=0
	// +optional
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`
}

// SMSMessageStatus records the one send attempt (or the reason there was none).
type SMSMessageStatus struct {
	// observedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Sent (True once the API accepted the message; Unknown while
	// sending or when the outcome cannot be known; False when it failed).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// attemptID identifies the current send attempt; it is written before the
	// API is called, so a crash after the call can never lead to a second send.
	// +optional
	AttemptID string `json:"attemptID,omitempty"`

	// attempts counts the POSTs the operator has started for this message.
	// +optional
	Attempts int32 `json:"attempts,omitempty"`

	// recipient is the number the message was (or is being) sent to.
	// +optional
	Recipient string `json:"recipient,omitempty"`

	// sentAt is when the API accepted the message.
	// +optional
	SentAt *metav1.Time `json:"sentAt,omitempty"`

	// finishedAt is when the message reached a final state; the TTL counts from it.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`

	// lastError is the last API error.
	// +optional
	LastError *APIErrorStatus `json:"lastError,omitempty"`
}

// SMSMessage is one SMS, sent at most once through the Onomondo API.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sms,categories=onomondo
// +kubebuilder:printcolumn:name="To",type=string,JSONPath=`.status.recipient`
// +kubebuilder:printcolumn:name="From",type=string,JSONPath=`.spec.from`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Sent")].reason`
// +kubebuilder:printcolumn:name="Sent-At",type=date,JSONPath=`.status.sentAt`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SMSMessage struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the message to send.
	// +required
	Spec SMSMessageSpec `json:"spec"`

	// status is the outcome of sending it.
	// +optional
	Status SMSMessageStatus `json:"status,omitzero"`
}

// +kubebuilder:object:root=true

// SMSMessageList contains a list of SMSMessage.
type SMSMessageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []SMSMessage `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &SMSMessage{}, &SMSMessageList{})
		return nil
	})
}
