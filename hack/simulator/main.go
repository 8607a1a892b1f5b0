// Command simulator serves the in-memory Onomondo API (internal/simulator)
// over HTTPS with a self-signed certificate it makes at start.
//
//	go run ./hack/simulator --listen 127.0.0.1:8443 --api-key KEY --ca-file /tmp/sim-ca.pem
//	curl --cacert /tmp/sim-ca.pem -H 'Authorization: KEY' https://127.0.0.1:8443/sim/238731234567890
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/sim-operator/sim-operator/internal/simulator"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8443", "address to serve on")
	apiKey := flag.String("api-key", os.Getenv("ONOMONDO_API_KEY"), "the API key clients must send (default $ONOMONDO_API_KEY)")
	caFile := flag.String("ca-file", "", "write the generated CA certificate (PEM) to this file")
	plain := flag.Bool("plain-http", false, "serve plain HTTP (debugging only)")
	forbidden := flag.String("forbidden-prefixes", "999", "comma-separated IMSI prefixes answering 403 imsi_forbidden")
	unknown := flag.String("unknown-prefixes", "000", "comma-separated IMSI prefixes outside the inventory (404 imsi_not_found)")
	flag.Parse()
	if *apiKey == "" {
		log.Fatal("simulator: --api-key (or ONOMONDO_API_KEY) is required")
	}
	sim := simulator.New(simulator.Options{
		APIKey:            *apiKey,
		ForbiddenPrefixes: splitList(*forbidden),
		UnknownPrefixes:   splitList(*unknown),
	})
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("simulator: %v", err)
	}
	srv := &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	scheme := "http"
	if !*plain {
		cfg, caPEM, err := simulator.SelfSignedTLS()
		if err != nil {
			log.Fatalf("simulator: %v", err)
		}
		if *caFile != "" {
			if err := os.WriteFile(*caFile, caPEM, 0o644); err != nil {
				log.Fatalf("simulator: %v", err)
			}
		}
		srv.TLSConfig = cfg
		scheme = "https"
	}
	fmt.Printf("simulator: serving the Onomondo API on %s://%s\n", scheme, ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
	}()
	if *plain {
		err = srv.Serve(ln)
	} else {
		err = srv.ServeTLS(ln, "", "")
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("simulator: %v", err)
	}
}

func splitList(s string) []string {
	out := []string{}
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
