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

// WebhookEventType is an event type a webhook may exclude.
// +kubebuilder:validation:Enum=usage;usage-sms;usage-alert;cost-alert;network-registration;network-deregistration;network-authentication;sms;location
type WebhookEventType string

// WebhookSpec is the desired state of one Onomondo webhook (Current edition).
type WebhookSpec struct {
	// url receives the events; https only.
	// +kubebuilder:validation:Pattern=`^https://[^\s]+$`
	// +kubebuilder:validation:MaxLength=2048
	URL string `json:"url"`

	// label names the webhook in the Onomondo app. A webhook whose create
	// answer was lost is found again by its url and label before any second
	// POST, so give webhooks of one account distinct labels.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Label string `json:"label,omitempty"`

	// active: events are delivered. Defaults to true.
	// +kubebuilder:default=true
	// +optional
	Active *bool `json:"active,omitempty"`

	// excludeTypes are event types not delivered.
	// +listType=set
	// +optional
	ExcludeTypes []WebhookEventType `json:"excludeTypes,omitempty"`

	// tags are tag names of the account (resolved to IDs); only SIMs with
	// these tags send events. Unset: not managed.
	// +listType=set
	// +optional
	Tags []string `json:"tags,omitempty"`

	ManagedPolicies `json:",inline"`
}

// WebhookStatus is what the operator last saw and did.
type WebhookStatus struct {
	ManagedStatus `json:",inline"`

	// id is the webhook's ID in the API, from its create: the binding.
	// +optional
	ID string `json:"id,omitempty"`

	// atProvider is the webhook as last read from (or accepted by) the API.
	// +optional
	AtProvider *WebhookObservation `json:"atProvider,omitempty"`
}

// WebhookObservation is the webhook as the API last reported it.
type WebhookObservation struct {
	// url as the API reports it.
	// +optional
	URL string `json:"url,omitempty"`
	// label as the API reports it.
	// +optional
	Label string `json:"label,omitempty"`
	// active as the API reports it.
	Active bool `json:"active"`
	// excludeTypes as the API reports them.
	// +optional
	ExcludeTypes []WebhookEventType `json:"excludeTypes,omitempty"`
	// tags (names) as the API reports them.
	// +optional
	Tags []string `json:"tags,omitempty"`
}

// Webhook is one Onomondo webhook, declared (Current edition). At most one
// POST is made per resource, ever: the ID the API returns is the binding,
// and a create whose answer is lost is found again by listing.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.id) || (has(self.spec.accountRef) == has(oldSelf.spec.accountRef) && (!has(self.spec.accountRef) || self.spec.accountRef == oldSelf.spec.accountRef))",message="spec.accountRef cannot change once the Webhook is bound"
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=wh,categories=onomondo
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.url`
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.status.id`
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Webhook struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is a standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the webhook the API should hold.
	// +required
	Spec WebhookSpec `json:"spec"`

	// status is what the operator last saw and did.
	// +optional
	Status WebhookStatus `json:"status,omitzero"`
}

// Managed returns the policies and status this kind shares with the others.
func (w *Webhook) Managed() (*ManagedPolicies, *ManagedStatus) {
	return &w.Spec.ManagedPolicies, &w.Status.ManagedStatus
}

// +kubebuilder:object:root=true

// WebhookList contains a list of Webhook.
type WebhookList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []Webhook `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &Webhook{}, &WebhookList{})
		return nil
	})
}
