package controller

import (
	"testing"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
)

func TestTheStatusPatchCarriesStatusAlone(t *testing.T) {
	before := v1alpha1.SIMStatus{}
	after := v1alpha1.SIMStatus{Binding: &v1alpha1.SIMBinding{IMSI: "238730000000001"}}
	patch, err := statusPatch(before, after)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(patch), `{"status":{"binding":{"imsi":"238730000000001"}}}`; got != want {
		t.Fatalf("patch %s, want %s: no metadata, so no resourceVersion and no optimistic lock", got, want)
	}
}
