// Package onomondo is a client for the Onomondo API
// (https://api.onomondo.com): SIMs addressed by IMSI or MSISDN, SMS, and
// connectors with an opaque JSON body.
//
// Every call passes through one client-side token bucket shared by all
// callers, and pauses when the API's rate-limit headers say the budget is
// spent. Errors report facts, not decisions: the HTTP status and the API's
// code (APIError), whether the request was written before the connection
// failed (TransportError), the client's own budget (BudgetError), and how
// long the API asked callers to wait; the controllers decide what to do. The API key never leaves the Authorization header: it is not
// in errors, logs, metrics or the String form of Config or Client.
package onomondo

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/time/rate"
)

// DefaultBaseURL is the hosted API.
const DefaultBaseURL = "https://api.onomondo.com"

// Defaults for Config.
const (
	DefaultTimeout = 30 * time.Second
	DefaultRate    = 10.0 // requests per second; the hosted API allows 600 a minute
	DefaultBurst   = 10
	// DefaultMaxRetryAfter caps every wait the API dictates (Retry-After,
	// x-ratelimit-reset): an answer asking for a day holds calls 5 minutes.
	DefaultMaxRetryAfter = 5 * time.Minute
	// inlineHold is the longest pause the API asks for that a call sleeps
	// through; a longer one is returned as a BudgetError at once, so that a
	// worker goes on to another account's objects.
	inlineHold = time.Second
	// maxAnswer is the largest answer read; a longer 2xx answer is invalid.
	maxAnswer = 1 << 20
	// maxMessage bounds the API's error message kept in errors (and status).
	maxMessage = 256
	// maxCode bounds the API's error code kept in errors.
	maxCode = 64
)

// Route templates, used in errors and metrics instead of raw identifiers.
const (
	RouteSIM       = "/sim/:id"
	RouteSMS       = "/sms/:to"
	RouteConnector = "/connector/:id"
)

// Config configures a Client.
type Config struct {
	// BaseURL defaults to DefaultBaseURL. http:// is refused unless AllowInsecureHTTP.
	BaseURL string
	// APIKey is sent as the Authorization header.
	APIKey string
	// CAFile is a PEM bundle trusted in addition to the system roots.
	CAFile string
	// CAPEM is like CAFile, given inline.
	CAPEM []byte
	// Timeout bounds one HTTP exchange; DefaultTimeout if zero.
	Timeout time.Duration
	// AllowInsecureHTTP permits an http:// BaseURL, for local development only.
	AllowInsecureHTTP bool
	// Rate and Burst size the client-side token bucket; defaults 10/s and 10.
	// A negative Rate disables it.
	Rate  float64
	Burst int
	// Now is the clock used to read x-ratelimit-reset; time.Now if nil.
	Now func() time.Time
	// Metrics count calls, latency and budget waits; unregistered if nil.
	Metrics *Metrics
	// Account labels this client's metrics ("default" if empty).
	Account string
	// MaxRetryAfter caps every wait the API dictates; DefaultMaxRetryAfter
	// if zero.
	MaxRetryAfter time.Duration
	// Bearer sends "Bearer <key>" instead of the raw key (some of the
	// current API's documents show that form).
	Bearer bool
	// Current: the organisation speaks the current API (docs/onomondo-current.md),
	// not the seed's; the controllers choose their calls by it.
	Current bool
}

// String hides the API key.
func (c Config) String() string {
	return fmt.Sprintf("onomondo.Config{BaseURL:%q APIKey:%s CAFile:%q Timeout:%s Rate:%g Burst:%d}",
		c.BaseURL, redacted(c.APIKey), c.CAFile, c.Timeout, c.Rate, c.Burst)
}

// GoString hides the API key from %#v.
func (c Config) GoString() string { return c.String() }

func redacted(key string) string {
	if key == "" {
		return "<unset>"
	}
	return "<redacted>"
}

