package controller

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/sim-operator/sim-operator/api/v1alpha1"
	"github.com/sim-operator/sim-operator/internal/onomondo"
)

// A SIM on a Current account (Onomondo's API as documented today): a card
// that exists, read by SIM ID (or ICCID) and changed with one PATCH carrying
// only the managed settings that differ; deletion deactivates it.

// ReasonNotInEdition: the spec sets a field of the other edition than the
// account's; no call.
const ReasonNotInEdition = "NotInEdition"

// ReasonTagNotFound: a tag name the account does not have; terminal.
const ReasonTagNotFound = "TagNotFound"

// CurrentSIMAPI is what a SIM on a Current account needs of the client.
type CurrentSIMAPI interface {
	Current() bool
	ListSIMs(ctx context.Context, next string, limit int) (*onomondo.SIMPage, error)
	GetCurrentSIM(ctx context.Context, id string) (*onomondo.CurrentSIM, error)
	PatchSIM(ctx context.Context, id string, p onomondo.SIMPatch) (*onomondo.CurrentSIM, error)
	ListTags(ctx context.Context) ([]onomondo.Tag, error)
}

// currentIdentity: the SIM is named the current edition's way.
func currentIdentity(s *v1alpha1.SIM) bool {
	b := s.Status.Binding
	return s.Spec.SIMID != "" || s.Spec.ICCID != "" || (b != nil && b.SIMID != "")
}

// currentAPI is the resource's client when its account speaks the current API.
func (e simExternal) currentAPI() (CurrentSIMAPI, bool) {
	api, ok := e.api.(CurrentSIMAPI)
	return api, ok && api.Current()
}

// fleetDriftCost: on a Current account a SIM's drift check reads its
// account's list, one call per page of SIMs.
func (simExternal) fleetDriftCost() float64 { return 1.0 / onomondo.MaxSIMPage }

// observeFirst: a SIM of the current API is a card that exists; it is read,
// never created.
func (simExternal) observeFirst(s *v1alpha1.SIM) bool { return currentIdentity(s) }

// absent refuses a SIM the account does not have: a card that exists,
// never created.
func (e simExternal) absent(s *v1alpha1.SIM) error {
	return &specError{reason: ReasonSIMNotFound, msg: fmt.Sprintf(
		"the account has no SIM %s: a SIM is a card that exists (there is no create); check spec.simId or spec.iccid", simID(s))}
}

// deactivates: deletion on the current API deactivates the SIM.
func (e simExternal) deactivates() bool {
	_, current := e.currentAPI()
	return current
}

// editionError refuses, before any call, a field of the other edition.
func (e simExternal) editionError(_ context.Context, s *v1alpha1.SIM) error {
	_, current := e.currentAPI()
	return simEditionError(s, current)
}

// simEditionError refuses the first field of s that belongs to the other
// edition than the account's (current: the current API), naming it.
func simEditionError(s *v1alpha1.SIM, current bool) error {
	var field string
	if current {
		switch sp := s.Spec; {
		case sp.IMSI != "" && sp.SIMID == "" && sp.ICCID == "":
			field = "spec.imsi (name the SIM by spec.simId or spec.iccid)"
		case sp.MSISDN != "" && sp.SIMID == "" && sp.ICCID == "":
			field = "spec.msisdn (name the SIM by spec.simId or spec.iccid)"
		case sp.Voice != nil:
			field = "spec.voice"
		case sp.SMS != nil:
			field = "spec.sms"
		case sp.Data != nil:
			field = "spec.data"
		case sp.DataThrottling != nil:
			field = "spec.dataThrottling"
		}
	} else {
		field = currentField(s.Spec)
	}
	if field == "" {
		return nil
	}
	edition, other := v1alpha1.EditionLegacy, v1alpha1.EditionCurrent
	if current {
		edition, other = other, edition
	}
	return &specError{reason: ReasonNotInEdition, msg: fmt.Sprintf(
		"%s belongs to the %s edition; this SIM's account speaks the %s API: no call is made", field, other, edition)}
}

// currentField names a field of the current edition the spec sets, or "".
func currentField(sp v1alpha1.SIMSpec) string {
	c := sp.CurrentSettings
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"spec.simId", sp.SIMID != ""}, {"spec.iccid", sp.ICCID != ""}, {"spec.activated", c.Activated != nil},
		{"spec.label", c.Label != nil}, {"spec.networkList", c.NetworkList != nil}, {"spec.imeiLock", c.IMEILock != nil},
		{"spec.connector", c.Connector != nil}, {"spec.dataLimit", c.DataLimit != nil},
		{"spec.technologies", c.Technologies != nil}, {"spec.tags", c.Tags != nil},
	} {
		if f.set {
			return f.name
		}
	}
	return ""
}

