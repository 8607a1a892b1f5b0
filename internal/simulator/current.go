package simulator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// The current edition of the API (docs/onomondo-current.md): SIMs by SIM ID
// or ICCID, PATCH, cursor pages of GET /sims, tags, network lists, webhooks,
// connectors by name, SMS to a SIM ID. It shares the store's lock, the
// faults, the request log and the key (raw, or "Bearer <key>") with the
// seed's edition.

// CurrentSIM is a SIM of the current edition as the simulator stores it.
type CurrentSIM struct {
	ID               string         `json:"id"`
	ICCID            string         `json:"iccid"`
	IMSI             string         `json:"imsi,omitempty"`
	MSISDN           string         `json:"msisdn,omitempty"`
	Label            *string        `json:"label"`
	NetworkWhitelist *string        `json:"network_whitelist"`
	IMEILock         *string        `json:"imei_lock"`
	Connector        *string        `json:"connector"`
	Activated        bool           `json:"activated"`
	Online           bool           `json:"online"`
	LastCameOnlineAt *string        `json:"last_came_online_at"`
	Network          map[string]any `json:"network"`
	DataLimit        map[string]any `json:"data_limit,omitempty"`
	Technologies     map[string]any `json:"technologies,omitempty"`
	// TagIDs are stored; answers carry Tag objects.
	TagIDs []string `json:"-"`
}

// Tag is an organisation's tag.
type Tag struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	CanWrite bool   `json:"can_write"`
}

// NetworkList is a network whitelist as stored.
type NetworkList struct {
	Name     string           `json:"name"`
	Networks []map[string]any `json:"networks"`
	TagIDs   []string         `json:"-"`
}

// Webhook is a webhook as stored.
type Webhook struct {
	ID           string   `json:"id"`
	URL          string   `json:"url"`
	Label        string   `json:"label"`
	Active       bool     `json:"active"`
	ExcludeTypes []string `json:"exclude_types"`
	TagIDs       []string `json:"-"`
}

// PageStyle is how GET /sims paginates.
type PageStyle int

const (
	// PagesByCursor answers pagination.{has_more,next_page}, as live clients see.
	PagesByCursor PageStyle = iota
	// PagesByOffset answers top-level count/limit/offset/total and no
	// cursor, as the official example does.
	PagesByOffset
)

var (
	simIDRe = regexp.MustCompile(`^[0-9]{9}$`)
	iccidRe = regexp.MustCompile(`^[0-9]{18,22}$`)
	nameRe  = regexp.MustCompile(`^[-_a-zA-Z0-9]{1,255}$`)
	// webhookTypes are the documented event types.
	webhookTypes = []string{"usage", "usage-sms", "usage-alert", "cost-alert", "network-registration",
		"network-deregistration", "network-authentication", "sms", "location"}
	webhookSeq atomic.Int64
)

// current is the current edition's store.
type current struct {
	sims     map[string]*CurrentSIM // by SIM ID
	tags     map[string]Tag         // by ID
	lists    map[string]*NetworkList
	webhooks map[string]*Webhook
	// conns are the current API's connectors by name, as written (secret
	// options included; answers leave them out).
	conns map[string]*map[string]any
	pages PageStyle
}

func (s *Simulator) routeCurrent(m *http.ServeMux) {
	m.HandleFunc("GET /sims", s.listSIMs)
	m.HandleFunc("GET /sims/{id}", s.getCurrentSIM)
	m.HandleFunc("PATCH /sims/{id}", s.patchSIM)
	m.HandleFunc("PUT /sims/{id}/tags/{tag}", s.tagSIM(true))
	m.HandleFunc("DELETE /sims/{id}/tags/{tag}", s.tagSIM(false))
	m.HandleFunc("GET /tags/search/tags", s.listTags)
	m.HandleFunc("GET /network-whitelists", s.listNetworkLists)
	m.HandleFunc("POST /network-whitelists", s.createNetworkList)
	m.HandleFunc("GET /network-whitelists/{name}", s.getNetworkList)
	m.HandleFunc("PATCH /network-whitelists/{name}", s.patchNetworkList)
	m.HandleFunc("DELETE /network-whitelists/{name}", s.deleteNetworkList)
	m.HandleFunc("POST /connectors", s.createNamedConnector)
	m.HandleFunc("GET /connectors/{name}", s.getNamedConnector)
	m.HandleFunc("PATCH /connectors/{name}", s.patchNamedConnector)
	m.HandleFunc("DELETE /connectors/{name}", s.deleteNamedConnector)
	m.HandleFunc("GET /webhooks", s.listWebhooks)
	m.HandleFunc("POST /webhooks", s.createWebhook)
	m.HandleFunc("GET /webhooks/{id}", s.getWebhook)
	m.HandleFunc("PATCH /webhooks/{id}", s.patchWebhook)
	m.HandleFunc("DELETE /webhooks/{id}", s.deleteWebhook)
}

