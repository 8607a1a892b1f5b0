package onomondo

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Onomondo's current API (the Current edition; facts in
// docs/onomondo-current.md): SIMs addressed by their 9-digit SIM ID or their
// ICCID and changed with PATCH, listed 1,000 a page; network lists, webhooks,
// connectors by name, tags by ID; SMS to a SIM ID. The same Client serves
// both editions: the budget, the rate-limit pause, the redirect refusal and
// the typed errors are one.

// Route templates of the current edition.
const (
	RouteSIMs         = "/sims"
	RouteCurrentSIM   = "/sims/:id"
	RouteSIMTag       = "/sims/:id/tags/:tag"
	RouteTags         = "/tags/search/tags"
	RouteNetworkLists = "/network-whitelists"
	RouteNetworkList  = "/network-whitelists/:name"
	RouteWebhooks     = "/webhooks"
	RouteWebhook      = "/webhooks/:id"
	RouteConnectors   = "/connectors"
	RouteConnectorV2  = "/connectors/:name"
	RouteSIMSMS       = "/sms/:sim_id"
)

// MaxSIMPage is the largest page GET /sims returns.
const MaxSIMPage = 1000

// CurrentSIM is a SIM as the current API reports it.
type CurrentSIM struct {
	// ID is the 9-digit SIM ID (the ICCID's digits 11–19).
	ID    string `json:"id"`
	ICCID string `json:"iccid"`
	// IMSI and MSISDN when the API reports them.
	IMSI             string        `json:"imsi,omitempty"`
	MSISDN           string        `json:"msisdn,omitempty"`
	Label            *string       `json:"label"`
	NetworkWhitelist *string       `json:"network_whitelist"`
	IMEILock         *string       `json:"imei_lock"`
	Connector        *string       `json:"connector"`
	Activated        bool          `json:"activated"`
	Online           bool          `json:"online"`
	LastCameOnlineAt *string       `json:"last_came_online_at"`
	Network          *Network      `json:"network"`
	DataLimit        *DataLimit    `json:"data_limit,omitempty"`
	Technologies     *Technologies `json:"technologies,omitempty"`
	Tags             []Tag         `json:"tags"`
}

// Network is where a SIM is registered.
type Network struct {
	Name        *string `json:"name"`
	Country     *string `json:"country"`
	CountryCode *string `json:"country_code"`
	MCC         *string `json:"mcc"`
	MNC         *string `json:"mnc"`
}

// DataLimit is a SIM's data limit, in bytes.
type DataLimit struct {
	Used           *int64 `json:"used,omitempty"`
	Total          *int64 `json:"total,omitempty"`
	Type           string `json:"type,omitempty"`
	AlertThreshold *int64 `json:"alert_threshold,omitempty"`
}

// Technologies are the radio technologies a SIM may use.
type Technologies struct {
	SMS        *bool `json:"sms,omitempty"`
	TwoGThreeG *bool `json:"2g_3g,omitempty"`
	FourG      *bool `json:"4g,omitempty"`
}

// Tag is an organisation's tag.
type Tag struct {
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	CanWrite bool    `json:"can_write"`
	Color    *string `json:"color,omitempty"`
}

// Clear is the value of a string field of a patch that clears it (sent as
// null).
var Clear = ptrTo("")

func ptrTo[T any](v T) *T { return &v }

// SIMPatch is a PATCH /sims/{id} body: only the fields set are sent; a
// string field set to "" is cleared (null).
type SIMPatch struct {
	Activated        *bool
	Label            *string
	NetworkWhitelist *string
	IMEILock         *string
	Connector        *string
	DataLimit        *DataLimit
	Technologies     *Technologies
	// Tags are tag IDs.
	Tags *[]string
}

// Empty reports whether the patch changes nothing.
func (p SIMPatch) Empty() bool {
	return p.Activated == nil && p.Label == nil && p.NetworkWhitelist == nil && p.IMEILock == nil &&
		p.Connector == nil && p.DataLimit == nil && p.Technologies == nil && p.Tags == nil
}

