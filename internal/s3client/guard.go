package s3client

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/smithy-go"
)

// Key material must never leave the endpoint it is meant for. The HTTP
// client of every S3 client therefore follows no redirect (Go would carry
// the SSE-C headers to any host a redirect names, dropping only
// Authorization), and refuses to send a request carrying a customer key
// over anything but https. Both refusals are errors the SDK does not
// retry, classified as permanent for the version.

// refusal is a request s3backfill would not send. It is an API error
// (its code names what was refused) that the SDK's retryer does not retry.
type refusal struct {
	code, msg string
}

func (e refusal) Error() string                 { return e.msg }
func (e refusal) ErrorCode() string             { return e.code }
func (e refusal) ErrorMessage() string          { return e.msg }
func (e refusal) ErrorFault() smithy.ErrorFault { return smithy.FaultClient }
func (e refusal) RetryableError() bool          { return false }

var _ smithy.APIError = refusal{}

// refuseRedirect is the CheckRedirect of every client: a redirect is an
// error that names the status and the host it points to, never a request.
func refuseRedirect(r *http.Request, via []*http.Request) error {
	status := 0
	if r.Response != nil {
		status = r.Response.StatusCode
	}
	return refusal{code: "RedirectRefused", msg: fmt.Sprintf(
		"the endpoint answered %d, a redirect to host %s: s3backfill follows no redirect "+
			"(keys and credentials go only to the endpoint given; give the endpoint the redirect names, if you trust it)",
		status, r.URL.Host)}
}

// keyGuard is the transport's last word: a request that carries a
// customer key goes out over https or not at all.
type keyGuard struct{ next http.RoundTripper }

func (g keyGuard) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Scheme != "https" {
		for name := range r.Header {
			if strings.HasSuffix(strings.ToLower(name), "-customer-key") {
				return nil, refusal{code: "InsecureKeyTransport", msg: fmt.Sprintf(
					"refused to send an SSE-C key to %s over %s: keys go over https only", r.URL.Host, r.URL.Scheme)}
			}
		}
	}
	return g.next.RoundTrip(r)
}

// checkEndpoint vets an endpoint as the SDK resolved it (from the flags,
// AWS_ENDPOINT_URL[_S3] or a profile's endpoint_url): no credentials in
// it, and https when SSE-C keys are loaded. from says where it came from.
func checkEndpoint(role, endpoint, from string, ssec bool) error {
	if endpoint == "" {
		return nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return fmt.Errorf("the %s endpoint (%s) is not a URL", role, from)
	}
	if u.User != nil {
		return fmt.Errorf("the %s endpoint %s (%s) holds user info: credentials belong in the credential chain "+
			"(AWS_ACCESS_KEY_ID, a profile), never in a URL", role, u.Redacted(), from)
	}
	if ssec && u.Scheme != "https" {
		return fmt.Errorf("the %s endpoint %s (%s) is %s: SSE-C keys are sent over https only; use an https endpoint",
			role, u.Redacted(), from, u.Scheme)
	}
	return nil
}