// Client calls the Onomondo API. It is safe for concurrent use; share one.
type Client struct {
	base    *url.URL
	key     atomic.Pointer[string]
	http    *http.Client
	limiter *rate.Limiter
	now     func() time.Time
	metrics *Metrics
	account string
	maxWait time.Duration
	bearer  bool
	current bool

	mu        sync.Mutex
	holdUntil time.Time // the API said its budget is spent until then
	last      atomic.Pointer[answer]
}

// answer is the status and code of an answer.
type answer struct {
	status int
	code   string
}

// LastAnswer is the HTTP status and the API's code of the last answer (0
// before any): whether the key was accepted at the last call.
func (c *Client) LastAnswer() (status int, code string) {
	if a := c.last.Load(); a != nil {
		return a.status, a.code
	}
	return 0, ""
}

// String hides the API key.
func (c *Client) String() string { return "onomondo.Client{" + c.base.String() + "}" }

// GoString hides the API key from %#v.
func (c *Client) GoString() string { return c.String() }

// New checks cfg and returns a Client.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	base, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/"))
	if err != nil || base.Host == "" {
		return nil, fmt.Errorf("onomondo: invalid API URL %q", cfg.BaseURL)
	}
	switch {
	case base.Scheme == "https":
	case base.Scheme == "http" && cfg.AllowInsecureHTTP:
	case base.Scheme == "http":
		return nil, fmt.Errorf("onomondo: refusing plain http URL %q: the API is HTTPS only (set the insecure option for local development)", cfg.BaseURL)
	default:
		return nil, fmt.Errorf("onomondo: unsupported URL scheme %q", base.Scheme)
	}
	tlsCfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" || len(cfg.CAPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		pem := cfg.CAPEM
		if cfg.CAFile != "" {
			if pem, err = os.ReadFile(cfg.CAFile); err != nil {
				return nil, fmt.Errorf("onomondo: reading CA file: %w", err)
			}
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("onomondo: CA bundle %q holds no PEM certificate", cfg.CAFile)
		}
		tlsCfg.RootCAs = pool
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Rate == 0 {
		cfg.Rate = DefaultRate
	}
	if cfg.Burst <= 0 {
		cfg.Burst = DefaultBurst
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = DefaultMaxRetryAfter
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.TLSClientConfig = tlsCfg
	transport.MaxIdleConnsPerHost = 64
	c := &Client{
		base: base,
		http: &http.Client{Transport: transport, Timeout: cfg.Timeout,
			// An API client follows no redirect: the key goes to BaseURL and
			// nowhere else, not even another port or scheme of its host.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		now:     cfg.Now,
		metrics: cfg.Metrics,
		account: cmp.Or(cfg.Account, "default"),
		maxWait: cfg.MaxRetryAfter,
		bearer:  cfg.Bearer,
		current: cfg.Current,
	}
	c.metrics.waitCap.Set(cfg.MaxRetryAfter.Seconds())
	if cfg.Rate > 0 {
		c.limiter = rate.NewLimiter(rate.Limit(cfg.Rate), cfg.Burst)
	}
	c.SetAPIKey(cfg.APIKey)
	return c, nil
}

// SetAPIKey replaces the key used by later calls (for Secret rotation).
// Without a key the client sends nothing and answers MissingKeyError.
func (c *Client) SetAPIKey(key string) { c.key.Store(&key) }

// Current reports whether the organisation speaks the current API.
func (c *Client) Current() bool { return c.current }

// Organisation identifies the organisation this client acts for without
// its key: a keyed hash of the key (HMAC-SHA256, 16 bytes), the same in
// every process that holds the same key, whatever URL it reaches the API by
// (a proxy, another endpoint of the same API). Empty without a key.
func (c *Client) Organisation() string {
	key := *c.key.Load()
	if key == "" {
		return ""
	}
	mac := hmac.New(sha256.New, []byte("sim-operator.dev/organisation/v1"))
	mac.Write([]byte(key))
	return "key-hmac-sha256:" + hex.EncodeToString(mac.Sum(nil)[:16])
}

// SIM is a SIM card as the API reports and accepts it.
type SIM struct {
	IMSI           string `json:"imsi,omitempty"`
	MSISDN         string `json:"msisdn,omitempty"`
	Voice          bool   `json:"voice"`
	SMS            bool   `json:"sms"`
	Data           bool   `json:"data"`
	DataThrottling bool   `json:"data_throttling"`
}

// SMS is a message to send.
type SMS struct {
	From string `json:"from"`
	Text string `json:"text"`
}

// GetSIM reads the SIM addressed by an IMSI or an MSISDN.
func (c *Client) GetSIM(ctx context.Context, id string) (*SIM, error) {
	var s *SIM
	if err := c.do(ctx, http.MethodGet, RouteSIM, "/sim/"+url.PathEscape(id), nil, &s); err != nil {
		return nil, err
	}
	if s == nil || !s.names(id) {
		return nil, &InvalidResponseError{Method: http.MethodGet, Route: RouteSIM,
			Reason: "the answer is not the SIM asked for (it names no identifier, or another one)"}
	}
	return s, nil
}

// names reports whether the SIM carries the identifier it was asked by: its
// IMSI, or its MSISDN ("+" aside).
func (s *SIM) names(id string) bool {
	id = strings.TrimPrefix(id, "+")
	return id != "" && (s.IMSI == id || strings.TrimPrefix(s.MSISDN, "+") == id)
}

// CreateSIM activates a SIM with the given settings.
func (c *Client) CreateSIM(ctx context.Context, id string, s SIM) error {
	return c.do(ctx, http.MethodPost, RouteSIM, "/sim/"+url.PathEscape(id), s, nil)
}

// UpdateSIM sets all of a SIM's settings.
func (c *Client) UpdateSIM(ctx context.Context, id string, s SIM) error {
	return c.do(ctx, http.MethodPut, RouteSIM, "/sim/"+url.PathEscape(id), s, nil)
}

// DeleteSIM deletes a SIM.
func (c *Client) DeleteSIM(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, RouteSIM, "/sim/"+url.PathEscape(id), nil, nil)
}

