package simulator

import (
	"encoding/json"
	"net/http"
)

// connectorBody decodes a connector body: a JSON object.
func connectorBody(r *http.Request) (map[string]any, *apiErr) {
	b, err := decodeBody(r)
	if err != nil || b.json == nil {
		return nil, fail(400, "config_invalid", "a connector body must be a JSON object of at most 64 KiB")
	}
	out := make(map[string]any, len(b.json))
	for k, raw := range b.json {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return nil, fail(400, "config_invalid", "field %q is not JSON", k)
		}
		out[k] = v
	}
	return out, nil
}

func connectorID(r *http.Request) (string, *apiErr) {
	id := r.PathValue("id")
	if !connIDRe.MatchString(id) {
		return "", fail(400, "id_invalid", "connector id must be 1-63 of letters, digits, _ and -")
	}
	return id, nil
}

func (s *Simulator) getConnector(w http.ResponseWriter, r *http.Request) {
	id, err := connectorID(r)
	if err != nil {
		answer(w, err)
		return
	}
	s.mu.Lock()
	stored, found := s.connectors[id]
	out := map[string]any{"id": id}
	for k, v := range stored {
		out[k] = v
	}
	s.mu.Unlock()
	if !found {
		answer(w, fail(404, "connector_not_found", "no connector %s", id))
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Simulator) createConnector(w http.ResponseWriter, r *http.Request) {
	answer(w, s.writeConnector(r, true))
}

func (s *Simulator) updateConnector(w http.ResponseWriter, r *http.Request) {
	answer(w, s.writeConnector(r, false))
}

func (s *Simulator) writeConnector(r *http.Request, create bool) *apiErr {
	id, err := connectorID(r)
	if err != nil {
		return err
	}
	cfg, err := connectorBody(r)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, exists := s.connectors[id]
	switch {
	case create && exists:
		return fail(409, "connector_conflict", "connector %s exists", id)
	case !create && !exists:
		return fail(404, "connector_not_found", "no connector %s", id)
	}
	s.connectors[id] = cfg
	return nil
}

func (s *Simulator) deleteConnector(w http.ResponseWriter, r *http.Request) {
	id, err := connectorID(r)
	if err == nil {
		s.mu.Lock()
		if _, found := s.connectors[id]; found {
			delete(s.connectors, id)
		} else {
			err = fail(404, "connector_not_found", "no connector %s", id)
		}
		s.mu.Unlock()
	}
	answer(w, err)
}
