package simulator

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// SIM is a SIM card as the simulated API stores it.
type SIM struct {
	IMSI           string `json:"imsi"`
	MSISDN         string `json:"msisdn"`
	Voice          bool   `json:"voice"`
	SMS            bool   `json:"sms"`
	Data           bool   `json:"data"`
	DataThrottling bool   `json:"data_throttling"`
}

// SMS is a message the simulated API accepted.
type SMS struct {
	To   string    `json:"to"`
	From string    `json:"from"`
	Text string    `json:"text"`
	Time time.Time `json:"time"`
}

// Request is one recorded request.
type Request struct {
	Time   time.Time `json:"time"`
	Method string    `json:"method"`
	Path   string    `json:"path"`
	// Route is the route template (/sim/:id, /sms/:to, /connector/:id) or the path.
	Route  string `json:"route"`
	Status int    `json:"status"`
	// Dropped is true when the write was applied but its response dropped.
	Dropped bool `json:"dropped,omitempty"`
}

// Faults are injected into API routes (never into /_simulator/ routes).
type Faults struct {
	// LatencyMillis delays every answer.
	LatencyMillis int `json:"latencyMillis,omitempty"`
	// FailNext answers the next N requests with FailStatus (default 503), unapplied.
	FailNext   int `json:"failNext,omitempty"`
	FailStatus int `json:"failStatus,omitempty"`
	// FailCode is the error code of FailNext answers (default from the status,
	// e.g. service_unavailable), to make any code the API documents appear.
	FailCode string `json:"failCode,omitempty"`
	// Only limits every fault to paths starting with this prefix (e.g. /sim/2387300).
	Only string `json:"only,omitempty"`
	// ErrorRate answers this fraction of requests with FailStatus, unapplied.
	ErrorRate float64 `json:"errorRate,omitempty"`
	// TooManyNext answers the next N requests 429 with Retry-After: RetryAfterSeconds.
	TooManyNext       int `json:"tooManyNext,omitempty"`
	RetryAfterSeconds int `json:"retryAfterSeconds,omitempty"`
	// RateLimit, when > 0, allows that many requests per RateLimitWindowSeconds
	// (default 60, like the hosted API's 600 a minute) and answers 429 beyond.
	RateLimit              int `json:"rateLimit,omitempty"`
	RateLimitWindowSeconds int `json:"rateLimitWindowSeconds,omitempty"`
	// DropNext applies the next N writes, then closes the connection without an answer.
	DropNext int `json:"dropNext,omitempty"`
	// AnswerNext answers the next N requests with Answer, exactly, unapplied:
	// any status (a 429 with any headers, a 3xx, a 200 that is not the SIM),
	// any headers, any body.
	AnswerNext int    `json:"answerNext,omitempty"`
	Answer     Answer `json:"answer,omitzero"`
}

// Answer is a canned answer, for answers no well-behaved API gives.
type Answer struct {
	// Status defaults to 200.
	Status  int               `json:"status,omitempty"`
	Headers map[string]string `json:"headers,omitempty"`
	// Body is written Repeat times (once if Repeat is 0): a large body
	// without a large fault request.
	Body   string `json:"body,omitempty"`
	Repeat int    `json:"repeat,omitempty"`
}

func (a Answer) write(w http.ResponseWriter) {
	for k, v := range a.Headers {
		w.Header().Set(k, v)
	}
	w.WriteHeader(cmp.Or(a.Status, http.StatusOK))
	for range max(a.Repeat, 1) {
		_, _ = io.WriteString(w, a.Body)
	}
}

// Options configure a Simulator.
type Options struct {
	// APIKey is the only accepted Authorization header value.
	APIKey string
	// ForbiddenPrefixes: IMSIs answering 403 imsi_forbidden. Default ["999"].
	ForbiddenPrefixes []string
	// UnknownPrefixes: IMSIs outside the inventory, 404 imsi_not_found on create. Default ["000"].
	UnknownPrefixes []string
	// Now is the clock; time.Now if nil.
	Now func() time.Time
	// Seed makes ErrorRate reproducible.
	Seed uint64
}

