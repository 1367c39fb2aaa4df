// Package labenv gives tests the local S3 lab that scripts/lab starts
// (MinIO over TLS with a KES key server): its endpoints, credentials, CA
// and KMS key names, and S3 clients for them.
//
// A test that needs the lab calls Get; when the lab is not running the test
// fails with what to do, it is never skipped: a missing server must not
// pass silently.
package labenv

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// Lab is a running lab.
type Lab struct {
	Endpoint  string   // first MinIO
	Endpoint2 string   // second MinIO, same KES
	KMSKeys   []string // KMS key ids; the first is the servers' default key
	CAFile    string
	Dir       string // the lab's state directory
	// MC is MinIO's own client, built by the lab: the independent client
	// tests count what the servers hold with.
	MC string
	// Postgres is the URL of the lab's PostgreSQL database; Postgres2 of
	// the second cluster, which outage tests stop (scripts/lab down
	// postgres2) and no other test uses.
	Postgres, Postgres2 string
	// Env is the environment a client process needs (credentials,
	// region, CA bundle), as KEY=VALUE.
	Env []string
	// RGW is the lab's Ceph RADOS Gateway: its endpoint, and the KMS key
	// ids of its testing backend. RGWEnv is Env with RGW's credentials.
	RGW        string
	RGWKMSKeys []string
	RGWEnv     []string

	vars map[string]string
}

// Get reads the lab's env file: $S3BACKFILL_LAB_ENV, else .lab/env at the
// repository root. It fails the test when the lab is not running.
func Get(t testing.TB) *Lab {
	t.Helper()
	lab, err := Load()
	if err != nil {
		t.Fatalf("the S3 lab is needed: %v\n(start it with scripts/lab start, or run the whole suite with scripts/test)", err)
	}
	return lab
}

