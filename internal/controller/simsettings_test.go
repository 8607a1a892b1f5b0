package controller

import (
	"reflect"
	"testing"

	"k8s.io/utils/ptr"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

func TestEverySIMSettingIsListedOnce(t *testing.T) {
	typ := reflect.TypeFor[v1alpha1.SIMSettings]()
	if typ.NumField() != len(simSettings) {
		t.Fatalf("SIMSettings has %d fields, simSettings lists %d: a setting missing there never converges", typ.NumField(), len(simSettings))
	}
	for i, f := range simSettings {
		var s v1alpha1.SIMSettings
		*f.spec(&s) = ptr.To(true)
		for j := range typ.NumField() {
			if set := !reflect.ValueOf(s).Field(j).IsNil(); set != (i == j) {
				t.Errorf("simSettings[%d] (%s) sets field %s: %t", i, f.name, typ.Field(j).Name, set)
			}
		}
		if tag := typ.Field(i).Tag.Get("json"); tag != f.name+",omitempty" {
			t.Errorf("simSettings[%d] is %q, field %s is %q", i, f.name, typ.Field(i).Name, tag)
		}
	}
}

func TestOnlyTheSettingsTheSpecSetsAreCompared(t *testing.T) {
	got := v1alpha1.SIMSettings{Voice: ptr.To(false), SMS: ptr.To(true), Data: ptr.To(true), DataThrottling: ptr.To(false)}
	for _, tc := range []struct {
		name string
		want v1alpha1.SIMSettings
		ok   bool
	}{
		{"nothing managed", v1alpha1.SIMSettings{}, true},
		{"one managed, equal", v1alpha1.SIMSettings{Voice: ptr.To(false)}, true},
		{"one managed, different", v1alpha1.SIMSettings{Voice: ptr.To(true)}, false},
		{"throttling managed, different", v1alpha1.SIMSettings{DataThrottling: ptr.To(true)}, false},
	} {
		if settingsMatch(tc.want, got) != tc.ok {
			t.Errorf("%s: settingsMatch = %t", tc.name, !tc.ok)
		}
	}
	if settingsMatch(v1alpha1.SIMSettings{SMS: ptr.To(true)}, v1alpha1.SIMSettings{}) {
		t.Error("a managed setting never observed must not match")
	}
}

func TestAWriteKeepsWhatTheSIMHasForUnmanagedSettings(t *testing.T) {
	spec := v1alpha1.SIMSettings{Voice: ptr.To(true)}
	if w := wireSettings(spec, nil); w != (onomondo.SIM{Voice: true, SMS: true, Data: true}) {
		t.Errorf("create: %+v, want the API's defaults for what the spec leaves out", w)
	}
	live := observation(&onomondo.SIM{Voice: false, SMS: false, Data: true, DataThrottling: true})
	if w := wireSettings(spec, live); w != (onomondo.SIM{Voice: true, SMS: false, Data: true, DataThrottling: true}) {
		t.Errorf("update: %+v, want the spec's voice and the SIM's own values for the rest", w)
	}
}
