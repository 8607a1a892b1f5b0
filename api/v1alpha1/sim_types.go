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
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// SIMSpec is the desired state of one SIM card in the Onomondo API.
// +kubebuilder:validation:XValidation:rule="has(self.imsi) || has(self.msisdn) || has(self.simId) || has(self.iccid)",message="spec.imsi or spec.msisdn (Legacy), or spec.simId or spec.iccid (Current), must be set: it identifies the SIM in the API"
// +kubebuilder:validation:XValidation:rule="!has(self.simId) || !has(self.iccid) || size(self.iccid) < 19 || self.iccid.substring(10, 19) == self.simId",message="spec.simId must be the ICCID's digits 11-19: spec.simId and spec.iccid name two SIMs"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.simId) || (has(self.simId) && self.simId == oldSelf.simId)",message="spec.simId is immutable once set: create a new SIM resource instead"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.iccid) || (has(self.iccid) && self.iccid == oldSelf.iccid)",message="spec.iccid is immutable once set: create a new SIM resource instead"
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.imsi) || (has(self.imsi) && self.imsi == oldSelf.imsi)",message="spec.imsi is immutable once set: create a new SIM resource instead"
// +kubebuilder:validation:XValidation:rule="has(oldSelf.imsi) || !has(oldSelf.msisdn) || (has(self.msisdn) && self.msisdn == oldSelf.msisdn)",message="spec.msisdn identifies this SIM (it has no spec.imsi) and is immutable"
// +kubebuilder:validation:XValidation:rule="!(has(self.dataThrottling) && self.dataThrottling && has(self.data) && !self.data)",message="spec.dataThrottling: true requires spec.data: true (the API rejects it with data_data_throttling_conflict)"
type SIMSpec struct {
	// imsi is the SIM's 15-digit International Mobile Subscriber Identity.
	// When set it addresses the SIM in the API (/sim/:imsi). Immutable. Added
	// to a SIM first addressed by its MSISDN, it must be the IMSI the API
	// reports for that SIM (status.binding.imsi), else the resource is refused
	// with reason IdentityMismatch and makes no call.
	// +kubebuilder:validation:Pattern=`^[0-9]{15}$`
	// +optional
	IMSI string `json:"imsi,omitempty"`

	// msisdn is the SIM's phone number in international E.164 format, with or
	// without a leading "+" (for example 4512345678). It addresses the SIM
	// when imsi is not set, and is then immutable; with imsi set it is a
	// setting (a change moves the number with one PUT).
	// +kubebuilder:validation:Pattern=`^\+?[1-9][0-9]{1,14}$`
	// +optional
	MSISDN string `json:"msisdn,omitempty"`

	// simId is the SIM's 9-digit SIM ID (Current edition): the ICCID's
	// digits 11-19. It addresses the SIM (/sims/{simId}). Immutable.
	// +kubebuilder:validation:Pattern=`^[0-9]{9}$`
	// +optional
	SIMID string `json:"simId,omitempty"`

	// iccid is the SIM's ICCID, 18 to 22 digits (Current edition). It
	// addresses the SIM when simId is not set; with both set they must agree.
	// Immutable.
	// +kubebuilder:validation:Pattern=`^[0-9]{18,22}$`
	// +optional
	ICCID string `json:"iccid,omitempty"`

	SIMSettings `json:",inline"`

	CurrentSettings `json:",inline"`

	ManagedPolicies `json:",inline"`
}

// CurrentSettings are what a SIM on a Current account manages. Each is
// optional; unset is not managed (late initialisation: the operator never
// changes it). On a Legacy account they are refused (NotInEdition).
type CurrentSettings struct {
	// activated: whether the SIM may attach to networks. deletionPolicy:
	// Delete deactivates the SIM (activated: false) and never removes it.
	// +optional
	Activated *bool `json:"activated,omitempty"`

	// label is the SIM's label; "" clears it.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Label *string `json:"label,omitempty"`

	// networkList is the name of the Onomondo network list (API field
	// network_whitelist) the SIM may use; "" clears it.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	NetworkList *string `json:"networkList,omitempty"`

	// imeiLock locks the SIM to one device's 15-digit IMEI; "" clears it.
	// +kubebuilder:validation:Pattern=`^([0-9]{15})?$`
	// +optional
	IMEILock *string `json:"imeiLock,omitempty"`

	// connector is the name of the connector the SIM's traffic goes to; ""
	// clears it.
	// +kubebuilder:validation:MaxLength=255
	// +optional
	Connector *string `json:"connector,omitempty"`

	// dataLimit is the SIM's data limit, sent in bytes.
	// +optional
	DataLimit *DataLimit `json:"dataLimit,omitempty"`

	// technologies are the radio technologies the SIM may use.
	// +optional
	Technologies *Technologies `json:"technologies,omitempty"`

	// tags are tag names of the account, resolved to their IDs; a name the
	// account does not have is refused (TagNotFound). Unset: not managed;
	// empty: no tags.
	// +listType=set
	// +optional
	Tags []string `json:"tags,omitempty"`
}

// DataLimit is a SIM's data limit.
type DataLimit struct {
	// total is the limit, a quantity of bytes (e.g. 500Mi, 10G).
	Total resource.Quantity `json:"total"`

	// alertThreshold is where an alert is raised, a quantity of bytes.
	// +optional
	AlertThreshold *resource.Quantity `json:"alertThreshold,omitempty"`
}