// Simulator is the in-memory API. Use New; it is an http.Handler.
type Simulator struct {
	opts Options
	mux  *http.ServeMux

	mu         sync.Mutex
	sims       map[string]*SIM // by IMSI
	byMSISDN   map[string]string
	connectors map[string]map[string]any
	requests   []Request
	sms        []SMS
	faults     Faults
	cur        current   // the current edition's store
	window     time.Time // start of the rate-limit window
	inWindow   int
	rand       *rand.Rand
}

// New returns a Simulator with an empty store.
func New(opts Options) *Simulator {
	if opts.ForbiddenPrefixes == nil {
		opts.ForbiddenPrefixes = []string{"999"}
	}
	if opts.UnknownPrefixes == nil {
		opts.UnknownPrefixes = []string{"000"}
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Simulator{opts: opts, rand: rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5eed))}
	s.resetLocked()
	m := http.NewServeMux()
	m.HandleFunc("GET /sim/{id}", s.getSIM)
	m.HandleFunc("POST /sim/{id}", s.createSIM)
	m.HandleFunc("PUT /sim/{id}", s.updateSIM)
	m.HandleFunc("DELETE /sim/{id}", s.deleteSIM)
	m.HandleFunc("POST /sms/{to}", s.sendSMS)
	m.HandleFunc("GET /connector/{id}", s.getConnector)
	m.HandleFunc("POST /connector/{id}", s.createConnector)
	m.HandleFunc("PUT /connector/{id}", s.updateConnector)
	m.HandleFunc("DELETE /connector/{id}", s.deleteConnector)
	s.routeCurrent(m)
	m.HandleFunc("GET /_simulator/requests", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, s.Requests()) })
	m.HandleFunc("GET /_simulator/sms", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, s.SMS()) })
	m.HandleFunc("GET /_simulator/sims", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, s.SIMs()) })
	m.HandleFunc("GET /_simulator/faults", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, s.Faults()) })
	m.HandleFunc("POST /_simulator/faults", s.postFaults)
	m.HandleFunc("POST /_simulator/reset", func(w http.ResponseWriter, _ *http.Request) { s.Reset(); ok(w) })
	s.mux = m
	return s
}

// SetAPIKey changes the accepted key, as revoking the old one would.
func (s *Simulator) SetAPIKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.APIKey = key
}

// Reset empties the store, the logs and the faults.
func (s *Simulator) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resetLocked()
}

func (s *Simulator) resetLocked() {
	s.sims = map[string]*SIM{}
	s.byMSISDN = map[string]string{}
	s.connectors = map[string]map[string]any{}
	s.requests = nil
	s.sms = nil
	s.faults = Faults{}
	s.inWindow = 0
	s.resetCurrentLocked()
}

// SetFaults replaces the injected faults.
func (s *Simulator) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.inWindow = 0
	s.window = time.Time{}
}

// UpdateFaults changes the injected faults in place, under the lock.
func (s *Simulator) UpdateFaults(fn func(*Faults)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fn(&s.faults)
}

// Faults returns the faults now in force.
func (s *Simulator) Faults() Faults {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults
}

// Requests returns a copy of the request log.
func (s *Simulator) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request{}, s.requests...)
}

// CountRequests counts recorded requests by method ("" for any) and route.
func (s *Simulator) CountRequests(method, route string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if (method == "" || r.Method == method) && (route == "" || r.Route == route) {
			n++
		}
	}
	return n
}

// SMS returns a copy of the accepted messages.
func (s *Simulator) SMS() []SMS {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMS{}, s.sms...)
}

