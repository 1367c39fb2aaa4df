package s3client

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Clients are the S3 clients of a job: Source reads the source; Dest
// writes the destination and, for server-side copies, reads the source too.
type Clients struct {
	Source, Dest *s3.Client
	// Manifest reads --manifest from S3: the source's client, or one with
	// Options.ManifestProfile's credentials at the source's endpoint.
	Manifest *s3.Client
	// Report uploads an s3:// --report: the destination's client, or one
	// with Options.ReportProfile's credentials at its endpoint.
	Report  *s3.Client
	Traffic *Traffic
}

// Options say how to reach the source and the destination.
type Options struct {
	SourceEndpoint, DestEndpoint string  // "" = AWS's
	CABundle                     string  // PEM file; "" = AWS_CA_BUNDLE or the system's
	Region                       string  // "" = AWS_REGION or the profile's
	Profile, DestProfile         string  // "" = the default chain
	ManifestProfile              string  // "" = the source's credentials
	ReportProfile                string  // "" = the destination's credentials
	MaxInFlight                  int     // requests in flight at most, over both clients
	MaxRequestsPerSecond         float64 // 0 = no cap
	// SSEC: SSE-C keys are loaded, so every endpoint must be https.
	SSEC bool
	// RetryFor is how long failing requests are retried at least (0:
	// DefaultRetryFor).
	RetryFor time.Duration
}

// The SDK's retryer, configured once here: the one retry policy of the
// program (writes that make a replica are re-sent only when the server
// cannot have acted on them; see package executor). Throttling, 5xx and
// connection errors back off exponentially from retryBase, doubling up to
// retryMaxBackoff, with jitter in the upper half of each wait, for at least
// Options.RetryFor in all: long enough to ride out a server restart or a
// burst of SlowDown. Beyond it, a version is recorded failed and the next
// run tries it again.
const (
	retryBase = time.Second
	// retryMaxBackoff: no single wait is longer, so that a server back up
	// is used within seconds.
	retryMaxBackoff = 20 * time.Second
	// DefaultRetryFor is how long failing requests are retried by
	// default: about two minutes.
	DefaultRetryFor = 2 * time.Minute
)

// backoff is retryBase × 2^(attempt-1), at most retryMaxBackoff, of which
// the wait is a random point in the upper half (so the sum of the waits is
// bounded below, and clients that failed together do not retry together).
type backoff struct{}

func (backoff) BackoffDelay(attempt int, _ error) (time.Duration, error) {
	c := ceiling(attempt)
	return c/2 + rand.N(c/2+1), nil
}

// ceiling is the longest wait before attempt+1.
func ceiling(attempt int) time.Duration {
	c := retryBase << min(max(attempt-1, 0), 16)
	return min(c, retryMaxBackoff)
}

// attemptsFor is the number of attempts whose waits add up to at least
// span, at the least (every wait at the bottom of its range).
func attemptsFor(span time.Duration) int {
	var sum time.Duration
	n := 1
	for sum < span {
		sum += ceiling(n) / 2
		n++
	}
	return max(n, 2)
}

// newRetryer is adaptive mode: on throttling answers (503 SlowDown, which
// is also how S3 reports KMS throttling, and 429) it also lowers the
// client's own request rate for a while. The retry quota of standard mode
// is off: it would turn a throttling storm or an outage into failed
// versions, where waiting is what helps.
func newRetryer(retryFor time.Duration) func() aws.Retryer {
	return func() aws.Retryer {
		return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
			o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
				so.MaxAttempts = attemptsFor(retryFor)
				so.MaxBackoff = retryMaxBackoff
				so.Backoff = backoff{}
				so.RateLimiter = ratelimit.None
			})
		})
	}
}

