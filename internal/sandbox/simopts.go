package sandbox

import (
	"github.com/sim-operator/sim-operator/internal/simulator"
)

type testutilRequest = simulator.Request

// simulatorOptions: the default inventory accepts every IMSI in
// config/samples and rejects the documented test ranges (999…, 000…).
func simulatorOptions() simulator.Options { return simulator.Options{APIKey: APIKey} }
