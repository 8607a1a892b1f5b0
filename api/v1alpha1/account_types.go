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

// AccountSpec is one Onomondo organisation's API: where it is, its key, and
// the client-side budget its calls share (each key has its own limit at the API).
type AccountSpec struct {
	// apiURL is the Onomondo API of this account: https, a host, an
	// optional path; no user info, query or fragment (the key goes in the
	// Authorization header to this URL and nowhere else).
	// +kubebuilder:default="https://api.onomondo.com"
	// +kubebuilder:validation:Pattern=`^https://[^/?#@\s]+(/[^?#\s]*)?$`
	// +kubebuilder:validation:MaxLength=2048
	// +optional
	APIURL string `json:"apiURL,omitempty"`

	// caBundle is an extra PEM bundle to trust for apiURL (at most 64 KiB).
	// +kubebuilder:validation:MaxLength=65536
	// +optional
	CABundle string `json:"caBundle,omitempty"`

	// apiKeySecretRef names the Secret and key holding the API key. The
	// operator reads it with a get on that one Secret (a namespace owner
	// grants it with one RoleBinding; see docs/operations.md).
	APIKeySecretRef SecretKeyReference `json:"apiKeySecretRef"`

	// rate is this account's client-side budget in calls per second (the
	// hosted API allows 600 a minute per key: 10).
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +optional
	Rate int32 `json:"rate,omitempty"`

	// burst is the budget's burst.
	// +kubebuilder:default=10
	// +kubebuilder:validation:Minimum=1
	// +optional
	Burst int32 `json:"burst,omitempty"`

	// edition is the API this organisation speaks: Legacy (the seed's API,
	// /sim/{imsi} with POST, PUT and DELETE and four settings) or Current
	// (Onomondo's API as documented today: /sims/{id} with PATCH,
	// activation, network lists, IMEI lock, data limits, tags). A SIM's
	// fields of the other edition are refused with reason NotInEdition.
	// +kubebuilder:validation:Enum=Legacy;Current
	// +kubebuilder:default=Legacy
	// +optional
	Edition Edition `json:"edition,omitempty"`

	// authScheme is how the key is sent: empty sends the raw key in the
	// Authorization header (the official examples and Onomondo's own code);
	// Bearer sends "Bearer <key>", as the rendered docs show.
	// +kubebuilder:validation:Enum="";Bearer
	// +optional
	AuthScheme string `json:"authScheme,omitempty"`
}

// Edition is the shape of an organisation's Onomondo API.
type Edition string

// The editions.
const (
	EditionLegacy  Edition = "Legacy"
	EditionCurrent Edition = "Current"
)

// SecretKeyReference names one key of a Secret.
type SecretKeyReference struct {
	// name of the Secret.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`

	// key in the Secret's data holding the API key.
	// +kubebuilder:default=apiKey
	// +optional
	Key string `json:"key,omitempty"`

	// namespace of the Secret: required for a ClusterAccount, and ignored
	// for an Account (whose Secret is in its own namespace).
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// AccountStatus is what the operator last saw of the account.
type AccountStatus struct {
	// observedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (the key is present and was accepted at the last
	// call; reasons SecretNotFound, SecretForbidden, CredentialsRejected).
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// resources counts the SIMs, SMSMessages and Connectors that name this
	// account, refreshed at most once a minute.
	// +optional
	Resources int32 `json:"resources,omitempty"`
}

// Account is an Onomondo organisation that resources in its own namespace
// may use through spec.accountRef.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=acct,categories=onomondo
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.apiURL`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Resources",type=integer,JSONPath=`.status.resources`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type Account struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the account's API and key.
	// +required
	Spec AccountSpec `json:"spec"`

	// status is what the operator last saw.
	// +optional
	Status AccountStatus `json:"status,omitzero"`
}

// ClusterAccountSpec is an account that namespaces chosen by a selector may use.
type ClusterAccountSpec struct {
	AccountSpec `json:",inline"`

	// namespaceSelector picks the namespaces whose resources may use this
	// account. Empty (or absent) selects none.
	// +optional
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
}

// ClusterAccount is an Onomondo organisation offered to the namespaces its
// selector matches.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=cacct,categories=onomondo
// +kubebuilder:validation:XValidation:rule="has(self.spec.apiKeySecretRef.__namespace__)",message="spec.apiKeySecretRef.namespace is required for a ClusterAccount"
// +kubebuilder:printcolumn:name="URL",type=string,JSONPath=`.spec.apiURL`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Resources",type=integer,JSONPath=`.status.resources`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ClusterAccount struct {
	metav1.TypeMeta `json:",inline"`

	// metadata is standard object metadata.
	// +optional
	metav1.ObjectMeta `json:"metadata,omitzero"`

	// spec is the account's API, key and the namespaces that may use it.
	// +required
	Spec ClusterAccountSpec `json:"spec"`

	// status is what the operator last saw.
	// +optional
	Status AccountStatus `json:"status,omitzero"`
}

// AccountReference names the account a resource's calls go through.
type AccountReference struct {
	// kind is Account (in the resource's own namespace) or ClusterAccount.
	// +kubebuilder:validation:Enum=Account;ClusterAccount
	Kind string `json:"kind"`

	// name of the Account or ClusterAccount.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`

	// namespace of an Account; it must be the resource's own (an Account
	// serves only its namespace), and may be left out.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}

// AccountKey identifies an account in claims, metrics and the client
// registry: "" for the operator's default account, "Account/NS/NAME" or
// "ClusterAccount/NAME".
func AccountKey(namespace string, ref *AccountReference) string {
	switch {
	case ref == nil:
		return ""
	case ref.Kind == "ClusterAccount":
		return "ClusterAccount/" + ref.Name
	case ref.Namespace != "":
		return "Account/" + ref.Namespace + "/" + ref.Name
	default:
		return "Account/" + namespace + "/" + ref.Name
	}
}

// AccountName is AccountKey with the default account named "default", as
// metrics and `kubectl sim status` show it.
func AccountName(namespace string, ref *AccountReference) string {
	if k := AccountKey(namespace, ref); k != "" {
		return k
	}
	return "default"
}

// +kubebuilder:object:root=true

// AccountList contains a list of Account.
type AccountList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []Account `json:"items"`
}

// +kubebuilder:object:root=true

// ClusterAccountList contains a list of ClusterAccount.
type ClusterAccountList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitzero"`
	Items           []ClusterAccount `json:"items"`
}

func init() {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(SchemeGroupVersion, &Account{}, &AccountList{}, &ClusterAccount{}, &ClusterAccountList{})
		return nil
	})
}
