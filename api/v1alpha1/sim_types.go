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

// SIMSpec is the desired state of one SIM card in the Onomondo API.
// +kubebuilder:validation:XValidation:rule="has(self.imsi) || has(self.msisdn)",message="spec.imsi or spec.msisdn must be set: one of them identifies the SIM in the API"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.imsi) || (has(self.imsi) && self.imsi == oldSelf.imsi)",message="spec.imsi is immutable once set: create a new SIM resource instead"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.imsi) || !has(oldSelf.msisdn) || (has(self.msisdn) && self.msisdn == oldSelf.msisdn)",message="spec.msisdn identifies this SIM (it has no spec.imsi) and is immutable"
// +kubebuilder:validation:XValidation:rule="!self.dataThrottling || self.data",message="spec.dataThrottling: true requires spec.data: true (the API rejects it with data_data_throttling_conflict)"
type SIMSpec struct {
	// imsi is the SIM's 15-digit International Mobile Subscriber Identity.
	// When set it addresses the SIM in the API (/sim/:imsi). Immutable.
	// +kubebuilder:validation:Pattern=`^[0-9]{15}$`
	// +optional
	IMSI string `json:"imsi,omitempty"`

	// msisdn is the SIM's phone number in international E.164 format, with or
	// without a leading "+" (for example 4512345678). It addresses the SIM
	// when imsi is not set, and is then immutable.
	// +kubebuilder:validation:Pattern=`^\+?[1-9][0-9]{1,14}$`
	// +optional
	MSISDN string `json:"msisdn,omitempty"`

	// voice enables calls over GSM.
	// +kubebuilder:default=true
	// +optional
	Voice bool `json:"voice"`

	// sms enables SMS over GSM.
	// +kubebuilder:default=true
	// +optional
	SMS bool `json:"sms"`

	// data enables data over GPRS/EDGE/LTE.
	// +kubebuilder:default=true
	// +optional
	Data bool `json:"data"`

	// dataThrottling limits the SIM's data bandwidth. It requires data: true.
	// +kubebuilder:default=false
	// +optional
	DataThrottling bool `json:"dataThrottling"`

	ManagedPolicies `json:",inline"`
}

// SIMObservation is the SIM as the API last reported or accepted it.
type SIMObservation struct {
	// imsi as known to the API.
	// +optional
	IMSI string `json:"imsi,omitempty"`
	// msisdn as known to the API.
	// +optional
	MSISDN string `json:"msisdn,omitempty"`
	// voice as known to the API.
	Voice bool `json:"voice"`
	// sms as known to the API.
	SMS bool `json:"sms"`
	// data as known to the API.
	Data bool `json:"data"`
	// dataThrottling as known to the API.
	DataThrottling bool `json:"dataThrottling"`
}

// SIMStatus is what the operator last saw and did.
type SIMStatus struct {
	ManagedStatus `json:",inline"`

	// atProvider is the SIM as last seen in the API.
	// +optional
	AtProvider *SIMObservation `json:"atProvider,omitempty"`
}

// SIM is one Onomondo SIM card, declared: the operator makes the real SIM's
// voice, SMS, data and data-throttling settings match the spec.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sim,categories=onomondo
// +kubebuilder:printcolumn:name="IMSI",type=string,JSONPath=`.spec.imsi`
// +kubebuilder:printcolumn:name="MSISDN",type=string,JSONPath=`.spec.msisdn`
// +kubebuilder:printcolumn:name="Voice",type=boolean,JSONPath=`.spec.voice`
// +kubebuilder:printcolumn:name="SMS",type=boolean,JSONPath=`.spec.sms`
// +kubebuilder:printcolumn:name="Data",type=boolean,JSONPath=`.spec.data`
// +kubebuilder:printcolumn:name="Throttled",type=boolean,JSONPath=`.spec.dataThrottling`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type SIM struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the desired state of the SIM.
	// +required
	Spec SIMSpec `json:"spec"`

	// status is the observed state of the SIM.
	// +optional
	Status SIMStatus `json:"status,omitzero"`
}

// APIID is the identifier the API addresses this SIM by: the IMSI when set,
// else the MSISDN.
func (s *SIM) APIID() string {
	if s.Spec.IMSI != "" {
		return s.Spec.IMSI
	}
	return s.Spec.MSISDN
}

// Managed returns the policies and status this kind shares with the others.
func (s *SIM) Managed() (*ManagedPolicies, *ManagedStatus) {
	return &s.Spec.ManagedPolicies, &s.Status.ManagedStatus
}

// +kubebuilder:object:root=true

// SIMList contains a list of SIM.
type SIMList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []SIM `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &SIM{}, &SIMList{})
		return nil
	})
}