// Load reads the env file without a test.
func Load() (*Lab, error) {
	path := os.Getenv("S3BACKFILL_LAB_ENV")
	if path == "" {
		root, err := repoRoot()
		if err != nil {
			return nil, err
		}
		path = filepath.Join(root, ".lab", "env")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("lab env file: %w", err)
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if ok && k != "" && !strings.HasPrefix(k, "#") {
			vars[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	lab := &Lab{
		Endpoint:  vars["S3BACKFILL_LAB_ENDPOINT"],
		Endpoint2: vars["S3BACKFILL_LAB_ENDPOINT2"],
		KMSKeys:   strings.Split(vars["S3BACKFILL_LAB_KMS_KEYS"], ","),
		CAFile:    vars["AWS_CA_BUNDLE"],
		Dir:       vars["S3BACKFILL_LAB_DIR"],
		MC:        vars["S3BACKFILL_LAB_MC"],
		Postgres:  vars["S3BACKFILL_LAB_PG"],
		Postgres2: vars["S3BACKFILL_LAB_PG2"],
		vars:      vars,
	}
	if lab.Endpoint == "" || vars["AWS_ACCESS_KEY_ID"] == "" {
		return nil, fmt.Errorf("%s lacks the endpoint or credentials", path)
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_CA_BUNDLE"} {
		lab.Env = append(lab.Env, k+"="+vars[k])
	}
	// Nothing from the developer's own AWS setup leaks into tests.
	lab.Env = append(lab.Env, "AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
		"AWS_EC2_METADATA_DISABLED=true")
	lab.RGW = vars["S3BACKFILL_LAB_RGW_ENDPOINT"]
	lab.RGWKMSKeys = strings.Split(vars["S3BACKFILL_LAB_RGW_KMS_KEYS"], ",")
	if lab.RGW == "" {
		return nil, fmt.Errorf("%s names no Ceph RGW (a lab started before it had one: scripts/lab stop, then start)", path)
	}
	lab.RGWEnv = append(slices.Clone(lab.Env), "AWS_ACCESS_KEY_ID="+vars["S3BACKFILL_LAB_RGW_ACCESS_KEY"],
		"AWS_SECRET_ACCESS_KEY="+vars["S3BACKFILL_LAB_RGW_SECRET_KEY"])
	// Fail fast and clearly if a server is gone or stuck (a memstore OSD
	// that is full leaves RGW hanging, not refusing).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := lab.client(lab.Endpoint)
	if _, err := c.ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil {
		return nil, fmt.Errorf("lab at %s does not answer (scripts/lab stop, then start): %w", lab.Endpoint, err)
	}
	if _, err := lab.RGWClient().ListBuckets(ctx, &s3.ListBucketsInput{}); err != nil {
		return nil, fmt.Errorf("the lab's Ceph RGW at %s does not answer (scripts/lab stop, then start): %w", lab.RGW, err)
	}
	return lab, nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory")
		}
		dir = parent
	}
}

// PostgresURL is the lab's PostgreSQL URL; the test fails when the lab
// runs none.
func (l *Lab) PostgresURL(t testing.TB) string {
	t.Helper()
	if l.Postgres == "" {
		t.Fatal("the lab runs no PostgreSQL (S3BACKFILL_LAB_PG is missing from its env file): restart it with scripts/lab stop && scripts/lab start")
	}
	return l.Postgres
}

// Postgres2URL is the URL of the lab's second PostgreSQL, for outages.
func (l *Lab) Postgres2URL(t testing.TB) string {
	t.Helper()
	if l.Postgres2 == "" {
		t.Fatal("the lab runs no second PostgreSQL (S3BACKFILL_LAB_PG2 is missing from its env file): restart it with scripts/lab stop && scripts/lab start")
	}
	return l.Postgres2
}

// Client is an S3 client for the first server.
func (l *Lab) Client() *s3.Client { return l.client(l.Endpoint) }

// RGWClient is an S3 client for the Ceph RGW, with its credentials and
// without the request checksums RGW (Pacific) refuses.
func (l *Lab) RGWClient() *s3.Client {
	return l.clientAs(l.RGW, l.vars["S3BACKFILL_LAB_RGW_ACCESS_KEY"], l.vars["S3BACKFILL_LAB_RGW_SECRET_KEY"],
		func(o *s3.Options) { o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired })
}

// Client2 is an S3 client for the second server.
func (l *Lab) Client2() *s3.Client { return l.client(l.Endpoint2) }

func (l *Lab) client(endpoint string) *s3.Client {
	return l.clientAs(endpoint, l.vars["AWS_ACCESS_KEY_ID"], l.vars["AWS_SECRET_ACCESS_KEY"])
}

func (l *Lab) clientAs(endpoint, key, secret string, opts ...func(*s3.Options)) *s3.Client {
	pem, err := os.ReadFile(l.CAFile)
	if err != nil {
		panic(fmt.Sprintf("lab CA: %v", err))
	}
	cfg, err := config.LoadDefaultConfig(context.Background(),
		config.WithRegion(l.vars["AWS_REGION"]),
		config.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: key, SecretAccessKey: secret}, nil
		})),
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConnsPerHost = 64
		})),
		config.WithCustomCABundle(strings.NewReader(string(pem))),
		config.WithSharedConfigFiles([]string{}),
		config.WithSharedCredentialsFiles([]string{}),
	)
	if err != nil {
		panic(fmt.Sprintf("lab client: %v", err))
	}
	return s3.NewFromConfig(cfg, append([]func(*s3.Options){func(o *s3.Options) {
		o.BaseEndpoint = aws.String(endpoint)
		o.UsePathStyle = true
		o.DisableLogOutputChecksumValidationSkipped = true
	}}, opts...)...)
}

// Bucket creates a bucket with a unique name starting with prefix, with
// versioning on unless unversioned, and removes it (every version) when the
// test ends.
func (l *Lab) Bucket(t testing.TB, c *s3.Client, prefix string, versioned bool) string {
	t.Helper()
	name, err := NewBucket(context.Background(), c, prefix, versioned)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { Empty(c, name) })
	return name
}

