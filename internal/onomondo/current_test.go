package onomondo_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/sim-operator/sim-operator/internal/onomondo"
	"github.com/sim-operator/sim-operator/internal/simulator"
	simtest "github.com/sim-operator/sim-operator/internal/testutil"
)

// The current edition, against the simulator: every page of a fleet in
// ceil(N/1000) calls whichever pagination the API answers with; a SIM read
// and patched by SIM ID or ICCID; network lists, webhooks and SMS to a SIM.

func fleet(s *simtest.SimServer, n int) {
	for i := range n {
		s.PutCurrentSIM(simulator.CurrentSIM{ICCID: fmt.Sprintf("8945738730%09d1", i+1), Activated: true})
	}
}

func TestAFleetIsListedOneCallPerThousand(t *testing.T) {
	for name, style := range map[string]simulator.PageStyle{"cursor": simulator.PagesByCursor, "offsets": simulator.PagesByOffset} {
		t.Run(name, func(t *testing.T) {
			s := simtest.Start(t, simulator.Options{})
			s.SetPageStyle(style)
			fleet(s, 2500)
			c := newClient(t, s, onomondo.Config{})
			seen, calls, next := map[string]bool{}, 0, ""
			for {
				page, err := c.ListSIMs(context.Background(), next, 0)
				if err != nil {
					t.Fatal(err)
				}
				calls++
				for _, sim := range page.SIMs {
					seen[sim.ID] = true
				}
				if next = page.Next; next == "" {
					break
				}
			}
			if len(seen) != 2500 || calls != 3 {
				t.Fatalf("%d SIMs in %d calls, want 2500 in 3", len(seen), calls)
			}
		})
	}
}

func TestASIMIsReadAndPatchedBySIMIDOrICCID(t *testing.T) {
	s := simtest.Start(t, simulator.Options{})
	s.PutTag(simulator.Tag{ID: "tag-1", Name: "fleet-eu", CanWrite: true})
	s.PutCurrentSIM(simulator.CurrentSIM{ICCID: "89457387300000024185", Label: ptr("old"), Activated: true})
	c := newClient(t, s, onomondo.Config{Bearer: true}) // the Bearer form is accepted too
	ctx := context.Background()

	got, err := c.GetCurrentSIM(ctx, "89457387300000024185")
	if err != nil || got.ID != "000002418" || *got.Label != "old" {
		t.Fatalf("by ICCID: %+v %v", got, err)
	}
	off := false
	got, err = c.PatchSIM(ctx, "000002418", onomondo.SIMPatch{Activated: &off, Label: onomondo.Clear, Tags: &[]string{"tag-1"},
		IMEILock: ptr("356938035643809")})
	if err != nil || got.Activated || got.Label != nil || len(got.Tags) != 1 || got.Tags[0].Name != "fleet-eu" || *got.IMEILock != "356938035643809" {
		t.Fatalf("patched: %+v %v", got, err)
	}
	if _, err := c.GetCurrentSIM(ctx, "000009999"); !onomondo.IsCode(err, "sim_not_found") {
		t.Fatalf("a missing SIM: %v", err)
	}
	tags, err := c.ListTags(ctx)
	if err != nil || len(tags) != 1 || tags[0].ID != "tag-1" {
		t.Fatalf("tags %+v %v", tags, err)
	}
	if id, err := onomondo.SIMIDOfICCID("89457387300000024185"); err != nil || id != "000002418" {
		t.Fatalf("SIM ID of the ICCID: %q %v", id, err)
	}
}

func TestNetworkListsWebhooksAndSMSToASIM(t *testing.T) {
	s := simtest.Start(t, simulator.Options{})
	s.PutCurrentSIM(simulator.CurrentSIM{ID: "000000001", ICCID: "89457387300000000011", MSISDN: "4512345678"})
	c := newClient(t, s, onomondo.Config{})
	ctx := context.Background()

	dk := onomondo.NetworkList{Name: "nordics", Networks: []onomondo.NetworkRef{{MCC: "238", MNC: ptr("01")}, {MCC: "240"}}}
	if err := c.CreateNetworkList(ctx, dk); err != nil {
		t.Fatal(err)
	}
	dk.Networks = dk.Networks[:1]
	if err := c.UpdateNetworkList(ctx, dk); err != nil {
		t.Fatal(err)
	}
	got, err := c.GetNetworkList(ctx, "nordics")
	if err != nil || len(got.Networks) != 1 || *got.Networks[0].MNC != "01" {
		t.Fatalf("list %+v %v", got, err)
	}
	if _, err := c.PatchSIM(ctx, "000000001", onomondo.SIMPatch{NetworkWhitelist: ptr("nordics")}); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteNetworkList(ctx, "nordics"); !onomondo.IsCode(err, "network_whitelist_in_use") {
		t.Fatalf("deleting a list in use: %v", err)
	}

	id, err := c.CreateWebhook(ctx, onomondo.Webhook{URL: "https://hooks.example.com/a", Label: "ops", Active: true, ExcludeTypes: []string{"location"}})
	if err != nil || id == "" {
		t.Fatalf("create webhook: %q %v", id, err)
	}
	if err := c.UpdateWebhook(ctx, onomondo.Webhook{ID: id, URL: "https://hooks.example.com/b", Active: false}); err != nil {
		t.Fatal(err)
	}
	w, err := c.GetWebhook(ctx, id)
	if err != nil || w.URL != "https://hooks.example.com/b" || w.Active {
		t.Fatalf("webhook %+v %v", w, err)
	}
	if _, err := c.CreateWebhook(ctx, onomondo.Webhook{URL: "http://plain"}); !onomondo.IsCode(err, "url_invalid") {
		t.Fatalf("an http webhook: %v", err)
	}
	if err := c.DeleteWebhook(ctx, id); err != nil {
		t.Fatal(err)
	}

	if err := c.SendSMSToSIM(ctx, "000000001", onomondo.SMS{From: "Fleet", Text: "ping"}); err != nil {
		t.Fatal(err)
	}
	if sms := s.SMS(); len(sms) != 1 || sms[0].To != "4512345678" {
		t.Fatalf("SMS %+v", sms)
	}
}

func TestACurrentAnswerThatIsNotTheSIMIsInvalid(t *testing.T) {
	s := simtest.Start(t, simulator.Options{})
	s.SetFaults(simulator.Faults{AnswerNext: 1, Answer: simulator.Answer{Body: `{"id":"000000002","iccid":"89457387300000000029"}`}})
	_, err := newClient(t, s, onomondo.Config{}).GetCurrentSIM(context.Background(), "000000001")
	var invalid *onomondo.InvalidResponseError
	if !errors.As(err, &invalid) {
		t.Fatalf("another SIM's answer: %v", err)
	}
}

func ptr[T any](v T) *T { return &v }
