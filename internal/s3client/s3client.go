package s3client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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
	Traffic      *Traffic
}

// Options say how to reach the source and the destination.
type Options struct {
	SourceEndpoint, DestEndpoint string  // "" = AWS's
	CABundle                     string  // PEM file; "" = AWS_CA_BUNDLE or the system's
	Region                       string  // "" = AWS_REGION or the profile's
	Profile, DestProfile         string  // "" = the default chain
	MaxInFlight                  int     // requests in flight at most, over both clients
	MaxRequestsPerSecond         float64 // 0 = no cap
	// SSEC: SSE-C keys are loaded, so every endpoint must be https.
	SSEC bool
}

// The SDK's retryer, configured once here: the only retry loop in the
// program. Beyond it, a version is recorded failed and the next run tries
// it again.
const (
	// retryMaxAttempts: throttling, 5xx and connection errors are tried
	// this many times in all, with jittered exponential backoff...
	retryMaxAttempts = 10
	// retryMaxBackoff: ...each wait at most this long: together about two
	// minutes, enough for a burst of SlowDown to pass, not so long that a
	// dead endpoint stalls a worker for long.
	retryMaxBackoff = 20 * time.Second
)

// newRetryer is adaptive mode: on throttling answers (503 SlowDown, which
// is also how S3 reports KMS throttling, and 429) it also lowers the
// client's own request rate for a while. The retry quota of standard mode
// is off: it would turn a throttling storm into failed versions, where
// slowing down is what S3 asks for.
func newRetryer() aws.Retryer {
	return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
		o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
			so.MaxAttempts = retryMaxAttempts
			so.MaxBackoff = retryMaxBackoff
			so.RateLimiter = ratelimit.None
		})
	})
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
		config.WithRetryer(newRetryer),
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
