/*
Copyright 2026.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Command manager runs sim-operator: it makes SIM and SMSMessage resources
// real through the Onomondo API.
package main

import (
	"fmt"
	"os"

	// CA roots compiled in, used when the system has none: the release image
	// is scratch, with nothing but this binary.
	_ "golang.org/x/crypto/x509roots/fallback"
	// Client auth plugins (Azure, GCP, OIDC, …) for out-of-cluster use.
	_ "k8s.io/client-go/plugin/pkg/client/auth"

	"github.com/sim-operator/sim-operator/internal/app"
)

func main() {
	if err := app.Main(); err != nil {
		fmt.Fprintln(os.Stderr, "sim-operator:", err)
		os.Exit(1)
	}
}
