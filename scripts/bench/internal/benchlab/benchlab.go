// Package benchlab gives the benchmark programs S3 clients for the local
// lab (scripts/lab), sized for many requests in flight, and the fixed
// benchmark SSE-C keys.
//
// The keys are derived from their index, not random: the seeded buckets
// and the key file must agree across separate invocations, and a
// benchmark key protects nothing.
package benchlab

import (
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/internal/labenv"
)

// Lab is the running lab and its endpoints.
type Lab struct {
	*labenv.Lab
	env map[string]string
}

// Load reads the lab's env file ($S3BACKFILL_LAB_ENV, else <repo>/.lab/env).
func Load() (*Lab, error) {
	l, err := labenv.Load()
	if err != nil {
		return nil, fmt.Errorf("%w (start the lab: scripts/lab start)", err)
	}
	env := map[string]string{}
	for _, kv := range l.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	return &Lab{Lab: l, env: env}, nil
}

// EndpointOf is the URL of server 1 or 2 (MinIO), or 3 (Ceph RGW).
func (l *Lab) EndpointOf(server int) string {
	switch server {
	case 2:
		return l.Endpoint2
	case 3:
		return l.RGW
	}
	return l.Endpoint
}

// credentials are the access key and secret of a server.
func (l *Lab) credentials(server int) (string, string) {
	if server == 3 {
		for _, kv := range l.RGWEnv {
			k, v, _ := strings.Cut(kv, "=")
			l.env["rgw:"+k] = v
		}
		return l.env["rgw:AWS_ACCESS_KEY_ID"], l.env["rgw:AWS_SECRET_ACCESS_KEY"]
	}
	return l.env["AWS_ACCESS_KEY_ID"], l.env["AWS_SECRET_ACCESS_KEY"]
}

// Client is an S3 client of one server that keeps conns connections
// alive, so that that many requests in flight never reopen TLS.
func (l *Lab) Client(server, conns int) (*s3.Client, error) {
	pem, err := os.ReadFile(l.CAFile)
	if err != nil {
		return nil, fmt.Errorf("lab CA: %w", err)
	}
	key, secret := l.credentials(server)
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(l.env["AWS_REGION"]),
		config.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, nil
		})),
		// As s3backfill's clients: checksums only where required (RGW
		// refuses the SDK's default trailing ones).
		config.WithRequestChecksumCalculation(aws.RequestChecksumCalculationWhenRequired),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = conns
			t.MaxIdleConnsPerHost = conns
		})),
		// The SDK's standard retryer, as s3backfill configures it: a
		// loaded 2-core lab answers SlowDown now and then.
		config.WithRetryer(func() aws.Retryer {
			return retry.NewStandard(func(o *retry.StandardOptions) {
				o.MaxAttempts = 6
				o.MaxBackoff = 20 * time.Second
			})
		}),
		config.WithCustomCABundle(strings.NewReader(string(pem))),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	)
	if err != nil {
		return nil, fmt.Errorf("lab client: %w", err)
	}
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		o.BaseEndpoint = aws.String(l.EndpointOf(server))
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true
	}), nil
}

// Key is one SSE-C customer key.
type Key struct {
	ID  string
	Raw []byte
}

// BenchKey is the benchmark key number i: sha256 of a fixed label.
func BenchKey(i int) Key {
	sum := sha256.Sum256([]byte(fmt.Sprintf("s3backfill-bench-key-%d", i)))
	return Key{ID: fmt.Sprintf("bench-%d", i), Raw: sum[:]}
}

// Base64 is the key as S3's headers carry it.
func (k Key) Base64() string { return base64.StdEncoding.EncodeToString(k.Raw) }

// MD5 is the base64 MD5 of the key, as S3's headers carry it.
func (k Key) MD5() string {
	sum := md5.Sum(k.Raw)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// KeyFile is s3backfill's key file format (README, "The key file").
type KeyFile struct {
	Keys []KeyEntry `json:"keys"`
}

// KeyEntry is one key of a key file.
type KeyEntry struct {
	ID       string   `json:"id"`
	Key      string   `json:"key"`
	Prefixes []string `json:"prefixes,omitempty"`
}

// ReadKeyFile reads the keys of an s3backfill key file, in file order.
func ReadKeyFile(path string) ([]Key, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var kf KeyFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	var keys []Key
	for _, e := range kf.Keys {
		raw, err := base64.StdEncoding.DecodeString(e.Key)
		if err != nil || len(raw) != 32 {
			return nil, fmt.Errorf("key file %s: key %q is not base64 of 32 bytes", path, e.ID)
		}
		keys = append(keys, Key{ID: e.ID, Raw: raw})
	}
	return keys, nil
}
