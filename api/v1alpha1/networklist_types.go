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

// NetworkListSpec is the desired state of one Onomondo network list (the
// API's network whitelist): the networks its SIMs may use. Current edition
// only.
type NetworkListSpec struct {
	// name is the list's name in the API; defaults to metadata.name.
	// Immutable (the API addresses a list by its name).
	// +kubebuilder:validation:Pattern=`^[-_a-zA-Z0-9]{1,255}$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.name is immutable: create a new NetworkList instead"
	// +optional
	Name string `json:"name,omitempty"`

	// networks the list allows; the list is replaced whole when it differs.
	// +kubebuilder:validation:MaxItems=1000
	// +listType=atomic
	Networks []NetworkRef `json:"networks"`

	// tags are tag names of the account, resolved to their IDs (TagNotFound
	// otherwise). Unset: not managed.
	// +listType=set
	// +optional
	Tags []string `json:"tags,omitempty"`

	ManagedPolicies `json:",inline"`
}

// NetworkRef names a network, or a whole country without mnc.
type NetworkRef struct {
	// mcc is the Mobile Country Code, 3 digits (leading zeros kept).
	// +kubebuilder:validation:Pattern=`^[0-9]{3}$`
	MCC string `json:"mcc"`

	// mnc is the Mobile Network Code, 2 or 3 digits (leading zeros kept);
	// unset: every network of the country.
	// +kubebuilder:validation:Pattern=`^[0-9]{2,3}$`
	// +optional
	MNC string `json:"mnc,omitempty"`
}

// NetworkListObservation is the list as the API last reported it.
type NetworkListObservation struct {
	// networks as the API reports them.
	// +optional
	Networks []NetworkRef `json:"networks,omitempty"`
	// tags (names) as the API reports them.
	// +optional
	Tags []string `json:"tags,omitempty"`
}

// NetworkListStatus is what the operator last saw and did.
type NetworkListStatus struct {
	ManagedStatus `json:",inline"`

	// atProvider is the list as last read from (or accepted by) the API.
	// +optional
	AtProvider *NetworkListObservation `json:"atProvider,omitempty"`
}

// NetworkList is one Onomondo network list, declared (Current edition). A
// list that SIMs still use cannot be deleted: the deletion waits, retried
// with reason InUse, until they leave it.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.atProvider) || (has(self.spec.accountRef) == has(oldSelf.spec.accountRef) && (!has(self.spec.accountRef) || self.spec.accountRef == oldSelf.spec.accountRef))",message="spec.accountRef cannot change once the NetworkList is bound"
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=nl,categories=onomondo
// +kubebuilder:printcolumn:name="Name",type=string,JSONPath=`.spec.name`
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type NetworkList struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is a standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the list the API should hold.
	// +required
	Spec NetworkListSpec `json:"spec"`

	// status is what the operator last saw and did.
	// +optional
	Status NetworkListStatus `json:"status,omitzero"`
}

// ListName is the list's name in the API.
func (n *NetworkList) ListName() string {
	if n.Spec.Name != "" {
		return n.Spec.Name
	}
	return n.Name
}

// Managed returns the policies and status this kind shares with the others.
func (n *NetworkList) Managed() (*ManagedPolicies, *ManagedStatus) {
	return &n.Spec.ManagedPolicies, &n.Status.ManagedStatus
}

// +kubebuilder:object:root=true

// NetworkListList contains a list of NetworkList.
type NetworkListList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []NetworkList `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &NetworkList{}, &NetworkListList{})
		return nil
	})
}