func (s *Simulator) resetCurrentLocked() {
	style := s.cur.pages
	s.cur = current{sims: map[string]*CurrentSIM{}, tags: map[string]Tag{}, lists: map[string]*NetworkList{},
		webhooks: map[string]*Webhook{}, conns: map[string]*map[string]any{}, pages: style}
}

// PutCurrentSIM stores a SIM of the current edition, as a fleet owner's
// inventory would hold it. Its ID is derived from the ICCID when empty.
func (s *Simulator) PutCurrentSIM(v CurrentSIM) {
	if v.ID == "" && len(v.ICCID) >= 19 {
		v.ID = v.ICCID[10:19]
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur.sims[v.ID] = &v
}

// CurrentSIM returns a stored SIM of the current edition by SIM ID.
func (s *Simulator) CurrentSIM(id string) (CurrentSIM, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.cur.sims[id]
	if !ok {
		return CurrentSIM{}, false
	}
	return *v, true
}

// PutTag stores a tag.
func (s *Simulator) PutTag(t Tag) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur.tags[t.ID] = t
}

// PutNetworkList stores a network list.
func (s *Simulator) PutNetworkList(l NetworkList) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur.lists[l.Name] = &l
}

// SetPageStyle chooses how GET /sims paginates.
func (s *Simulator) SetPageStyle(p PageStyle) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur.pages = p
}

// NetworkLists returns the stored network lists.
func (s *Simulator) NetworkLists() []NetworkList {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []NetworkList
	for _, l := range s.cur.lists {
		out = append(out, *l)
	}
	return out
}

// Webhooks returns the stored webhooks.
func (s *Simulator) Webhooks() []Webhook {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Webhook
	for _, w := range s.cur.webhooks {
		out = append(out, *w)
	}
	return out
}

// findCurrent is a SIM by SIM ID or ICCID (under the lock).
func (s *Simulator) findCurrent(id string) (*CurrentSIM, *apiErr) {
	switch {
	case simIDRe.MatchString(id):
		if v := s.cur.sims[id]; v != nil {
			return v, nil
		}
	case iccidRe.MatchString(id):
		for _, v := range s.cur.sims {
			if v.ICCID == id {
				return v, nil
			}
		}
	default:
		return nil, fail(400, "sim_id_invalid", "%q is neither a 9-digit SIM ID nor an ICCID", id)
	}
	return nil, fail(404, "sim_not_found", "no SIM %s", id)
}

// simJSON is a SIM as answered: tags as Tag objects.
func (s *Simulator) simJSON(v *CurrentSIM) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["tags"] = s.tagObjects(v.TagIDs)
	return m
}

func (s *Simulator) tagObjects(ids []string) []Tag {
	out := []Tag{}
	for _, id := range ids {
		if t, ok := s.cur.tags[id]; ok {
			out = append(out, t)
		}
	}
	return out
}

