package simulator

import (
	"fmt"
	"net/http"
	"strings"
)

// settings are the boolean fields of a SIM write, with their error codes.
var settings = []struct {
	name string
	set  func(*SIM, bool)
}{
	{"voice", func(s *SIM, v bool) { s.Voice = v }},
	{"sms", func(s *SIM, v bool) { s.SMS = v }},
	{"data", func(s *SIM, v bool) { s.Data = v }},
	{"data_throttling", func(s *SIM, v bool) { s.DataThrottling = v }},
}

// pathID classifies a path identifier: an IMSI (15 digits) or an MSISDN.
func pathID(id string) (imsi, msisdn string, err *apiErr) {
	switch {
	case imsiRe.MatchString(id):
		return id, "", nil
	case msisdnRe.MatchString(id):
		return "", normMSISDN(id), nil
	case strings.Trim(id, "0123456789") == "":
		return "", "", fail(400, "imsi_invalid", "%q is neither a 15-digit IMSI nor an E.164 MSISDN", id)
	default:
		return "", "", fail(400, "msisdn_invalid", "%q is not an E.164 phone number", id)
	}
}

func (s *Simulator) forbidden(imsi string) *apiErr {
	for _, p := range s.opts.ForbiddenPrefixes {
		if strings.HasPrefix(imsi, p) {
			return fail(403, "imsi_forbidden", "IMSI %s belongs to another account", imsi)
		}
	}
	return nil
}

func (s *Simulator) unknown(imsi string) *apiErr {
	for _, p := range s.opts.UnknownPrefixes {
		if strings.HasPrefix(imsi, p) {
			return fail(404, "imsi_not_found", "IMSI %s is not in this account's inventory", imsi)
		}
	}
	return nil
}

// find resolves the path to a stored SIM (call with s.mu held).
func (s *Simulator) find(id string) (*SIM, *apiErr) {
	imsi, _, err := pathID(id)
	if err != nil {
		return nil, err
	}
	if imsi != "" {
		if err := s.forbidden(imsi); err != nil {
			return nil, err
		}
	}
	if v := s.lookupLocked(id); v != nil {
		return v, nil
	}
	return nil, fail(404, "sim_not_found", "no SIM %s", id)
}

// applySettings validates and applies the body's identity-free fields to v.
func applySettings(b *body, v *SIM) *apiErr {
	for _, f := range settings {
		val, present, ok := b.boolean(f.name)
		if !ok {
			return fail(400, f.name+"_invalid", "%s must be a boolean", f.name)
		}
		if present {
			f.set(v, val)
		}
	}
	if v.DataThrottling && !v.Data {
		return fail(409, "data_data_throttling_conflict", "data_throttling needs data enabled")
	}
	return nil
}

// identity reads imsi and msisdn from the body, validated.
func identity(b *body) (imsi, msisdn string, err *apiErr) {
	imsi, present, ok := b.str("imsi")
	if !ok || (present && !imsiRe.MatchString(imsi)) {
		return "", "", fail(400, "imsi_invalid", "imsi must be 15 digits")
	}
	msisdn, present, ok = b.str("msisdn")
	if !ok || (present && !msisdnRe.MatchString(msisdn)) {
		return "", "", fail(400, "msisdn_invalid", "msisdn must be E.164")
	}
	return imsi, normMSISDN(msisdn), nil
}

func (s *Simulator) getSIM(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	v, err := s.find(r.PathValue("id"))
	var out SIM
	if v != nil {
		out = *v
	}
	s.mu.Unlock()
	if err != nil {
		answer(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Simulator) createSIM(w http.ResponseWriter, r *http.Request) {
	answer(w, s.create(r))
}

func (s *Simulator) create(r *http.Request) *apiErr {
	pathIMSI, pathMSISDN, err := pathID(r.PathValue("id"))
	if err != nil {
		return err
	}
	b, err := decodeBody(r)
	if err != nil {
		return err
	}
	imsi, msisdn, err := identity(b)
	if err != nil {
		return err
	}
	switch {
	case imsi == "":
		imsi = pathIMSI
	case pathIMSI != "" && imsi != pathIMSI:
		return fail(400, "imsi_invalid", "imsi %s in the body differs from %s in the path", imsi, pathIMSI)
	}
	if msisdn == "" {
		msisdn = pathMSISDN
	}
	if imsi == "" && msisdn == "" {
		return fail(400, "imsi_invalid", "imsi or msisdn is required")
	}
	v := SIM{IMSI: imsi, MSISDN: msisdn, Voice: true, SMS: true, Data: true}
	if err := applySettings(b, &v); err != nil {
		return err
	}
	if v.IMSI == "" {
		v.IMSI = fmt.Sprintf("23873%010s", msisdn[max(0, len(msisdn)-10):])
	} else if err := s.forbidden(v.IMSI); err != nil {
		return err
	} else if err := s.unknown(v.IMSI); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.sims[v.IMSI] != nil {
		return fail(409, "imsi_conflict", "SIM %s exists", v.IMSI)
	}
	if _, taken := s.byMSISDN[v.MSISDN]; v.MSISDN != "" && taken {
		return fail(409, "imsi_conflict", "MSISDN %s belongs to an existing SIM", v.MSISDN)
	}
	s.sims[v.IMSI] = &v
	if v.MSISDN != "" {
		s.byMSISDN[v.MSISDN] = v.IMSI
	}
	return nil
}

func (s *Simulator) updateSIM(w http.ResponseWriter, r *http.Request) {
	answer(w, s.update(r))
}

func (s *Simulator) update(r *http.Request) *apiErr {
	b, err := decodeBody(r)
	if err != nil {
		return err
	}
	imsi, msisdn, err := identity(b)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur, err := s.find(r.PathValue("id"))
	if err != nil {
		return err
	}
	if imsi != "" && imsi != cur.IMSI {
		return fail(400, "imsi_invalid", "the IMSI of SIM %s cannot change", cur.IMSI)
	}
	next := *cur
	if msisdn != "" {
		if owner, taken := s.byMSISDN[msisdn]; taken && owner != cur.IMSI {
			return fail(400, "msisdn_invalid", "MSISDN %s belongs to another SIM", msisdn)
		}
		next.MSISDN = msisdn
	}
	if err := applySettings(b, &next); err != nil {
		return err
	}
	delete(s.byMSISDN, cur.MSISDN)
	*cur = next
	if cur.MSISDN != "" {
		s.byMSISDN[cur.MSISDN] = cur.IMSI
	}
	return nil
}

func (s *Simulator) deleteSIM(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	v, err := s.find(r.PathValue("id"))
	if v != nil {
		s.removeLocked(v)
	}
	s.mu.Unlock()
	answer(w, err)
}
