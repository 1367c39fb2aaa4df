package job_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// echoReply is an S3 error whose message echoes the SSE-C headers of the
// request, as a buggy or hostile server might.
func echoReply(status int, code string, keys ...s3fake.Key) *s3fake.Reply {
	var echo []string
	for _, k := range keys {
		echo = append(echo, fmt.Sprintf("key=%s key-md5=%s", k.B64, k.MD5))
	}
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>bad headers: %s</Message><RequestId>s3fake</RequestId></Error>`,
		code, html.EscapeString(strings.Join(echo, "; ")))
	return &s3fake.Reply{Status: status, Header: s3fake.Hdr("Content-Type", "application/xml"), Body: []byte(body)}
}

// leaks fails the test when text holds any form of the keys' material.
func leaks(t *testing.T, what, text string, keys ...s3fake.Key) {
	t.Helper()
	for _, k := range keys {
		for _, s := range k.Secrets() {
			if strings.Contains(text, s) {
				t.Errorf("%s holds %s's material %q:\n%s", what, k.ID, s, text)
			}
		}
	}
}

// TestEchoedKeysAreScrubbed: when the destination echoes the SSE-C keys of
// a copy in its error, the outcome the checkpoint stores, the report and
// the debug log name the keys by id only; so does an error a phase
// returns.
func TestEchoedKeysAreScrubbed(t *testing.T) {
	f := newFake(t)
	put(f, "data/s.txt", "s1", []byte("sierra"), keyA.Header())
	put(f, "data/p.txt", "p1", []byte("plain"), nil)
	spec := testSpec(f, "data", "backup")
	spec.Report = filepath.Join(t.TempDir(), "report.csv")
	e := openEnv(t, f, spec, options{keys: testRing(t)})
	f.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if r.Op == "CopyObject" && r.Header.Get(hSSEC+"key") != "" {
			return echoReply(http.StatusBadRequest, "InvalidArgument", keyA, keyR)
		}
		return nil
	})
	e.run(t)
	if err := e.job.WriteReport(context.Background()); err != nil {
		t.Fatal(err)
	}

	r := e.row(t, "data/s.txt", "s1")
	if r.Status != planner.StatusFailed || !strings.Contains(r.Message, "bad headers") ||
		!strings.Contains(r.Message, "[key key-a]") || !strings.Contains(r.Message, "[key key-r]") {
		t.Errorf("stored outcome %s %q: want failed, the server's message kept with the keys named by id", r.Status, r.Message)
	}
	leaks(t, "the stored outcome", r.Message, keyA, keyR)
	report, err := os.ReadFile(spec.Report)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(report), "[key key-a]") {
		t.Errorf("the report lost the failure's message:\n%s", report)
	}
	leaks(t, "the report", string(report), keyA, keyR)
	logs := e.logs.String()
	if !strings.Contains(logs, "bad headers") {
		t.Errorf("the debug log does not show the failure:\n%s", logs)
	}
	leaks(t, "the log", logs, keyA, keyR)
	if p := e.row(t, "data/p.txt", "p1"); p.Status != planner.StatusSucceeded {
		t.Errorf("the plaintext version %s, want succeeded", p.Status)
	}

	// An error that stops a phase is scrubbed too.
	f.SetHook(func(r s3fake.Request) *s3fake.Reply {
		if r.Op == "ListObjectVersions" {
			return echoReply(http.StatusForbidden, "AccessDenied", keyB)
		}
		return nil
	})
	_, err = e.job.Scan(context.Background())
	if err == nil || !strings.Contains(err.Error(), "[key key-b]") {
		t.Fatalf("Scan = %v, want the listing's error with key-b named by id", err)
	}
	leaks(t, "the scan's error", err.Error(), keyB)
}

// notices records what the job told the user.
type notices struct {
	mu   sync.Mutex
	msgs []string
	// copiesBefore is how many CopyObject the fake had seen at each notice.
	copiesBefore []int
	f            *s3fake.Server
}

func (n *notices) add(msg string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.msgs = append(n.msgs, msg)
	n.copiesBefore = append(n.copiesBefore, len(n.f.Ops("CopyObject")))
}

// TestServerCopyAcrossEndpointsWarns: --copy-mode server between two
// endpoints hands the SSE-C source keys to the destination's host; the
// user hears so, naming that host, before the first copy. Not without
// SSE-C versions, between the same endpoint, nor when copies are streamed.
func TestServerCopyAcrossEndpointsWarns(t *testing.T) {
	const otherHost = "s3.other.example:9443"
	for _, tc := range []struct {
		name         string
		ssec         bool
		copyMode     string
		dstEndpoint  string // of the Deps; "" = the fake's
		specEndpoint string // DestEndpointURL of the spec; "" = none
		ssecParts    bool   // an SSE-C version copied in parts too
		warn         bool
	}{
		{name: "server copy, two endpoints, SSE-C", ssec: true, copyMode: "server", dstEndpoint: "https://" + otherHost, warn: true},
		{name: "server copy, two endpoints, SSE-C in one copy and in parts", ssec: true, ssecParts: true, copyMode: "server",
			dstEndpoint: "https://" + otherHost, warn: true},
		{name: "server copy, two endpoints, no SSE-C", copyMode: "server", dstEndpoint: "https://" + otherHost},
		{name: "server copy, one endpoint, SSE-C", ssec: true, copyMode: "server"},
		{name: "streamed, two endpoints, SSE-C", ssec: true, dstEndpoint: "https://" + otherHost, specEndpoint: "https://" + otherHost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(t)
			put(f, "data/p.txt", "p1", []byte("plain"), nil)
			if tc.ssec {
				put(f, "data/s.txt", "s1", []byte("sierra"), keyA.Header())
			}
			wantN := 1
			if tc.ssecParts {
				f.Put(srcBucket, "data/big.bin", s3fake.Object{VersionID: "b1", Size: 9 * mib, Header: keyB.Header()})
				wantN = 2
			}
			spec := testSpec(f, "data", "backup")
			spec.CopyMode = tc.copyMode
			if tc.specEndpoint != "" {
				spec.EndpointURL = ""
				spec.SourceEndpointURL, spec.DestEndpointURL = f.URL(), tc.specEndpoint
			}
			heard := &notices{f: f}
			e := openEnv(t, f, spec, options{keys: testRing(t), dstEndpoint: tc.dstEndpoint, notice: heard.add})
			e.run(t)
			for _, r := range e.rows(t) {
				if r.Status != planner.StatusSucceeded {
					t.Errorf("%s: %s %s", r.Key, r.Status, r.Message)
				}
			}
			if !tc.warn {
				if len(heard.msgs) != 0 {
					t.Errorf("notices %q, want none", heard.msgs)
				}
				if tc.specEndpoint != "" && len(f.Ops("CopyObject")) != 0 {
					t.Errorf("streamed job sent %d CopyObject", len(f.Ops("CopyObject")))
				}
				return
			}
			if len(heard.msgs) != 1 {
				t.Fatalf("notices %q, want one warning", heard.msgs)
			}
			msg := heard.msgs[0]
			if n := fmt.Sprintf("of %d source version(s)", wantN); !strings.Contains(msg, otherHost) || !strings.Contains(msg, "SSE-C") ||
				!strings.Contains(msg, n) {
				t.Errorf("warning %q: want it to name the destination's host %s and the %d SSE-C version(s)", msg, otherHost, wantN)
			}
			if heard.copiesBefore[0] != 0 || len(f.Ops("CopyObject")) == 0 {
				t.Errorf("warning came after %d CopyObject (of %d), want before the first", heard.copiesBefore[0], len(f.Ops("CopyObject")))
			}
			leaks(t, "the warning", msg, keyA, keyB, keyR)
		})
	}
}

// TestKeyFileFromSettings: without a ring in the Deps, the job reads the
// key file its settings name; one other users can read is reported (to the
// log when no Notice is given), and its keys open SSE-C versions.
func TestKeyFileFromSettings(t *testing.T) {
	f := newFake(t)
	put(f, "data/s.txt", "s1", []byte("sierra"), keyB.Header())
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`{"keys": [{"id": %q, "key": %q}]}`, keyB.ID, keyB.B64)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // whatever the umask
		t.Fatal(err)
	}
	spec := testSpec(f, "data", "backup")
	spec.KeysFile = path
	e := openEnv(t, f, spec, options{})
	if logs := e.logs.String(); !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "chmod 600") {
		t.Errorf("log %q: want a warning that the key file can be read by others", logs)
	}
	e.run(t)
	r := e.row(t, "data/s.txt", "s1")
	if r.Status != planner.StatusSucceeded || r.SSECKeyID != keyB.ID {
		t.Errorf("s.txt: %s with key %q (%s); want succeeded with key-b from the key file", r.Status, r.SSECKeyID, r.Message)
	}
	leaks(t, "the log", e.logs.String(), keyB)
}