func (s *Simulator) listSIMs(w http.ResponseWriter, r *http.Request) {
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit <= 0 {
		limit = 1000
	}
	if limit > 1000 {
		writeErr(w, 400, "limit_invalid", "limit is at most 1000")
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := make([]string, 0, len(s.cur.sims))
	for id := range s.cur.sims {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	start := 0
	if s.cur.pages == PagesByOffset {
		start, _ = strconv.Atoi(r.URL.Query().Get("offset"))
	} else if c := r.URL.Query().Get("next_page"); c != "" {
		after, err := base64.StdEncoding.DecodeString(c)
		if err != nil {
			writeErr(w, 400, "next_page_invalid", "next_page is not a cursor")
			return
		}
		start, _ = slices.BinarySearch(ids, string(after))
		start++
	}
	start = min(start, len(ids))
	end := min(start+limit, len(ids))
	sims := make([]map[string]any, 0, end-start)
	for _, id := range ids[start:end] {
		sims = append(sims, s.simJSON(s.cur.sims[id]))
	}
	if s.cur.pages == PagesByOffset {
		writeJSON(w, 200, map[string]any{"count": len(sims), "limit": limit, "offset": start, "total": len(ids), "sims": sims})
		return
	}
	p := map[string]any{"has_more": end < len(ids), "next_page": nil}
	if end < len(ids) {
		p["next_page"] = base64.StdEncoding.EncodeToString([]byte(ids[end-1]))
	}
	writeJSON(w, 200, map[string]any{"sims": sims, "pagination": p})
}

func (s *Simulator) getCurrentSIM(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.findCurrent(r.PathValue("id"))
	if err != nil {
		answer(w, err)
		return
	}
	writeJSON(w, 200, s.simJSON(v))
}

// patchSIM applies the fields a PATCH body sets; null clears a string.
func (s *Simulator) patchSIM(w http.ResponseWriter, r *http.Request) {
	var body map[string]json.RawMessage
	if err := readJSON(r, &body); err != nil {
		answer(w, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, aerr := s.findCurrent(r.PathValue("id"))
	if aerr != nil {
		answer(w, aerr)
		return
	}
	next := *v
	for key, raw := range body {
		if aerr = s.patchField(&next, key, raw); aerr != nil {
			answer(w, aerr)
			return
		}
	}
	*v = next
	writeJSON(w, 200, s.simJSON(v))
}

func (s *Simulator) patchField(v *CurrentSIM, key string, raw json.RawMessage) *apiErr {
	str := func(dst **string, check func(string) bool) *apiErr {
		if string(raw) == "null" {
			*dst = nil
			return nil
		}
		var x string
		if json.Unmarshal(raw, &x) != nil || (check != nil && !check(x)) {
			return fail(400, key+"_invalid", "%s is not valid", key)
		}
		*dst = &x
		return nil
	}
	switch key {
	case "activated":
		if json.Unmarshal(raw, &v.Activated) != nil {
			return fail(400, "activated_invalid", "activated must be a boolean")
		}
	case "label":
		return str(&v.Label, nil)
	case "imei_lock":
		return str(&v.IMEILock, regexp.MustCompile(`^[0-9]{15}$`).MatchString)
	case "network_whitelist":
		return str(&v.NetworkWhitelist, func(n string) bool { return s.cur.lists[n] != nil })
	case "connector":
		return str(&v.Connector, func(n string) bool { _, legacy := s.connectors[n]; return legacy || s.cur.conns[n] != nil })
	case "data_limit":
		if json.Unmarshal(raw, &v.DataLimit) != nil {
			return fail(400, "data_limit_invalid", "data_limit must be an object")
		}
	case "technologies":
		if json.Unmarshal(raw, &v.Technologies) != nil {
			return fail(400, "technologies_invalid", "technologies must be an object")
		}
	case "tags":
		var ids []string
		if json.Unmarshal(raw, &ids) != nil {
			return fail(400, "tags_invalid", "tags must be tag IDs")
		}
		for _, id := range ids {
			if _, ok := s.cur.tags[id]; !ok {
				return fail(400, "tag_not_found", "no tag %s", id)
			}
		}
		v.TagIDs = ids
	default:
		return fail(400, "body_invalid", "unknown field %s", key)
	}
	return nil
}

func (s *Simulator) tagSIM(add bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		v, err := s.findCurrent(r.PathValue("id"))
		if err != nil {
			answer(w, err)
			return
		}
		tag := r.PathValue("tag")
		if _, ok := s.cur.tags[tag]; !ok {
			answer(w, fail(404, "tag_not_found", "no tag %s", tag))
			return
		}
		has := slices.Contains(v.TagIDs, tag)
		switch {
		case add && has:
			answer(w, fail(400, "tag_already_on_sim", "the SIM has the tag"))
			return
		case add:
			v.TagIDs = append(v.TagIDs, tag)
		default:
			v.TagIDs = slices.DeleteFunc(v.TagIDs, func(t string) bool { return t == tag })
		}
		ok(w)
	}
}

func (s *Simulator) listTags(w http.ResponseWriter, r *http.Request) {
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || limit <= 0 {
		limit = 1000
	}
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	s.mu.Lock()
	defer s.mu.Unlock()
	tags := make([]Tag, 0, len(s.cur.tags))
	for _, t := range s.cur.tags {
		tags = append(tags, t)
	}
	slices.SortFunc(tags, func(a, b Tag) int { return strings.Compare(a.ID, b.ID) })
	offset = min(offset, len(tags))
	end := min(offset+limit, len(tags))
	writeJSON(w, 200, map[string]any{"count": end - offset, "limit": limit, "offset": offset, "total": len(tags), "result": tags[offset:end]})
}

func (s *Simulator) listJSON(l *NetworkList) map[string]any {
	return map[string]any{"name": l.Name, "networks": l.Networks, "tags": s.tagObjects(l.TagIDs)}
}

// listBody is a network list as written.
type listBody struct {
	Name     *string          `json:"name"`
	Networks []map[string]any `json:"networks"`
	Tags     []string         `json:"tags"`
}

func (s *Simulator) checkList(b listBody) *apiErr {
	for _, n := range b.Networks {
		mcc, _ := n["mcc"].(string)
		mnc, isStr := n["mnc"].(string)
		if !regexp.MustCompile(`^[0-9]{3}$`).MatchString(mcc) || (n["mnc"] != nil && (!isStr || !regexp.MustCompile(`^[0-9]{2,3}$`).MatchString(mnc))) {
			return fail(400, "networks_invalid", "a network is {mcc: 3 digits, mnc: 2-3 digits or null}")
		}
	}
	for _, id := range b.Tags {
		if _, ok := s.cur.tags[id]; !ok {
			return fail(400, "tag_not_found", "no tag %s", id)
		}
	}
	return nil
}

func (s *Simulator) listNetworkLists(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, l := range s.cur.lists {
		out = append(out, s.listJSON(l))
	}
	writeJSON(w, 200, out)
}

func (s *Simulator) createNetworkList(w http.ResponseWriter, r *http.Request) {
	var b listBody
	if err := readJSON(r, &b); err != nil {
		answer(w, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case b.Name == nil || !nameRe.MatchString(*b.Name):
		answer(w, fail(400, "name_invalid", "name is required: letters, digits, - and _"))
	case s.cur.lists[*b.Name] != nil:
		answer(w, fail(409, "name_conflict", "a list %s exists", *b.Name))
	default:
		if err := s.checkList(b); err != nil {
			answer(w, err)
			return
		}
		l := &NetworkList{Name: *b.Name, Networks: b.Networks, TagIDs: b.Tags}
		s.cur.lists[l.Name] = l
		writeJSON(w, 200, s.listJSON(l))
	}
}

func (s *Simulator) getNetworkList(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := found(w, s.cur.lists, r.PathValue("name"), "network_whitelist_not_found", "list")
	if !ok {
		return
	}
	writeJSON(w, 200, s.listJSON(l))
}

func (s *Simulator) patchNetworkList(w http.ResponseWriter, r *http.Request) {
	var b listBody
	if err := readJSON(r, &b); err != nil {
		answer(w, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := found(w, s.cur.lists, r.PathValue("name"), "network_whitelist_not_found", "list")
	if !ok {
		return
	}
	if err := s.checkList(b); err != nil {
		answer(w, err)
		return
	}
	if b.Networks != nil {
		l.Networks = b.Networks
	}
	if b.Tags != nil {
		l.TagIDs = b.Tags
	}
	writeJSON(w, 200, s.listJSON(l))
}

func (s *Simulator) deleteNetworkList(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	name := r.PathValue("name")
	if _, ok := found(w, s.cur.lists, name, "network_whitelist_not_found", "list"); !ok {
		return
	}
	for _, v := range s.cur.sims {
		if v.NetworkWhitelist != nil && *v.NetworkWhitelist == name {
			answer(w, fail(409, "network_whitelist_in_use", "SIM %s uses the list", v.ID))
			return
		}
	}
	delete(s.cur.lists, name)
	ok(w)
}

func (s *Simulator) webhookJSON(h *Webhook) map[string]any {
	return map[string]any{"id": h.ID, "url": h.URL, "label": h.Label, "active": h.Active,
		"exclude_types": h.ExcludeTypes, "tags": s.tagObjects(h.TagIDs)}
}

// webhookBody is a webhook as written.
type webhookBody struct {
	URL          *string  `json:"url"`
	Label        *string  `json:"label"`
	Active       *bool    `json:"active"`
	ExcludeTypes []string `json:"exclude_types"`
	Tags         []string `json:"tags"`
}

func (s *Simulator) applyWebhook(h *Webhook, b webhookBody) *apiErr {
	if b.URL != nil {
		if !strings.HasPrefix(*b.URL, "https://") {
			return fail(400, "url_invalid", "url must be https")
		}
		h.URL = *b.URL
	}
	if b.Label != nil {
		h.Label = *b.Label
	}
	if b.Active != nil {
		h.Active = *b.Active
	}
	if b.ExcludeTypes != nil {
		for _, t := range b.ExcludeTypes {
			if !slices.Contains(webhookTypes, t) {
				return fail(400, "exclude_types_invalid", "unknown event type %s", t)
			}
		}
		h.ExcludeTypes = b.ExcludeTypes
	}
	if b.Tags != nil {
		h.TagIDs = b.Tags
	}
	return nil
}

func (s *Simulator) listWebhooks(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []map[string]any{}
	for _, h := range s.cur.webhooks {
		out = append(out, s.webhookJSON(h))
	}
	writeJSON(w, 200, out)
}

func (s *Simulator) createWebhook(w http.ResponseWriter, r *http.Request) {
	var b webhookBody
	if err := readJSON(r, &b); err != nil {
		answer(w, err)
		return
	}
	if b.URL == nil {
		answer(w, fail(400, "url_invalid", "url is required"))
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := &Webhook{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", webhookSeq.Add(1)), ExcludeTypes: []string{}}
	if err := s.applyWebhook(h, b); err != nil {
		answer(w, err)
		return
	}
	s.cur.webhooks[h.ID] = h
	writeJSON(w, 200, s.webhookJSON(h))
}

func (s *Simulator) getWebhook(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := found(w, s.cur.webhooks, r.PathValue("id"), "webhook_not_found", "webhook")
	if !ok {
		return
	}
	writeJSON(w, 200, s.webhookJSON(h))
}

func (s *Simulator) patchWebhook(w http.ResponseWriter, r *http.Request) {
	var b webhookBody
	if err := readJSON(r, &b); err != nil {
		answer(w, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h, ok := found(w, s.cur.webhooks, r.PathValue("id"), "webhook_not_found", "webhook")
	if !ok {
		return
	}
	next := *h
	if err := s.applyWebhook(&next, b); err != nil {
		answer(w, err)
		return
	}
	*h = next
	writeJSON(w, 200, s.webhookJSON(h))
}

func (s *Simulator) deleteWebhook(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := found(w, s.cur.webhooks, r.PathValue("id"), "webhook_not_found", "webhook"); !ok {
		return
	}
	delete(s.cur.webhooks, r.PathValue("id"))
	ok(w)
}

// sendToSIM is POST /sms/{sim_id} of the current edition: the recipient is
// the SIM's number.
func (s *Simulator) sendToSIM(r *http.Request, id string) *apiErr {
	var b struct {
		From *string `json:"from"`
		Text *string `json:"text"`
	}
	if err := readJSON(r, &b); err != nil {
		return err
	}
	switch {
	case b.From == nil || !fromRe.MatchString(*b.From):
		return fail(400, "from_invalid", "from must be 1-11 letters or digits, or up to 15 digits")
	case b.Text == nil || !utf8.ValidString(*b.Text) || *b.Text == "" || utf8.RuneCountInString(*b.Text) > maxText:
		return fail(400, "text_invalid", "text must be 1-%d characters of UTF-8", maxText)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	v, err := s.findCurrent(id)
	if err != nil {
		return err
	}
	s.sms = append(s.sms, SMS{To: cmpOr(v.MSISDN, v.ID), From: *b.From, Text: *b.Text, Time: s.opts.Now()})
	return nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// secretOptions are connector options the API never returns.
var secretOptions = []string{"key", "cert", "ca", "connectionString", "password", "token"}

// NamedConnector returns a connector of the current API as written (secret
// options included), for tests.
func (s *Simulator) NamedConnector(name string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.cur.conns[name]
	if !ok {
		return nil, false
	}
	return *c, true
}

// connectorJSON is a connector as answered: secrets left out, meta.<option>.is_set.
func connectorJSON(c map[string]any) map[string]any {
	out, meta := map[string]any{}, map[string]any{}
	for k, v := range c {
		out[k] = v
	}
	if opts, ok := c["options"].(map[string]any); ok {
		shown := map[string]any{}
		for k, v := range opts {
			if slices.Contains(secretOptions, k) {
				meta[k] = map[string]any{"is_set": true}
				continue
			}
			shown[k] = v
		}
		out["options"] = shown
	}
	out["meta"] = meta
	return out
}

func (s *Simulator) createNamedConnector(w http.ResponseWriter, r *http.Request) {
	var b map[string]any
	if err := readJSON(r, &b); err != nil {
		answer(w, err)
		return
	}
	name, _ := b["name"].(string)
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case !regexp.MustCompile(`^[-_a-zA-Z0-9]{3,255}$`).MatchString(name):
		answer(w, fail(400, "name_invalid", "name is 3-255 letters, digits, - and _"))
	case s.cur.conns[name] != nil:
		answer(w, fail(409, "connector_conflict", "a connector %s exists", name))
	default:
		s.cur.conns[name] = &b
		writeJSON(w, 200, map[string]string{"message": "Connector successfully created"})
	}
}

func (s *Simulator) getNamedConnector(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c, ok := found(w, s.cur.conns, r.PathValue("name"), "connector_not_found", "connector"); ok {
		writeJSON(w, 200, connectorJSON(*c))
	}
}

func (s *Simulator) patchNamedConnector(w http.ResponseWriter, r *http.Request) {
	var b map[string]any
	if err := readJSON(r, &b); err != nil {
		answer(w, err)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := found(w, s.cur.conns, r.PathValue("name"), "connector_not_found", "connector")
	if !ok {
		return
	}
	for k, v := range b {
		if k != "name" {
			(*c)[k] = v
		}
	}
	writeJSON(w, 200, connectorJSON(*c))
}

func (s *Simulator) deleteNamedConnector(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := found(w, s.cur.conns, r.PathValue("name"), "connector_not_found", "connector"); exists {
		delete(s.cur.conns, r.PathValue("name"))
		ok(w)
	}
}

// found is the stored object of key, or, answered, a 404 with the code.
func found[T any](w http.ResponseWriter, m map[string]*T, key, code, what string) (*T, bool) {
	v := m[key]
	if v == nil {
		answer(w, fail(404, code, "no %s %s", what, key))
	}
	return v, v != nil
}

// readJSON decodes a JSON body of at most maxBody bytes.
func readJSON(r *http.Request, v any) *apiErr {
	raw, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(raw) > maxBody || json.Unmarshal(raw, v) != nil {
		return fail(400, "body_invalid", "the body is not JSON of at most 64 KiB")
	}
	return nil
}