// NewBucket creates a bucket with a unique name starting with prefix.
func NewBucket(ctx context.Context, c *s3.Client, prefix string, versioned bool) (string, error) {
	name := fmt.Sprintf("%s-%s", prefix, randomHex(4))
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		return "", fmt.Errorf("create bucket %s: %w", name, err)
	}
	if versioned {
		if err := EnableVersioning(ctx, c, name); err != nil {
			return "", err
		}
	}
	return name, nil
}

// EnableVersioning turns versioning on.
func (l *Lab) EnableVersioning(t testing.TB, c *s3.Client, bucket string) {
	t.Helper()
	if err := EnableVersioning(context.Background(), c, bucket); err != nil {
		t.Fatal(err)
	}
}

// EnableVersioning turns versioning on.
func EnableVersioning(ctx context.Context, c *s3.Client, bucket string) error {
	_, err := c.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
		Bucket:                  aws.String(bucket),
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled},
	})
	if err != nil {
		return fmt.Errorf("versioning on %s: %w", bucket, err)
	}
	return nil
}

// Empty deletes every version of every object and the bucket, best effort.
func Empty(c *s3.Client, bucket string) {
	ctx := context.Background()
	p := s3.NewListObjectVersionsPaginator(c, &s3.ListObjectVersionsInput{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return
		}
		var ids []types.ObjectIdentifier
		for _, v := range page.Versions {
			ids = append(ids, types.ObjectIdentifier{Key: v.Key, VersionId: v.VersionId})
		}
		for _, m := range page.DeleteMarkers {
			ids = append(ids, types.ObjectIdentifier{Key: m.Key, VersionId: m.VersionId})
		}
		for len(ids) > 0 {
			n := min(len(ids), 1000)
			_, _ = c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: aws.String(bucket),
				Delete: &types.Delete{Objects: ids[:n], Quiet: aws.Bool(true)}})
			ids = ids[n:]
		}
	}
	_, _ = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String(bucket)})
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Secret is the lab's secret access key.
func (l *Lab) Secret() string { return l.vars["AWS_SECRET_ACCESS_KEY"] }

// AccessKey is the lab's access key id.
func (l *Lab) AccessKey() string { return l.vars["AWS_ACCESS_KEY_ID"] }

// RGWCredentials are the access key id and secret of the lab's RGW user.
func (l *Lab) RGWCredentials() (key, secret string) {
	return l.vars["S3BACKFILL_LAB_RGW_ACCESS_KEY"], l.vars["S3BACKFILL_LAB_RGW_SECRET_KEY"]
}

// Server is one of the lab's S3 servers that the core scenarios run
// against, with what it lacks.
type Server struct {
	Name     string
	Endpoint string
	KMSKeys  []string // its KMS key ids; the first is its default key
	Env      []string // over Lab.Env: the environment a client process needs for it
	// AppliesSSES3: it stores objects written with SSE-S3 encrypted (RGW
	// before Reef accepts the header and stores them unencrypted).
	AppliesSSES3 bool
	// CopiesEncrypted: it copies SSE-C and SSE-KMS sources server-side
	// (RGW Pacific answers 501 NotImplemented to CopyObject of such a
	// source).
	CopiesEncrypted bool
	// KMSName is how it names KMS key id in answers.
	KMSName func(id string) string
	client  func() *s3.Client
}

// Client is an S3 client for the server.
func (s Server) Client() *s3.Client { return s.client() }

// Servers are the lab's servers the core scenarios run against: MinIO
// (with KES) and Ceph RGW.
func (l *Lab) Servers() []Server {
	return []Server{
		{Name: "MinIO", Endpoint: l.Endpoint, KMSKeys: l.KMSKeys, AppliesSSES3: true, CopiesEncrypted: true,
			KMSName: func(id string) string { return "arn:aws:kms:" + id }, client: l.Client},
		{Name: "RGW", Endpoint: l.RGW, KMSKeys: l.RGWKMSKeys, Env: l.RGWEnv,
			KMSName: func(id string) string { return id }, client: l.RGWClient},
	}
}