// Technologies are the radio technologies a SIM may use; each unset is not
// managed.
type Technologies struct {
	// sms over the network.
	// +optional
	SMS *bool `json:"sms,omitempty"`
	// twoGThreeG: 2G and 3G.
	// +optional
	TwoGThreeG *bool `json:"twoGThreeG,omitempty"`
	// fourG: 4G/LTE.
	// +optional
	FourG *bool `json:"fourG,omitempty"`
}

// SIMSettings are a SIM's switchable services, declared once for the spec
// (what to manage) and for status.atProvider (what the API reports). In the
// spec a field left unset is not managed: the operator never changes it on a
// live SIM, and a new SIM gets the API's documented default.
type SIMSettings struct {
	// voice enables calls over GSM. Unset: not managed (the API's default
	// for a new SIM is true).
	// +optional
	Voice *bool `json:"voice,omitempty"`

	// sms enables SMS over GSM. Unset: not managed (the API's default for a
	// new SIM is true).
	// +optional
	SMS *bool `json:"sms,omitempty"`

	// data enables data over GPRS/EDGE/LTE. Unset: not managed (the API's
	// default for a new SIM is true).
	// +optional
	Data *bool `json:"data,omitempty"`

	// dataThrottling limits the SIM's data bandwidth; true requires data.
	// Unset: not managed (the API's default for a new SIM is false).
	// +optional
	DataThrottling *bool `json:"dataThrottling,omitempty"`
}

// SIMObservation is the SIM as the API last reported or accepted it.
type SIMObservation struct {
	// imsi as known to the API.
	// +optional
	IMSI string `json:"imsi,omitempty"`
	// msisdn as known to the API.
	// +optional
	MSISDN string `json:"msisdn,omitempty"`

	SIMSettings `json:",inline"`

	// simId as the current API reports it.
	// +optional
	SIMID string `json:"simId,omitempty"`
	// iccid as the current API reports it.
	// +optional
	ICCID string `json:"iccid,omitempty"`

	CurrentSettings `json:",inline"`

	// online: the SIM is attached to a network now (Current edition).
	// +optional
	Online *bool `json:"online,omitempty"`
	// lastOnlineAt is when the SIM last came online, as the API reports it.
	// +optional
	LastOnlineAt string `json:"lastOnlineAt,omitempty"`
	// network is the network the SIM is on ("name (mcc mnc)").
	// +optional
	Network string `json:"network,omitempty"`
}

// SIMBinding is the one SIM in the API that a resource manages. It is set by
// the first create, adoption or observation the API confirmed, and every
// later call (GET, PUT, DELETE) addresses it, never a newly typed spec value.
type SIMBinding struct {
	// imsi of the bound SIM as the API reports it; empty while a SIM created
	// by its MSISDN alone has not been read back yet.
	// +optional
	IMSI string `json:"imsi,omitempty"`

	// msisdn of the bound SIM as the API reports it; empty while the API has
	// not told (a SIM created by IMSI learns it at its first read).
	// +optional
	MSISDN string `json:"msisdn,omitempty"`

	// simId of the bound SIM (Current edition).
	// +optional
	SIMID string `json:"simId,omitempty"`

	// iccid of the bound SIM (Current edition).
	// +optional
	ICCID string `json:"iccid,omitempty"`
}

// SIMStatus is what the operator last saw and did.
type SIMStatus struct {
	ManagedStatus `json:",inline"`

	// binding is the SIM this resource manages, once the API has confirmed it.
	// +optional
	Binding *SIMBinding `json:"binding,omitempty"`

	// atProvider is the SIM as last seen in the API.
	// +optional
	AtProvider *SIMObservation `json:"atProvider,omitempty"`
}

// SIM is one Onomondo SIM card, declared: the operator makes the real SIM's
// voice, SMS, data and data-throttling settings match the spec.
// +kubebuilder:validation:XValidation:rule="!has(oldSelf.status) || !has(oldSelf.status.binding) || (has(self.spec.accountRef) == has(oldSelf.spec.accountRef) && (!has(self.spec.accountRef) || self.spec.accountRef == oldSelf.spec.accountRef))",message="spec.accountRef cannot change once the SIM is bound: release it (deletionPolicy: Orphan, delete) and adopt it with a resource of the other account"
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=sim,categories=onomondo
// +kubebuilder:printcolumn:name="IMSI",type=string,JSONPath=`.status.binding.imsi`
// +kubebuilder:printcolumn:name="MSISDN",type=string,JSONPath=`.status.binding.msisdn`
// +kubebuilder:printcolumn:name="Voice",type=boolean,JSONPath=`.status.atProvider.voice`
// +kubebuilder:printcolumn:name="SMS",type=boolean,JSONPath=`.status.atProvider.sms`
// +kubebuilder:printcolumn:name="Data",type=boolean,JSONPath=`.status.atProvider.data`
// +kubebuilder:printcolumn:name="Throttled",type=boolean,JSONPath=`.status.atProvider.dataThrottling`
// +kubebuilder:printcolumn:name="Synced",type=string,JSONPath=`.status.conditions[?(@.type=="Synced")].status`
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

// APIID is the identifier the spec names the SIM by: the IMSI when set, else
// the MSISDN. Calls address the binding once there is one (see BoundID).
func (s *SIM) APIID() string {
	switch {
	case s.Spec.IMSI != "":
		return s.Spec.IMSI
	case s.Spec.MSISDN != "":
		return s.Spec.MSISDN
	case s.Spec.SIMID != "":
		return s.Spec.SIMID
	}
	return s.Spec.ICCID
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
