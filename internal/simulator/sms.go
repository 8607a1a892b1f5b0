package simulator

import (
	"net/http"
	"unicode/utf8"
)

// maxText is the longest accepted SMS text, in characters (ten concatenated GSM segments).
const maxText = 1600

func (s *Simulator) sendSMS(w http.ResponseWriter, r *http.Request) {
	answer(w, s.send(r))
}

func (s *Simulator) send(r *http.Request) *apiErr {
	to := r.PathValue("to")
	if simIDRe.MatchString(to) {
		return s.sendToSIM(r, to) // the current edition: a 9-digit SIM ID
	}
	if !msisdnRe.MatchString(to) {
		return fail(400, "to_invalid", "to must be an E.164 phone number")
	}
	b, err := decodeBody(r)
	if err != nil {
		return err
	}
	from, _, ok := b.str("from")
	if !ok || !fromRe.MatchString(from) {
		return fail(400, "from_invalid", "from must be 1-11 letters or digits, or up to 15 digits")
	}
	text, _, ok := b.str("text")
	if n := utf8.RuneCountInString(text); !ok || !utf8.ValidString(text) || n == 0 || n > maxText {
		return fail(400, "text_invalid", "text must be 1-%d characters of UTF-8", maxText)
	}
	s.mu.Lock()
	s.sms = append(s.sms, SMS{To: normMSISDN(to), From: from, Text: text, Time: s.opts.Now()})
	s.mu.Unlock()
	return nil
}