// SendSMS sends one SMS. The API has no idempotency key: a call that fails
// after the request was written (a 5xx, a TransportError with Written) may
// or may not have sent the message.
func (c *Client) SendSMS(ctx context.Context, to string, m SMS) error {
	return c.do(ctx, http.MethodPost, RouteSMS, "/sms/"+url.PathEscape(to), m, nil)
}

// GetConnector reads a connector's body, which the API does not document.
func (c *Client) GetConnector(ctx context.Context, id string) (json.RawMessage, error) {
	var body json.RawMessage
	if err := c.do(ctx, http.MethodGet, RouteConnector, "/connector/"+url.PathEscape(id), nil, &body); err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(bytes.TrimSpace(body), []byte("{")) {
		return nil, &InvalidResponseError{Method: http.MethodGet, Route: RouteConnector, Reason: "the answer is not a JSON object"}
	}
	return body, nil
}

// CreateConnector creates a connector with an opaque JSON body.
func (c *Client) CreateConnector(ctx context.Context, id string, body json.RawMessage) error {
	return c.do(ctx, http.MethodPost, RouteConnector, "/connector/"+url.PathEscape(id), body, nil)
}

// UpdateConnector replaces a connector's body.
func (c *Client) UpdateConnector(ctx context.Context, id string, body json.RawMessage) error {
	return c.do(ctx, http.MethodPut, RouteConnector, "/connector/"+url.PathEscape(id), body, nil)
}

// DeleteConnector deletes a connector.
func (c *Client) DeleteConnector(ctx context.Context, id string) error {
	return c.do(ctx, http.MethodDelete, RouteConnector, "/connector/"+url.PathEscape(id), nil, nil)
}