// MarshalJSON sends only the fields set, "" as null.
func (p SIMPatch) MarshalJSON() ([]byte, error) {
	m := map[string]any{}
	str := func(key string, v *string) {
		switch {
		case v == nil:
		case *v == "":
			m[key] = nil
		default:
			m[key] = *v
		}
	}
	if p.Activated != nil {
		m["activated"] = *p.Activated
	}
	str("label", p.Label)
	str("network_whitelist", p.NetworkWhitelist)
	str("imei_lock", p.IMEILock)
	str("connector", p.Connector)
	if p.DataLimit != nil {
		m["data_limit"] = p.DataLimit
	}
	if p.Technologies != nil {
		m["technologies"] = p.Technologies
	}
	if p.Tags != nil {
		m["tags"] = *p.Tags
	}
	return json.Marshal(m)
}

// SIMPage is one page of GET /sims.
type SIMPage struct {
	SIMs []CurrentSIM
	// Next asks for the next page (ListSIMs' next argument); empty on the
	// last page.
	Next string
}

// ListSIMs reads one page of the organisation's SIMs, of at most limit
// (MaxSIMPage if 0). next is the previous page's Next ("" for the first).
// Both shapes the API is known to answer with are followed: a cursor
// (pagination.next_page while has_more) and, without one, offsets (a page
// shorter than asked is the last).
func (c *Client) ListSIMs(ctx context.Context, next string, limit int) (*SIMPage, error) {
	if limit <= 0 || limit > MaxSIMPage {
		limit = MaxSIMPage
	}
	q := url.Values{"limit": {strconv.Itoa(limit)}}
	offset := 0
	switch kind, v, _ := strings.Cut(next, ":"); kind {
	case "cursor":
		q.Set("next_page", v)
	case "offset":
		offset, _ = strconv.Atoi(v)
		q.Set("offset", v)
	}
	var body struct {
		SIMs       *[]CurrentSIM `json:"sims"`
		Pagination *struct {
			HasMore  bool    `json:"has_more"`
			NextPage *string `json:"next_page"`
		} `json:"pagination"`
		Offset *int `json:"offset"`
	}
	if err := c.do(ctx, http.MethodGet, RouteSIMs, RouteSIMs+"?"+q.Encode(), nil, &body); err != nil {
		return nil, err
	}
	if body.SIMs == nil {
		return nil, &InvalidResponseError{Method: http.MethodGet, Route: RouteSIMs, Reason: "the answer has no sims"}
	}
	page := &SIMPage{SIMs: *body.SIMs}
	switch p := body.Pagination; {
	case p != nil && p.NextPage != nil && *p.NextPage != "":
		if p.HasMore {
			page.Next = "cursor:" + *p.NextPage
		}
	case p != nil && !p.HasMore:
	case len(page.SIMs) == limit:
		page.Next = "offset:" + strconv.Itoa(offset+limit)
	}
	return page, nil
}

// GetCurrentSIM reads one SIM by its SIM ID or ICCID.
func (c *Client) GetCurrentSIM(ctx context.Context, id string) (*CurrentSIM, error) {
	var s *CurrentSIM
	if err := c.do(ctx, http.MethodGet, RouteCurrentSIM, "/sims/"+url.PathEscape(id), nil, &s); err != nil {
		return nil, err
	}
	return validSIM(http.MethodGet, s, id)
}

// PatchSIM changes the fields the patch sets and returns the SIM as the API
// then reports it.
func (c *Client) PatchSIM(ctx context.Context, id string, p SIMPatch) (*CurrentSIM, error) {
	var s *CurrentSIM
	if err := c.do(ctx, http.MethodPatch, RouteCurrentSIM, "/sims/"+url.PathEscape(id), p, &s); err != nil {
		return nil, err
	}
	return validSIM(http.MethodPatch, s, id)
}

// validSIM refuses an answer that is not the SIM asked for.
func validSIM(method string, s *CurrentSIM, id string) (*CurrentSIM, error) {
	if s == nil || id == "" || (s.ID != id && s.ICCID != id) {
		return nil, &InvalidResponseError{Method: method, Route: RouteCurrentSIM,
			Reason: "the answer is not the SIM asked for (it names no SIM ID or ICCID, or another one)"}
	}
	return s, nil
}