// currentObservation is the status form of a SIM as the current API reports it.
func currentObservation(c *onomondo.CurrentSIM) *v1alpha1.SIMObservation {
	o := &v1alpha1.SIMObservation{SIMID: c.ID, ICCID: c.ICCID, IMSI: c.IMSI, MSISDN: normMSISDN(c.MSISDN),
		Online: &c.Online}
	o.Activated = &c.Activated
	o.Label, o.NetworkList, o.IMEILock, o.Connector = orEmpty(c.Label), orEmpty(c.NetworkWhitelist), orEmpty(c.IMEILock), orEmpty(c.Connector)
	if c.LastCameOnlineAt != nil {
		o.LastOnlineAt = *c.LastCameOnlineAt
	}
	if n := c.Network; n != nil && n.Name != nil {
		o.Network = *n.Name
		if n.MCC != nil && n.MNC != nil {
			o.Network += " (" + *n.MCC + " " + *n.MNC + ")"
		}
	}
	if d := c.DataLimit; d != nil && d.Total != nil {
		o.DataLimit = &v1alpha1.DataLimit{Total: *resource.NewQuantity(*d.Total, resource.BinarySI)}
		if d.AlertThreshold != nil {
			o.DataLimit.AlertThreshold = resource.NewQuantity(*d.AlertThreshold, resource.BinarySI)
		}
	}
	if t := c.Technologies; t != nil {
		o.Technologies = &v1alpha1.Technologies{SMS: t.SMS, TwoGThreeG: t.TwoGThreeG, FourG: t.FourG}
	}
	o.Tags = []string{}
	for _, t := range c.Tags {
		o.Tags = append(o.Tags, t.Name)
	}
	slices.Sort(o.Tags)
	return o
}

// orEmpty is a nullable string as a managed value: null is "".
func orEmpty(s *string) *string {
	if s == nil {
		return ptrTo("")
	}
	return s
}

func ptrTo[T any](v T) *T { return &v }

