// Command labtool does the two things the lab script needs beyond bash,
// so that the lab needs nothing on the machine but Go (no openssl, no curl):
//
//	labtool certs DIR          write a throwaway CA and a loopback server certificate
//	labtool wait CA URL [SECS] wait until URL answers (status < 500) over TLS
//	                           trusting CA; with SECS, give up after that long
package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	var err error
	switch {
	case len(os.Args) == 3 && os.Args[1] == "certs":
		err = writeCerts(os.Args[2])
	case (len(os.Args) == 4 || len(os.Args) == 5) && os.Args[1] == "wait":
		limit := 30 * time.Second
		if len(os.Args) == 5 {
			secs, perr := strconv.Atoi(os.Args[4])
			if perr != nil {
				err = fmt.Errorf("SECS: %w", perr)
				break
			}
			limit = time.Duration(secs) * time.Second
		}
		err = wait(os.Args[2], os.Args[3], limit)
	default:
		fmt.Fprintln(os.Stderr, "usage: labtool certs DIR | labtool wait CA URL [SECS]")
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "labtool:", err)
		os.Exit(1)
	}
}

// wait polls url until it answers with a status below 500: MinIO's
// readiness URL says 503 until ready, and KES answers 4xx to a request
// without its API key once it is up.
func wait(caFile, url string, limit time.Duration) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s: no certificate", caFile)
	}
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
	}
	deadline := time.Now().Add(limit)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %s: %v", url, limit, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
