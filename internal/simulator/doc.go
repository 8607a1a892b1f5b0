// Package simulator is an in-memory Onomondo API, as an http.Handler, for
// tests, the local sandbox and benchmarks. It is stricter than lenient: it
// answers every documented error code, and a few the doc leaves out.
//
// # Routes
//
//	GET|POST|PUT|DELETE /sim/:imsi or /sim/:msisdn
//	POST                /sms/:to
//	GET|POST|PUT|DELETE /connector/:id
//
// Success bodies are as the doc shows: GET /sim returns the SIM object; every
// write returns {"message":"OK"}. Errors are {"error":"<code>","message":"…"}.
//
// # Authentication
//
// The Authorization header must equal the API key, else 401 {"error":"unauthorized"}.
//
// # Request bodies
//
// JSON objects, and the application/x-www-form-urlencoded bodies that the
// doc's NodeJS samples send (request's form: option), where booleans are the
// strings "true" and "false". In JSON, booleans must be JSON booleans and
// identifiers JSON strings. A body that is neither is 400 body_invalid.
//
// # Validation
//
//   - IMSI: exactly 15 digits, else 400 imsi_invalid.
//   - MSISDN (and an SMS's to): E.164, an optional "+" and 2 to 15 digits not
//     starting with 0 (the doc's 4512345678 is valid), else 400 msisdn_invalid
//     (to_invalid). A path of exactly 15 digits is read as an IMSI first.
//   - voice, sms, data, data_throttling: booleans, else 400 <field>_invalid.
//     Create defaults: voice, sms, data true; data_throttling false.
//   - data_throttling true with data false: 409 data_data_throttling_conflict.
//   - Inventory: an IMSI may be created unless it starts with a forbidden
//     prefix (default 999: 403 imsi_forbidden, on every verb) or an unknown
//     prefix (default 000: 404 imsi_not_found), like a payment API's test
//     card numbers. Options.ForbiddenPrefixes / UnknownPrefixes change them.
//   - Creating an IMSI (or MSISDN) that exists: 409 imsi_conflict.
//   - GET, PUT, DELETE of a SIM that does not exist: 404 sim_not_found.
//   - A SIM created by MSISDN alone gets IMSI 23873 followed by the last 10
//     digits of the MSISDN, zero-padded.
//   - SMS from: 1 to 11 letters or digits, or up to 15 digits, else
//     400 from_invalid; text: 1 to 1600 characters of valid UTF-8, else
//     400 text_invalid.
//   - Connector id: 1 to 63 of [A-Za-z0-9_-], starting alphanumeric, else
//     400 id_invalid; body: a JSON object of at most 64 KiB, else
//     400 config_invalid; create of an existing id: 409 connector_conflict;
//     others on an unknown id: 404 connector_not_found. GET returns the stored
//     object with "id" added by the server.
//
// # Observing and steering
//
// Every request is recorded (method, path, route, status, time), and every
// accepted SMS. Go code reads Requests, SMS and SIMs directly; over HTTP,
// with the same API key: GET /_simulator/requests, /_simulator/sms,
// /_simulator/sims, /_simulator/faults; POST /_simulator/faults (a Faults
// object) and POST /_simulator/reset.
//
// # Faults
//
// See Faults: added latency, the next N answers with a 5xx, a random rate of
// 5xx, the next N answers 429 with Retry-After, a hosted-like rate limit with
// x-ratelimit-limit/-remaining/-reset headers (reset in seconds from now),
// and "apply the next N writes but drop their responses".
package simulator