// ListTags reads every tag of the organisation (offset pages).
func (c *Client) ListTags(ctx context.Context) ([]Tag, error) {
	var all []Tag
	for offset := 0; ; {
		var page struct {
			Result *[]Tag `json:"result"`
			Total  int    `json:"total"`
		}
		q := url.Values{"limit": {strconv.Itoa(MaxSIMPage)}, "offset": {strconv.Itoa(offset)}}
		if err := c.do(ctx, http.MethodGet, RouteTags, RouteTags+"?"+q.Encode(), nil, &page); err != nil {
			return nil, err
		}
		if page.Result == nil {
			return nil, &InvalidResponseError{Method: http.MethodGet, Route: RouteTags, Reason: "the answer has no result"}
		}
		all = append(all, *page.Result...)
		offset += len(*page.Result)
		if len(*page.Result) == 0 || offset >= page.Total {
			return all, nil
		}
	}
}

// NetworkList is a network whitelist: the networks its SIMs may use.
type NetworkList struct {
	Name string `json:"name"`
	// Networks: an absent MNC is the whole country.
	Networks []NetworkRef `json:"networks"`
	// Tags are Tag objects when read, tag IDs when written (TagIDs).
	Tags   []Tag    `json:"-"`
	TagIDs []string `json:"-"`
}

// NetworkRef names a network (or, without MNC, a country).
type NetworkRef struct {
	MCC string  `json:"mcc"`
	MNC *string `json:"mnc"`
}

type networkListWire struct {
	Name     string          `json:"name,omitempty"`
	Networks []NetworkRef    `json:"networks"`
	Tags     json.RawMessage `json:"tags,omitempty"`
}

func (n NetworkList) wire() networkListWire {
	tags, _ := json.Marshal(n.TagIDs)
	if n.TagIDs == nil {
		tags = []byte("[]")
	}
	return networkListWire{Name: n.Name, Networks: n.Networks, Tags: tags}
}

// GetNetworkList reads one list by name.
func (c *Client) GetNetworkList(ctx context.Context, name string) (*NetworkList, error) {
	var w *struct {
		Name     string       `json:"name"`
		Networks []NetworkRef `json:"networks"`
		Tags     []Tag        `json:"tags"`
	}
	if err := c.do(ctx, http.MethodGet, RouteNetworkList, "/network-whitelists/"+url.PathEscape(name), nil, &w); err != nil {
		return nil, err
	}
	if w == nil || w.Name != name {
		return nil, &InvalidResponseError{Method: http.MethodGet, Route: RouteNetworkList, Reason: "the answer is not the list asked for"}
	}
	return &NetworkList{Name: w.Name, Networks: w.Networks, Tags: w.Tags}, nil
}

// CreateNetworkList creates a list.
func (c *Client) CreateNetworkList(ctx context.Context, l NetworkList) error {
	return c.do(ctx, http.MethodPost, RouteNetworkLists, RouteNetworkLists, l.wire(), nil)
}

// UpdateNetworkList replaces a list's networks and tags.
func (c *Client) UpdateNetworkList(ctx context.Context, l NetworkList) error {
	w := l.wire()
	w.Name = ""
	return c.do(ctx, http.MethodPatch, RouteNetworkList, "/network-whitelists/"+url.PathEscape(l.Name), w, nil)
}

// DeleteNetworkList deletes a list (the API refuses while SIMs use it).
func (c *Client) DeleteNetworkList(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, RouteNetworkList, "/network-whitelists/"+url.PathEscape(name), nil, nil)
}

// Webhook is a webhook of the organisation.
type Webhook struct {
	ID           string   `json:"id,omitempty"`
	URL          string   `json:"url"`
	Label        string   `json:"label,omitempty"`
	Active       bool     `json:"active"`
	ExcludeTypes []string `json:"exclude_types"`
	// Tags are tag IDs when written.
	Tags []string `json:"tags"`
	// TagNames are the tags' names, when read.
	TagNames []string `json:"-"`
}

// webhookRead is a webhook as read: tags are Tag objects.
type webhookRead struct {
	Webhook
	Tags []Tag `json:"tags"`
}

func (w webhookRead) webhook() Webhook {
	out := w.Webhook
	out.Tags = nil
	for _, t := range w.Tags {
		out.Tags = append(out.Tags, t.ID)
		out.TagNames = append(out.TagNames, t.Name)
	}
	return out
}