// New builds the clients.
func New(ctx context.Context, o Options) (Clients, error) {
	tr := newTraffic(o.MaxInFlight, o.MaxRequestsPerSecond)
	conns := o.MaxInFlight + 8 // an idle connection per request in flight, plus listings
	srcCfg, err := awsConfig(ctx, o.Profile, o, o.SourceEndpoint, conns)
	if err != nil {
		return Clients{}, fmt.Errorf("source credentials: %w", err)
	}
	destProfile := o.DestProfile
	if destProfile == "" {
		destProfile = o.Profile
	}
	dstCfg, err := awsConfig(ctx, destProfile, o, o.DestEndpoint, conns)
	if err != nil {
		return Clients{}, fmt.Errorf("destination credentials: %w", err)
	}
	srcCfg.APIOptions = append(srcCfg.APIOptions, tr.apiOption)
	dstCfg.APIOptions = append(dstCfg.APIOptions, tr.apiOption)
	c := Clients{
		Source:  newS3(srcCfg, o.SourceEndpoint),
		Dest:    newS3(dstCfg, o.DestEndpoint),
		Traffic: tr,
	}
	c.Manifest, c.Report = c.Source, c.Dest
	for _, extra := range []struct {
		profile, endpoint, what string
		client                  **s3.Client
	}{{o.ManifestProfile, o.SourceEndpoint, "manifest", &c.Manifest}, {o.ReportProfile, o.DestEndpoint, "report", &c.Report}} {
		if extra.profile == "" {
			continue
		}
		cfg, err := awsConfig(ctx, extra.profile, o, extra.endpoint, 4)
		if err != nil {
			return Clients{}, fmt.Errorf("%s credentials: %w", extra.what, err)
		}
		cfg.APIOptions = append(cfg.APIOptions, tr.apiOption)
		*extra.client = newS3(cfg, extra.endpoint)
	}
	for _, e := range []struct{ role, given, resolved string }{
		{"source", o.SourceEndpoint, aws.ToString(c.Source.Options().BaseEndpoint)},
		{"destination", o.DestEndpoint, aws.ToString(c.Dest.Options().BaseEndpoint)},
	} {
		from := "from the flags"
		if e.given == "" {
			from = "from AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3 or the profile's endpoint_url"
		}
		if err := checkEndpoint(e.role, e.resolved, from, o.SSEC); err != nil {
			return Clients{}, err
		}
	}
	return c, nil
}

// Endpoints are the endpoints the clients send to, as resolved from the
// flags, the environment and the profiles ("" = AWS's).
func (c Clients) Endpoints() (source, dest string) {
	return aws.ToString(c.Source.Options().BaseEndpoint), aws.ToString(c.Dest.Options().BaseEndpoint)
}

func awsConfig(ctx context.Context, profile string, o Options, endpoint string, conns int) (aws.Config, error) {
	httpClient := awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = conns
		t.MaxIdleConnsPerHost = conns // the default of 2 would reopen TLS connections all the time
	})
	opts := []func(*config.LoadOptions) error{
		config.WithHTTPClient(httpClient),
		config.WithRetryer(newRetryer(cmp.Or(o.RetryFor, DefaultRetryFor))),
		// Checksums only where the request needs one, or where the tool
		// asks for one itself: the SDK's default trailing checksums
		// (aws-chunked) are an optional protocol feature some servers
		// refuse (Ceph RGW before Reef: XAmzContentSHA256Mismatch).
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithResponseChecksumValidation(aws.ResponseChecksumValidationWhenRequired),
	}
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	if profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	if o.CABundle != "" {
		pem, err := os.ReadFile(o.CABundle)
		if err != nil {
			return aws.Config{}, fmt.Errorf("--ca-bundle: %w", err)
		}
		opts = append(opts, config.WithCustomCABundle(bytes.NewReader(pem)))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, err
	}
	// The transport as configured (CA bundle included), in a client that
	// follows no redirect and sends keys over https only.
	bc, ok := cfg.HTTPClient.(*awshttp.BuildableClient)
	if !ok {
		return aws.Config{}, fmt.Errorf("unexpected HTTP client %T", cfg.HTTPClient)
	}
	cfg.HTTPClient = &http.Client{Transport: keyGuard{bc.GetTransport()}, CheckRedirect: refuseRedirect}
	if cfg.Region == "" {
		if endpoint == "" {
			return aws.Config{}, errors.New("no AWS region: give --region or set AWS_REGION")
		}
		// S3-compatible servers mostly ignore the region but SigV4 needs one.
		cfg.Region = "us-east-1"
	}
	return cfg, nil
}

func newS3(cfg aws.Config, endpoint string) *s3.Client {
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.UsePathStyle = true // S3-compatible servers rarely have bucket DNS names
		}
		// Multipart objects have no whole-object checksum to validate a
		// GET against; the SDK would log that for every such object.
		o.DisableLogOutputChecksumValidationSkipped = true
	})
}