func (c *Client) do(ctx context.Context, method, route, path string, in, out any) error {
	if *c.key.Load() == "" {
		return &MissingKeyError{Method: method, Route: route}
	}
	if err := c.wait(ctx); err != nil {
		var held *heldError
		if errors.As(err, &held) {
			return &BudgetError{Method: method, Route: route, Err: err, RetryAfter: held.wait}
		}
		return &BudgetError{Method: method, Route: route, Err: err}
	}
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("onomondo: encoding %s %s: %w", method, route, err)
		}
		body = bytes.NewReader(b)
	}
	var written atomic.Bool
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		WroteRequest: func(httptrace.WroteRequestInfo) { written.Store(true) },
	})
	req, err := http.NewRequestWithContext(ctx, method, c.base.String()+path, body)
	if err != nil {
		return fmt.Errorf("onomondo: %s %s: %w", method, route, err)
	}
	auth := *c.key.Load()
	if c.bearer {
		auth = "Bearer " + auth
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}

	start := time.Now()
	resp, err := c.http.Do(req)
	if err != nil {
		c.metrics.observe(c.account, method, route, "error", time.Since(start))
		return &TransportError{Method: method, Route: route, Written: written.Load(), Err: scrubURL(err)}
	}
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	c.metrics.observe(c.account, method, route, strconv.Itoa(resp.StatusCode), time.Since(start))
	c.noteRateLimit(resp)
	if err != nil {
		return &TransportError{Method: method, Route: route, Written: true, Err: scrubURL(err)}
	}
	if resp.StatusCode/100 == 3 {
		e := &RedirectError{Method: method, Route: route, StatusCode: resp.StatusCode, Target: origin(resp.Header.Get("Location"))}
		c.last.Store(&answer{status: resp.StatusCode})
		return e
	}
	if resp.StatusCode/100 != 2 {
		e := c.apiError(method, route, resp, raw)
		c.last.Store(&answer{status: e.StatusCode, code: e.Code})
		return e
	}
	c.last.Store(&answer{status: resp.StatusCode})
	if out == nil {
		return nil
	}
	switch trimmed := bytes.TrimSpace(raw); {
	case len(raw) > maxAnswer:
		return &InvalidResponseError{Method: method, Route: route, Reason: fmt.Sprintf("the answer is larger than %d bytes", maxAnswer)}
	case len(trimmed) == 0 || bytes.Equal(trimmed, []byte("null")):
		return &InvalidResponseError{Method: method, Route: route, Reason: fmt.Sprintf("the %d answer has no body", resp.StatusCode)}
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return &InvalidResponseError{Method: method, Route: route, Reason: fmt.Sprintf("the %d answer is not valid JSON: %v", resp.StatusCode, err)}
	}
	return nil
}

// origin is a redirect target's scheme and host (its path may hold an
// identifier), or what it was when it does not parse.
func origin(location string) string {
	u, err := url.Parse(location)
	if err != nil || u.Host == "" {
		return Truncate(location, 100)
	}
	return u.Scheme + "://" + u.Host
}

// scrubURL drops the request URL (it holds the IMSI; a log line needs only the route).
func scrubURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

// backgroundKey marks a context whose calls yield to every other call.
type backgroundKey struct{}

// Background marks the calls made with ctx as background work (a drift
// check and its correction): they take a token only when one is free now,
// and hold no place in the bucket's queue while they wait, so a call made
// for a user's change goes next however many background calls wait.
func Background(ctx context.Context) context.Context {
	return context.WithValue(ctx, backgroundKey{}, true)
}

