// Package controller holds the operator's reconcilers: one engine for the
// managed kinds, the kinds themselves, and the SMSMessage and Account
// controllers.
//
// The engine (one reconcile: connect, facts, decide, carry out):
//   - managed.go: Reconcile and its flow; managed_controller.go wires it
//     into a manager (indexes, watches, priorities);
//   - internal/decision (a package of its own, pure): Facts and Decide,
//     the one place a choice is made, shared with kubectl sim diff
//     (preview.go exports the rest of what diff needs);
//   - observation.go: the Observation value every read and write returns,
//     the kinds' identity, and readObject, the one read of a reconcile and
//     of kubectl sim diff;
//   - duplicates.go and claims.go: who owns an object in the API, within
//     one manager's cache and across managers;
//   - conditions.go, retry.go, statuspatch.go, errors.go: status
//     conditions and kstatus, the retry policy, the one status write, the
//     classification of failures.
//
// The kinds supply only what differs: sim_controller.go and sim_current.go
// (both API editions, fleet.go for the current one's list), simsettings.go,
// connector_controller.go and connector_current.go,
// networklist_controller.go, webhook_controller.go.
//
// Around them: smsmessage_controller.go (at most one POST per message;
// records in internal/smsledger), account_controller.go and
// accountwatch.go (Accounts' status, and waking the resources an account
// decides; the registry itself is internal/accounts), apikey_poller.go (the
// default account's key), redact.go, shared.go (comparisons the
// observations are made of). The drift and retry schedule is internal/schedule, the gauges
// internal/metrics.
package controller
