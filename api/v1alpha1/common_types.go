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

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ManagedPolicies are the spec fields every kind that mirrors an API object shares.
type ManagedPolicies struct {
	// accountRef names the Account (in this namespace) or ClusterAccount
	// whose API and key the calls use; unset, the operator's default account.
	// It cannot change once the object is bound: move a SIM between accounts
	// by releasing it (deletionPolicy: Orphan) and adopting it in the other.
	// +optional
	AccountRef *AccountReference `json:"accountRef,omitempty"`

	// deletionPolicy says what deleting this resource does to the object in
	// the API: Delete removes it, Orphan leaves it as it is.
	// +kubebuilder:default=Delete
	// +optional
	DeletionPolicy DeletionPolicy `json:"deletionPolicy,omitempty"`

	// managementPolicy is Manage to create, update and delete the object, or
	// ObserveOnly to only read it and report it in status (never writing),
	// for importing or auditing what exists.
	// +kubebuilder:default=Manage
	// +optional
	ManagementPolicy ManagementPolicy `json:"managementPolicy,omitempty"`
}

// ManagedStatus is the status every kind that mirrors an API object shares.
type ManagedStatus struct {
	// observedGeneration is the spec generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// conditions: Ready (the object in the API matches the spec), Synced
	// (the last reconcile succeeded; when False its reason is the API's error
	// code in CamelCase, such as ImsiForbidden), and, following kstatus,
	// Reconciling (retrying) and Stalled (waiting for someone to act),
	// each present only while True.
	// +listType=map
	// +listMapKey=type
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// lastError is the last API error, cleared by the next success.
	// +optional
	LastError *APIErrorStatus `json:"lastError,omitempty"`

	// lastHandledRequestedAt is the last value of the
	// onomondo.sim-operator.dev/requested-at annotation the operator acted
	// on: a new value asks for one immediate read and decision.
	// +optional
	LastHandledRequestedAt string `json:"lastHandledRequestedAt,omitempty"`

	// claim is the cluster-scoped Claim this resource holds on its object in
	// its organisation: taken before the first write, so that no other
	// resource, in this install or another, writes to the same object.
	// +optional
	Claim string `json:"claim,omitempty"`
}

// Annotations that steer a managed resource (SIM, Connector) without a spec change.
const (
	// AnnotationPaused set to "true" stops every API call and every write
	// for the resource, except one status update saying so (Synced=False,
	// reason ReconcilePaused). Deleting a paused resource waits until the
	// annotation is removed. Removing it resumes.
	AnnotationPaused = "onomondo.sim-operator.dev/paused"
	// AnnotationRequestedAt set to any new value (a timestamp, say) asks for
	// one immediate read and decision, and lifts a terminal error's block
	// for the current generation once. status.lastHandledRequestedAt
	// records the value handled.
	AnnotationRequestedAt = "onomondo.sim-operator.dev/requested-at"
	// AnnotationObserveFirst set to "true" (kubectl sim import writes it)
	// says the object already exists in the API: the operator's first call is
	// a GET that adopts it, never a POST, so applying an imported fleet costs
	// one call and no write per SIM when the manifests match.
	AnnotationObserveFirst = "onomondo.sim-operator.dev/observe-first"
)

// DeletionPolicy says what happens to the object in the Onomondo API when
// its Kubernetes resource is deleted.
// +kubebuilder:validation:Enum=Delete;Orphan
type DeletionPolicy string

const (
	// DeletionPolicyDelete deletes the object in the API before the resource goes.
	DeletionPolicyDelete DeletionPolicy = "Delete"
	// DeletionPolicyOrphan leaves the object in the API untouched.
	DeletionPolicyOrphan DeletionPolicy = "Orphan"
)

// ManagementPolicy says whether the operator may write to the API.
// +kubebuilder:validation:Enum=Manage;ObserveOnly
type ManagementPolicy string

const (
	// ManagementPolicyManage creates, updates and deletes the object to match the spec.
	ManagementPolicyManage ManagementPolicy = "Manage"
	// ManagementPolicyObserveOnly only reads the object and reports it in status;
	// it never writes, so it is safe for importing and auditing an existing fleet.
	ManagementPolicyObserveOnly ManagementPolicy = "ObserveOnly"
)

// Condition types and reasons shared by the kinds of this group.
const (
	// ConditionReady is True when the object in the API matches the spec.
	ConditionReady = "Ready"
	// ConditionSynced is True when the last reconcile reached the API without error.
	ConditionSynced = "Synced"
	// ConditionSent is the SMSMessage's delivery condition.
	ConditionSent = "Sent"
	// ConditionReconciling is True while the operator is still working
	// towards the spec (retrying after an error); absent otherwise (kstatus).
	ConditionReconciling = "Reconciling"
	// ConditionStalled is True when the operator cannot make progress
	// without someone acting (a terminal API error, a duplicate, rejected
	// or missing credentials); absent otherwise (kstatus).
	ConditionStalled = "Stalled"
)

// APIErrorStatus is the last error the Onomondo API (or the way to it) returned.
type APIErrorStatus struct {
	// code is the API's own error code, such as imsi_forbidden; empty when
	// the API sent none (for example a timeout or a 503 without a body).
	// +optional
	Code string `json:"code,omitempty"`

	// httpStatus is the HTTP status the API answered with; 0 when no answer arrived.
	// +optional
	HTTPStatus int32 `json:"httpStatus,omitempty"`

	// message is a human-readable description of the failure.
	// +optional
	Message string `json:"message,omitempty"`

	// terminal is true when only a change of the spec can fix the error;
	// the operator then makes no further calls for this generation.
	Terminal bool `json:"terminal"`
}