// take takes a token from the bucket: in turn, or for background work only
// when one is free now.
func (c *Client) take(ctx context.Context) error {
	if c.limiter == nil {
		return nil
	}
	if ctx.Value(backgroundKey{}) == nil {
		return c.limiter.Wait(ctx)
	}
	for {
		r := c.limiter.Reserve()
		d := r.Delay()
		if d == 0 {
			return nil
		}
		r.Cancel() // give the place back: a foreground call may take it
		t := time.NewTimer(d + rand.N(d/2+time.Millisecond))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// wait takes a token from the shared bucket, then honours a pause the API
// asked for: checked last, so that calls queued in the bucket while the
// API's budget ran out do not go out into a 429.
func (c *Client) wait(ctx context.Context) error {
	start := time.Now()
	defer func() {
		if d := time.Since(start); d > time.Millisecond {
			c.metrics.budgetWait.Observe(d.Seconds())
		}
	}()
	if err := c.take(ctx); err != nil {
		return err
	}
	for {
		c.mu.Lock()
		hold := c.holdUntil.Sub(c.now())
		c.mu.Unlock()
		if hold <= 0 {
			return nil
		}
		if hold > inlineHold {
			return &heldError{wait: hold}
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < hold {
			return fmt.Errorf("the API's rate limit resets in %s, after the deadline", hold.Round(time.Millisecond))
		}
		t := time.NewTimer(hold)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// noteRateLimit pauses all calls until the reset time when the API reports
// its budget spent (x-ratelimit-remaining: 0) or answers 429.
func (c *Client) noteRateLimit(resp *http.Response) {
	spent := resp.StatusCode == http.StatusTooManyRequests || resp.Header.Get("x-ratelimit-remaining") == "0"
	if !spent {
		return
	}
	asked := retryAfter(resp.Header, c.now())
	d := c.capped(asked)
	if d <= 0 {
		d = time.Second
	}
	until := c.now().Add(d)
	c.mu.Lock()
	if until.After(c.holdUntil) {
		c.holdUntil = until
	}
	c.mu.Unlock()
	c.metrics.held(c.account, asked, d)
}

// capped bounds a wait the API dictated by the client's MaxRetryAfter.
func (c *Client) capped(d time.Duration) time.Duration { return min(d, c.maxWait) }

// heldError: the API asked for a pause longer than a call sleeps through.
type heldError struct{ wait time.Duration }

func (e *heldError) Error() string {
	return fmt.Sprintf("the API's rate limit holds this account's calls for %s more", e.wait.Round(time.Second))
}

// retryAfter reads Retry-After (seconds or an HTTP date), else
// x-ratelimit-reset (seconds from now, or a Unix time when it is that
// large, in milliseconds when it is larger still). The result is what the
// API asked for, uncapped.
func retryAfter(h http.Header, now time.Time) time.Duration {
	if v := h.Get("Retry-After"); v != "" {
		if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil {
			return time.Duration(s) * time.Second
		}
		if t, err := http.ParseTime(v); err == nil {
			return t.Sub(now)
		}
	}
	if v := h.Get("x-ratelimit-reset"); v != "" {
		if s, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err == nil {
			switch {
			case s > 100_000_000_000: // a Unix timestamp in milliseconds
				return time.UnixMilli(s).Sub(now)
			case s > 1_000_000_000: // a Unix timestamp
				return time.Unix(s, 0).Sub(now)
			}
			return time.Duration(s) * time.Second
		}
	}
	return 0
}

func (c *Client) apiError(method, route string, resp *http.Response, raw []byte) *APIError {
	asked := retryAfter(resp.Header, c.now())
	e := &APIError{Method: method, Route: route, StatusCode: resp.StatusCode, RetryAfter: c.capped(asked)}
	if asked > e.RetryAfter {
		e.RetryAfterAsked = asked
	}
	defer func() { e.Code, e.Message = Truncate(e.Code, maxCode), Truncate(e.Message, maxMessage) }()
	var body struct {
		Error   any    `json:"error"`
		Code    string `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(raw, &body) == nil {
		switch v := body.Error.(type) {
		case string:
			e.Code = v
		case map[string]any: // {"error":{"code":…,"message":…}}
			e.Code, _ = v["code"].(string)
			e.Message, _ = v["message"].(string)
		}
		if e.Code == "" {
			e.Code = body.Code
		}
		if body.Message != "" {
			e.Message = body.Message
		}
	} else if s := strings.TrimSpace(string(raw)); s != "" {
		e.Message = s
	}
	return e
}

// Truncate cuts s to at most n bytes of valid UTF-8, marking the cut: an
// answer's text is the API's to choose, and status has limits.
func Truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