// SIMs returns a copy of the stored SIMs.
func (s *Simulator) SIMs() []SIM {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]SIM, 0, len(s.sims))
	for _, v := range s.sims {
		out = append(out, *v)
	}
	return out
}

// SIM returns one stored SIM by IMSI or MSISDN.
func (s *Simulator) SIM(id string) (SIM, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if v := s.lookupLocked(id); v != nil {
		return *v, true
	}
	return SIM{}, false
}

// PutSIM stores a SIM as if changed out of band (no request is recorded).
func (s *Simulator) PutSIM(v SIM) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old := s.sims[v.IMSI]; old != nil {
		delete(s.byMSISDN, normMSISDN(old.MSISDN))
	}
	s.sims[v.IMSI] = &v
	if v.MSISDN != "" {
		s.byMSISDN[normMSISDN(v.MSISDN)] = v.IMSI
	}
}

// Connector returns a stored connector body (without the server's "id").
func (s *Simulator) Connector(id string) (map[string]any, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.connectors[id]
	return c, ok
}

// PutConnector stores a connector as if changed out of band.
func (s *Simulator) PutConnector(id string, body map[string]any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connectors[id] = body
}

// DeleteConnectorOutOfBand removes a connector as if deleted behind the operator's back.
func (s *Simulator) DeleteConnectorOutOfBand(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.connectors[id]
	delete(s.connectors, id)
	return ok
}

// DeleteSIMOutOfBand removes a SIM as if deleted behind the operator's back.
func (s *Simulator) DeleteSIMOutOfBand(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	v := s.lookupLocked(id)
	if v == nil {
		return false
	}
	s.removeLocked(v)
	return true
}

func (s *Simulator) removeLocked(v *SIM) {
	delete(s.sims, v.IMSI)
	delete(s.byMSISDN, normMSISDN(v.MSISDN))
}

func (s *Simulator) lookupLocked(id string) *SIM {
	if imsiRe.MatchString(id) {
		if v := s.sims[id]; v != nil {
			return v
		}
	}
	if imsi, found := s.byMSISDN[normMSISDN(id)]; found {
		return s.sims[imsi]
	}
	return nil
}

// ServeHTTP authenticates, injects faults, records, and routes.
func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &recorder{ResponseWriter: w}
	req := Request{Time: s.opts.Now(), Method: r.Method, Path: r.URL.Path, Route: routeOf(r.URL.Path)}
	admin := strings.HasPrefix(r.URL.Path, "/_simulator/")
	defer func() {
		req.Status = rec.status
		if !admin {
			s.mu.Lock()
			s.requests = append(s.requests, req)
			s.mu.Unlock()
		}
	}()
	s.mu.Lock()
	key := s.opts.APIKey
	s.mu.Unlock()
	if auth := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer "); auth != key || key == "" {
		writeErr(rec, http.StatusUnauthorized, "unauthorized", "missing or wrong Authorization header")
		return
	}
	if admin {
		s.mux.ServeHTTP(rec, r)
		return
	}
	drop, stop := s.injectFaults(r.Context(), rec, r.Method, r.URL.Path)
	if stop {
		return
	}
	if drop {
		// Apply the write, then abort the connection: the client never hears back.
		sink := &recorder{ResponseWriter: discard{header: http.Header{}}}
		s.mux.ServeHTTP(sink, r)
		req.Status, req.Dropped = sink.status, true
		rec.status = sink.status
		panic(http.ErrAbortHandler)
	}
	s.mux.ServeHTTP(rec, r)
}

