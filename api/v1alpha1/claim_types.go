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

// ClaimSpec says which resource owns one object of one organisation.
type ClaimSpec struct {
	// organisation identifies the Onomondo organisation without its key: a
	// keyed hash of the API key.
	Organisation string `json:"organisation"`

	// kind is the kind of the claimed object (SIM, Connector).
	Kind string `json:"kind"`

	// identifier is what the claim is on, such as imsi:238731234567890.
	Identifier string `json:"identifier"`

	// holder is the resource that owns the object.
	Holder ClaimHolder `json:"holder"`
}

// ClaimHolder names the resource holding a claim.
type ClaimHolder struct {
	// namespace of the holding resource.
	Namespace string `json:"namespace"`
	// name of the holding resource.
	Name string `json:"name"`
	// uid of the holding resource: a new resource of the same name is
	// another holder.
	UID types.UID `json:"uid"`
}

// Claim is one resource's ownership of one object (a SIM by IMSI, a
// connector by ID) in one organisation, across every manager that talks to
// it: a cluster-scoped object whose name derives from the organisation and
// the identifier, so creating it is the arbitration (the apiserver lets one
// creation win). Managers write Claims; people only read them, and delete
// one by hand only when its holder is known to be gone.
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,categories=onomondo
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.kind`
// +kubebuilder:printcolumn:name="Identifier",type=string,JSONPath=`.spec.identifier`
// +kubebuilder:printcolumn:name="Namespace",type=string,JSONPath=`.spec.holder.namespace`
// +kubebuilder:printcolumn:name="Holder",type=string,JSONPath=`.spec.holder.name`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Claim struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is a standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the claim.
	Spec ClaimSpec `json:"spec"`
}

// +kubebuilder:object:root=true

// ClaimList contains a list of Claim.
type ClaimList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []Claim `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &Claim{}, &ClaimList{})
		return nil
	})
}
