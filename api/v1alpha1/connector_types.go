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

// ConnectorSpec is the desired state of one connector in the Onomondo API.
// The API documents no connector fields, so the body is opaque JSON.
type ConnectorSpec struct {
	// id is the connector's ID in the API (/connector/:id): 1 to 63 letters,
	// digits, "_" or "-", starting with a letter or digit. Immutable.
	// +kubebuilder:validation:Pattern=`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec.id is immutable: create a new Connector instead"
	// +required
	ID string `json:"id"`

	// config is the connector's body, a JSON object sent as written. Drift is
	// judged only on the keys written here (deeply, numbers as numbers): keys
	// the API adds of its own are not drift. At most 64 top-level keys.
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:MaxProperties=64
	// +required
	Config runtime.RawExtension `json:"config"`

	// secretRef names a Secret in the Connector's namespace whose keys are
	// the connector's secret option names (key, cert, ca,
	// connectionString, …): on a Current account they are merged into
	// config.options when sent, never written in the manifest. The API never
	// returns them; a change of the Secret's data is sent once (status.secretHash),
	// at the next reconcile (a drift check or a sync request).
	// +optional
	SecretRef *LocalSecretReference `json:"secretRef,omitempty"`

	ManagedPolicies `json:",inline"`
}

// LocalSecretReference names a Secret in the resource's namespace.
type LocalSecretReference struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
}

// ConnectorStatus is what the operator last saw and did.
type ConnectorStatus struct {
	ManagedStatus `json:",inline"`

	// atProvider is the connector's body as last read from (or accepted by) the API.
	// +kubebuilder:validation:Type=object
	// +kubebuilder:pruning:PreserveUnknownFields
	// +optional
	AtProvider *runtime.RawExtension `json:"atProvider,omitempty"`

	// secretHash identifies the secretRef data last sent (a hash, never the
	// data).
	// +optional
	SecretHash string `json:"secretHash,omitempty"`
}

// Connector is one Onomondo connector, declared, with an opaque JSON body.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.atProvider) || (has(self.spec.accountRef) == has(oldSelf.spec.accountRef) && (!has(self.spec.accountRef) || self.spec.accountRef == oldSelf.spec.accountRef))",message="spec.accountRef cannot change once the Connector is bound: release it (deletionPolicy: Orphan, delete) and adopt it with a resource of the other account"
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=conn,categories=onomondo
// +kubebuilder:printcolumn:name="ID",type=string,JSONPath=`.spec.id`
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Connector struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the desired connector.
	// +required
	Spec ConnectorSpec `json:"spec"`

	// status is the observed state of the connector.
	// +optional
	Status ConnectorStatus `json:"status,omitzero"`
}

// Managed returns the policies and status this kind shares with the others.
func (c *Connector) Managed() (*ManagedPolicies, *ManagedStatus) {
	return &c.Spec.ManagedPolicies, &c.Status.ManagedStatus
}

// +kubebuilder:object:root=true

// ConnectorList contains a list of Connector.
type ConnectorList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []Connector `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &Connector{}, &ConnectorList{})
		return nil
	})
}