// ListWebhooks reads every webhook.
func (c *Client) ListWebhooks(ctx context.Context) ([]Webhook, error) {
	var ws *[]webhookRead
	if err := c.do(ctx, http.MethodGet, RouteWebhooks, RouteWebhooks, nil, &ws); err != nil {
		return nil, err
	}
	if ws == nil {
		return nil, &InvalidResponseError{Method: http.MethodGet, Route: RouteWebhooks, Reason: "the answer is not a list"}
	}
	out := make([]Webhook, 0, len(*ws))
	for _, w := range *ws {
		out = append(out, w.webhook())
	}
	return out, nil
}

// GetWebhook reads one webhook.
func (c *Client) GetWebhook(ctx context.Context, id string) (*Webhook, error) {
	var w *webhookRead
	if err := c.do(ctx, http.MethodGet, RouteWebhook, "/webhooks/"+url.PathEscape(id), nil, &w); err != nil {
		return nil, err
	}
	if w == nil || w.ID != id {
		return nil, &InvalidResponseError{Method: http.MethodGet, Route: RouteWebhook, Reason: "the answer is not the webhook asked for"}
	}
	out := w.webhook()
	return &out, nil
}

// CreateWebhook creates a webhook and returns its ID.
func (c *Client) CreateWebhook(ctx context.Context, w Webhook) (string, error) {
	w.ID = ""
	var created *webhookRead
	if err := c.do(ctx, http.MethodPost, RouteWebhooks, RouteWebhooks, w, &created); err != nil {
		return "", err
	}
	if created == nil || created.ID == "" {
		return "", &InvalidResponseError{Method: http.MethodPost, Route: RouteWebhooks, Reason: "the answer names no webhook ID"}
	}
	return created.ID, nil
}

// UpdateWebhook changes a webhook.
func (c *Client) UpdateWebhook(ctx context.Context, w Webhook) error {
	id := w.ID
	w.ID = ""
	return c.do(ctx, http.MethodPatch, RouteWebhook, "/webhooks/"+url.PathEscape(id), w, nil)
}

// DeleteWebhook deletes a webhook.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, RouteWebhook, "/webhooks/"+url.PathEscape(id), nil, nil)
}

// GetNamedConnector reads a connector of the current API by name: its body
// as the API reports it (secret options absent, meta.<option>.is_set instead).
func (c *Client) GetNamedConnector(ctx context.Context, name string) (json.RawMessage, error) {
	var body json.RawMessage
	if err := c.do(ctx, http.MethodGet, RouteConnectorV2, "/connectors/"+url.PathEscape(name), nil, &body); err != nil {
		return nil, err
	}
	var named struct {
		Name string `json:"name"`
	}
	if json.Unmarshal(body, &named) != nil || named.Name != name {
		return nil, &InvalidResponseError{Method: http.MethodGet, Route: RouteConnectorV2, Reason: "the answer is not the connector asked for"}
	}
	return body, nil
}

// CreateNamedConnector creates a connector of the current API (the body
// names it).
func (c *Client) CreateNamedConnector(ctx context.Context, body json.RawMessage) error {
	return c.do(ctx, http.MethodPost, RouteConnectors, RouteConnectors, body, nil)
}

// UpdateNamedConnector changes a connector of the current API.
func (c *Client) UpdateNamedConnector(ctx context.Context, name string, body json.RawMessage) error {
	return c.do(ctx, http.MethodPatch, RouteConnectorV2, "/connectors/"+url.PathEscape(name), body, nil)
}

// DeleteNamedConnector deletes a connector of the current API.
func (c *Client) DeleteNamedConnector(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, RouteConnectorV2, "/connectors/"+url.PathEscape(name), nil, nil)
}

// SendSMSToSIM sends an SMS to a SIM by its SIM ID. As SendSMS, a call that
// fails after the request was written may or may not have sent it.
func (c *Client) SendSMSToSIM(ctx context.Context, simID string, m SMS) error {
	return c.do(ctx, http.MethodPost, RouteSIMSMS, "/sms/"+url.PathEscape(simID), m, nil)
}

// SIMIDOfICCID is the SIM ID an ICCID carries: its digits 11–19.
func SIMIDOfICCID(iccid string) (string, error) {
	if len(iccid) < 19 || strings.Trim(iccid, "0123456789") != "" {
		return "", errors.New("an ICCID is 19 to 22 digits")
	}
	return iccid[10:19], nil
}