// injectFaults answers with an injected fault (stop) or says to drop the
// response of a write that is applied (drop).
func (s *Simulator) injectFaults(ctx context.Context, w http.ResponseWriter, method, path string) (drop, stop bool) {
	s.mu.Lock()
	f := &s.faults
	if !strings.HasPrefix(path, f.Only) {
		s.mu.Unlock()
		return false, false
	}
	latency := time.Duration(f.LatencyMillis) * time.Millisecond
	status, retryAfter, code := 0, 0, ""
	var canned *Answer
	if f.RateLimit > 0 {
		win := time.Duration(f.RateLimitWindowSeconds) * time.Second
		if win <= 0 {
			win = time.Minute
		}
		now := s.opts.Now()
		if s.window.IsZero() || now.Sub(s.window) >= win {
			s.window, s.inWindow = now, 0
		}
		s.inWindow++
		remaining := max(f.RateLimit-s.inWindow, 0)
		reset := int((s.window.Add(win).Sub(now) + time.Second - 1) / time.Second)
		w.Header().Set("x-ratelimit-limit", strconv.Itoa(f.RateLimit))
		w.Header().Set("x-ratelimit-remaining", strconv.Itoa(remaining))
		w.Header().Set("x-ratelimit-reset", strconv.Itoa(reset))
		if s.inWindow > f.RateLimit {
			status, retryAfter = http.StatusTooManyRequests, reset
		}
	}
	failStatus := f.FailStatus
	if failStatus == 0 {
		failStatus = http.StatusServiceUnavailable
	}
	switch {
	case status != 0:
	case f.AnswerNext > 0:
		f.AnswerNext--
		a := f.Answer
		canned = &a
	case f.TooManyNext > 0:
		f.TooManyNext--
		status, retryAfter = http.StatusTooManyRequests, f.RetryAfterSeconds
	case f.FailNext > 0:
		f.FailNext--
		status, code = failStatus, f.FailCode
	case f.ErrorRate > 0 && s.rand.Float64() < f.ErrorRate:
		status = failStatus
	case f.DropNext > 0 && method != http.MethodGet:
		f.DropNext--
		drop = true
	}
	s.mu.Unlock()

	if latency > 0 {
		t := time.NewTimer(latency)
		select {
		case <-ctx.Done():
			t.Stop()
			writeErr(w, http.StatusServiceUnavailable, "service_unavailable", "client went away")
			return false, true
		case <-t.C:
		}
	}
	switch {
	case canned != nil:
		canned.write(w)
	case status == 0:
		return drop, false
	case code != "":
		writeErr(w, status, code, "injected fault")
	case status == http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.Itoa(retryAfter))
		writeErr(w, status, "rate_limited", "rate limit exceeded")
	case status == http.StatusInternalServerError:
		writeErr(w, status, "internal_error", "injected fault")
	default:
		writeErr(w, status, strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_")), "injected fault")
	}
	return false, true
}

func (s *Simulator) postFaults(w http.ResponseWriter, r *http.Request) {
	var f Faults
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<16))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		writeErr(w, 400, "body_invalid", "faults: "+err.Error())
		return
	}
	s.SetFaults(f)
	writeJSON(w, 200, f)
}

func routeOf(path string) string {
	switch {
	case strings.HasPrefix(path, "/sim/"):
		return "/sim/:id"
	case strings.HasPrefix(path, "/sms/"):
		return "/sms/:to"
	case strings.HasPrefix(path, "/connector/"):
		return "/connector/:id"
	}
	return path
}

type recorder struct {
	http.ResponseWriter
	status int
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

type discard struct{ header http.Header }

func (d discard) Header() http.Header         { return d.header }
func (d discard) Write(b []byte) (int, error) { return len(b), nil }
func (d discard) WriteHeader(int)             {}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func ok(w http.ResponseWriter) { writeJSON(w, http.StatusOK, map[string]string{"message": "OK"}) }

func writeErr(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error": code, "message": msg})
}

// apiErr is a validation failure: an HTTP status and the API's code.
type apiErr struct {
	status int
	code   string
	msg    string
}

func fail(status int, code, format string, args ...any) *apiErr {
	return &apiErr{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func answer(w http.ResponseWriter, err *apiErr) {
	if err != nil {
		writeErr(w, err.status, err.code, err.msg)
		return
	}
	ok(w)
}