// currentChanges lists "field: observed → wanted" for each current setting
// the spec sets that the observed SIM has otherwise.
func currentChanges(want v1alpha1.CurrentSettings, got *v1alpha1.SIMObservation) []string {
	var out []string
	have := got.CurrentSettings
	str := func(name string, w, g *string) {
		if w != nil && (g == nil || *w != *g) {
			out = append(out, fmt.Sprintf("%s: %q → %q", name, deref(g), *w))
		}
	}
	if want.Activated != nil && (have.Activated == nil || *want.Activated != *have.Activated) {
		out = append(out, fmt.Sprintf("activated: %s → %t", describeBool(have.Activated), *want.Activated))
	}
	str("label", want.Label, have.Label)
	str("networkList", want.NetworkList, have.NetworkList)
	str("imeiLock", want.IMEILock, have.IMEILock)
	str("connector", want.Connector, have.Connector)
	if w := want.DataLimit; w != nil && !sameLimit(w, have.DataLimit) {
		out = append(out, fmt.Sprintf("dataLimit: %s → %s", describeLimit(have.DataLimit), describeLimit(w)))
	}
	if w := want.Technologies; w != nil {
		h := have.Technologies
		if h == nil {
			h = &v1alpha1.Technologies{}
		}
		for _, t := range []struct {
			name string
			w, g *bool
		}{{"technologies.sms", w.SMS, h.SMS}, {"technologies.twoGThreeG", w.TwoGThreeG, h.TwoGThreeG}, {"technologies.fourG", w.FourG, h.FourG}} {
			if t.w != nil && (t.g == nil || *t.w != *t.g) {
				out = append(out, fmt.Sprintf("%s: %s → %t", t.name, describeBool(t.g), *t.w))
			}
		}
	}
	if want.Tags != nil {
		w := slices.Sorted(slices.Values(want.Tags))
		if !slices.Equal(w, have.Tags) {
			out = append(out, fmt.Sprintf("tags: %v → %v", have.Tags, w))
		}
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func sameLimit(w, g *v1alpha1.DataLimit) bool {
	if g == nil || w.Total.Value() != g.Total.Value() {
		return false
	}
	return w.AlertThreshold == nil || (g.AlertThreshold != nil && w.AlertThreshold.Value() == g.AlertThreshold.Value())
}

func describeLimit(d *v1alpha1.DataLimit) string {
	if d == nil {
		return "none"
	}
	s := d.Total.String()
	if d.AlertThreshold != nil {
		s += " (alert at " + d.AlertThreshold.String() + ")"
	}
	return s
}

// currentPatch is the PATCH of the managed settings that differ.
func (e simExternal) currentPatch(ctx context.Context, api CurrentSIMAPI, s *v1alpha1.SIM) (onomondo.SIMPatch, error) {
	want, have := s.Spec.CurrentSettings, v1alpha1.CurrentSettings{}
	if o := s.Status.AtProvider; o != nil {
		have = o.CurrentSettings
	}
	var p onomondo.SIMPatch
	if want.Activated != nil && (have.Activated == nil || *want.Activated != *have.Activated) {
		p.Activated = want.Activated
	}
	differs := func(w, g *string) *string {
		if w != nil && (g == nil || *w != *g) {
			return w
		}
		return nil
	}
	p.Label, p.NetworkWhitelist = differs(want.Label, have.Label), differs(want.NetworkList, have.NetworkList)
	p.IMEILock, p.Connector = differs(want.IMEILock, have.IMEILock), differs(want.Connector, have.Connector)
	if w := want.DataLimit; w != nil && !sameLimit(w, have.DataLimit) {
		p.DataLimit = &onomondo.DataLimit{Total: ptrTo(w.Total.Value())}
		if w.AlertThreshold != nil {
			p.DataLimit.AlertThreshold = ptrTo(w.AlertThreshold.Value())
		}
	}
	if w := want.Technologies; w != nil && len(currentChanges(v1alpha1.CurrentSettings{Technologies: w}, &v1alpha1.SIMObservation{CurrentSettings: have})) > 0 {
		p.Technologies = &onomondo.Technologies{SMS: w.SMS, TwoGThreeG: w.TwoGThreeG, FourG: w.FourG}
	}
	if want.Tags != nil && !slices.Equal(slices.Sorted(slices.Values(want.Tags)), have.Tags) {
		ids, err := e.tags.resolve(ctx, api, want.Tags)
		if err != nil {
			return p, err
		}
		p.Tags = &ids
	}
	return p, nil
}

// tagLister is a client that lists an account's tags.
type tagLister interface {
	ListTags(ctx context.Context) ([]onomondo.Tag, error)
}

// tagCache resolves tag names to IDs per client, read once every tagTTL (a
// name not found reads again once before it is refused).
type tagCache struct {
	mu     sync.Mutex
	byName map[tagLister]map[string]string
	readAt map[tagLister]time.Time
}

const tagTTL = 5 * time.Minute

func (t *tagCache) resolve(ctx context.Context, api tagLister, names []string) ([]string, error) {
	ids, missing, err := t.lookup(ctx, api, names, false)
	if err == nil && missing != "" {
		ids, missing, err = t.lookup(ctx, api, names, true)
	}
	if err != nil {
		return nil, err
	}
	if missing != "" {
		return nil, &specError{reason: ReasonTagNotFound, msg: fmt.Sprintf("spec.tags: the account has no tag %q", missing)}
	}
	return ids, nil
}

func (t *tagCache) lookup(ctx context.Context, api tagLister, names []string, fresh bool) ([]string, string, error) {
	t.mu.Lock()
	if t.byName == nil {
		t.byName, t.readAt = map[tagLister]map[string]string{}, map[tagLister]time.Time{}
	}
	m, stale := t.byName[api], fresh || time.Since(t.readAt[api]) > tagTTL
	t.mu.Unlock()
	if m == nil || stale {
		tags, err := api.ListTags(ctx)
		if err != nil {
			return nil, "", err
		}
		m = map[string]string{}
		for _, tag := range tags {
			m[tag.Name] = tag.ID
		}
		t.mu.Lock()
		t.byName[api], t.readAt[api] = m, time.Now()
		t.mu.Unlock()
	}
	ids := make([]string, 0, len(names))
	for _, n := range names {
		id, ok := m[n]
		if !ok {
			return nil, n, nil
		}
		ids = append(ids, id)
	}
	return ids, "", nil
}

// describeCurrent prints the current settings observed.
func describeCurrent(o *v1alpha1.SIMObservation) string {
	c := o.CurrentSettings
	parts := []string{"activated=" + describeBool(c.Activated)}
	for _, f := range []struct {
		name string
		v    *string
	}{{"label", c.Label}, {"networkList", c.NetworkList}, {"imeiLock", c.IMEILock}, {"connector", c.Connector}} {
		if f.v != nil && *f.v != "" {
			parts = append(parts, f.name+"="+*f.v)
		}
	}
	if len(c.Tags) > 0 {
		parts = append(parts, "tags="+strings.Join(c.Tags, ","))
	}
	return strings.Join(parts, " ")
}
