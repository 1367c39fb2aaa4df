package inventory

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/s3backfill/s3backfill/internal/s3fake"
	"github.com/s3backfill/s3backfill/planner"
)

// replicationFake is a fake whose bucket src has the replication
// configuration config ("" = none).
func replicationFake(t *testing.T, config string) (*s3fake.Server, *s3.Client) {
	t.Helper()
	f := s3fake.New(t)
	var opts []s3fake.BucketOption
	if config != "" {
		opts = append(opts, s3fake.Replication(config))
	}
	f.CreateBucket("src", true, opts...)
	return f, f.Client("reader")
}

func readReplicationTestdata(t *testing.T, path ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(path...))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestReadReplicationConfigMatchesTheJSONParser reads configurations
// through the SDK and checks they come out as the planner parses the same
// configuration written as the CLI's JSON.
func TestReadReplicationConfigMatchesTheJSONParser(t *testing.T) {
	for _, name := range []string{"multi-destination-tags", "v1-two-prefixes"} {
		t.Run(name, func(t *testing.T) {
			f, c := replicationFake(t, readReplicationTestdata(t, "testdata", "replication", name+".xml"))
			got, err := ReadReplicationConfig(context.Background(), c, "src")
			if err != nil {
				t.Fatal(err)
			}
			want, err := planner.ParseReplicationConfig(strings.NewReader(
				readReplicationTestdata(t, "..", "planner", "testdata", "replication", name+".json")))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("from S3:\n %+v\nfrom JSON:\n %+v", got, want)
			}
			if rs := f.Requests(); len(rs) != 1 || rs[0].Op != "GetBucketReplication" || rs[0].Method != http.MethodGet ||
				rs[0].RawPath != "/src" || rs[0].RawQuery != "replication=" {
				t.Errorf("requests = %q, want one GET /src?replication=", s3fake.Describe(rs))
			}
		})
	}
}

// TestReadReplicationConfigSeeds reads the examples of S3's replication
// documentation as S3 would return them (XML).
func TestReadReplicationConfigSeeds(t *testing.T) {
	tests := []struct {
		file             string
		id               string
		v1               bool
		bucket, kmsKeyID string
	}{
		{"seed000-kms-v2.xml", "Rule-1", false, "amzn-s3-demo-destination-bucket",
			"AWS KMS key ARN or Key Alias ARN that's in the same AWS Region as the destination bucket."},
		{"seed001-kms-v2.xml", "Rule-1", false, "destination-bucket",
			"The AWS KMS key ID for the AWS Region of the destination buckets. (S3 uses this key to encrypt object replicas.)"},
		{"seed002-kms-v1.xml", "", true, "dest-bucket-name", "AWS KMS key ID to use for encrypting object replicas."},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			_, c := replicationFake(t, readReplicationTestdata(t, "testdata", "replication", tt.file))
			cfg, err := ReadReplicationConfig(context.Background(), c, "src")
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Rules) != 1 {
				t.Fatalf("%d rules, want 1", len(cfg.Rules))
			}
			r := cfg.Rules[0]
			want := planner.ReplicationRule{
				ID: tt.id, Priority: 1, HasPriority: !tt.v1, Enabled: true, V1: tt.v1, Prefix: "Tax",
				DeleteMarkers: tt.v1, // V1 rules replicate delete markers; these V2 ones say Disabled
				ReplicateKMS:  true,
				Dest:          planner.ReplicationDestination{BucketARN: "arn:aws:s3:::" + tt.bucket, Bucket: tt.bucket, ReplicaKMSKeyID: tt.kmsKeyID},
			}
			if tt.v1 {
				want.Priority = 0
			}
			if !reflect.DeepEqual(r, want) {
				t.Errorf("rule:\n got %+v\nwant %+v", r, want)
			}
			if m := cfg.Match("Tax/2024.pdf", nil); len(m) != 1 || m[0].Dest.Bucket != tt.bucket {
				t.Errorf("Match(Tax/2024.pdf) = %v", m)
			}
		})
	}
}

// rulesXML wraps rules in a GetBucketReplication response.
func rulesXML(rules ...string) string {
	return `<?xml version="1.0" encoding="UTF-8"?><ReplicationConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
		`<Role>arn:aws:iam::1:role/r</Role>` + strings.Join(rules, "") + `</ReplicationConfiguration>`
}

func TestReadReplicationConfigElements(t *testing.T) {
	const dest = `<Destination><Bucket>arn:aws:s3:::dst</Bucket></Destination>`
	const v2 = `<Priority>1</Priority><Status>Enabled</Status><DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>` + dest
	tests := []struct {
		name   string
		body   string
		v1     bool
		prefix string
		tags   map[string]string
	}{
		{"empty Filter is V2, every key", rulesXML(`<Rule><ID>r</ID><Filter/>` + v2 + `</Rule>`), false, "", nil},
		{"empty Filter prefix", rulesXML(`<Rule><ID>r</ID><Filter><Prefix></Prefix></Filter>` + v2 + `</Rule>`), false, "", nil},
		{"empty V1 prefix", rulesXML(`<Rule><ID>r</ID><Prefix/><Status>Enabled</Status>` + dest + `</Rule>`), true, "", nil},
		{"V1 without prefix", rulesXML(`<Rule><ID>r</ID><Status>Enabled</Status>` + dest + `</Rule>`), true, "", nil},
		{"And with two tags", rulesXML(`<Rule><ID>r</ID><Filter><And><Tag><Key>a</Key><Value>1</Value></Tag><Tag><Key>b</Key><Value></Value></Tag></And></Filter>` + v2 + `</Rule>`),
			false, "", map[string]string{"a": "1", "b": ""}},
		{"And with prefix and tag", rulesXML(`<Rule><ID>r</ID><Filter><And><Prefix>p/</Prefix><Tag><Key>a</Key><Value>1</Value></Tag></And></Filter>` + v2 + `</Rule>`),
			false, "p/", map[string]string{"a": "1"}},
		{"escaped characters", rulesXML(`<Rule><ID>r</ID><Filter><Prefix>a&amp;b &lt;c&gt;/</Prefix></Filter>` + v2 + `</Rule>`), false, "a&b <c>/", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := replicationFake(t, tt.body)
			cfg, err := ReadReplicationConfig(context.Background(), c, "src")
			if err != nil {
				t.Fatal(err)
			}
			r := cfg.Rules[0]
			if r.V1 != tt.v1 || r.Prefix != tt.prefix || !reflect.DeepEqual(r.Tags, tt.tags) {
				t.Errorf("got V1=%v Prefix=%q Tags=%v, want V1=%v Prefix=%q Tags=%v", r.V1, r.Prefix, r.Tags, tt.v1, tt.prefix, tt.tags)
			}
		})
	}
}

func TestReadReplicationConfigErrors(t *testing.T) {
	const dest = `<Destination><Bucket>arn:aws:s3:::dst</Bucket></Destination>`
	tests := []struct {
		name     string
		config   string        // the bucket's configuration; "" = none
		reply    *s3fake.Reply // the answer instead of the fake's
		noBucket bool
		want     []string
		notWant  string
		code     string // the S3 error code errors.As must still find
	}{
		{name: "no configuration",
			want: []string{"bucket src has no replication configuration", "ReplicationConfigurationNotFoundError", "put-bucket-replication", "on the command line"},
			code: "ReplicationConfigurationNotFoundError"},
		{name: "access denied", reply: s3fake.Error(http.StatusForbidden, "AccessDenied"),
			want: []string{"get replication configuration of bucket src", "AccessDenied"}, notWant: "has no replication configuration", code: "AccessDenied"},
		{name: "no such bucket", noBucket: true,
			want: []string{"get replication configuration of bucket src", "NoSuchBucket"}, notWant: "has no replication configuration", code: "NoSuchBucket"},
		{name: "KMS without a replica key",
			config: rulesXML(`<Rule><ID>kms</ID><Priority>1</Priority><Status>Enabled</Status><Filter/><DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>` +
				`<SourceSelectionCriteria><SseKmsEncryptedObjects><Status>Enabled</Status></SseKmsEncryptedObjects></SourceSelectionCriteria>` + dest + `</Rule>`),
			want: []string{`replication configuration of bucket src: rule "kms": SourceSelectionCriteria.SseKmsEncryptedObjects: Enabled needs Destination.EncryptionConfiguration.ReplicaKmsKeyID`}},
		{name: "no Status", config: rulesXML(`<Rule><ID>r</ID><Prefix>p</Prefix>` + dest + `</Rule>`),
			want: []string{`rule "r": Status: missing; want Enabled or Disabled`}},
		{name: "DeleteMarkerReplication without Status",
			config: rulesXML(`<Rule><ID>r</ID><Priority>1</Priority><Status>Enabled</Status><Filter/><DeleteMarkerReplication></DeleteMarkerReplication>` + dest + `</Rule>`),
			want:   []string{`rule "r": DeleteMarkerReplication.Status: missing`}},
		{name: "And with a prefix only",
			config: rulesXML(`<Rule><ID>r</ID><Priority>1</Priority><Status>Enabled</Status><Filter><And><Prefix>p</Prefix></And></Filter><DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>` + dest + `</Rule>`),
			want:   []string{`rule "r": Filter.And: has 1 condition(s) and 0 tag(s)`}},
		{name: "no rules", config: rulesXML(), want: []string{"replication configuration of bucket src: no rules"}},
		{name: "empty answer", reply: &s3fake.Reply{Status: http.StatusOK}, want: []string{"bucket src"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, c := replicationFake(t, tt.config)
			if tt.noBucket {
				c = s3fake.New(t).Client("reader")
			}
			if tt.reply != nil {
				f.SetHook(func(s3fake.Request) *s3fake.Reply { return tt.reply })
			}
			cfg, err := ReadReplicationConfig(context.Background(), c, "src")
			if err == nil {
				t.Fatalf("ReadReplicationConfig() = %+v, nil; want an error", cfg)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\n  does not contain %q", err, w)
				}
			}
			if tt.notWant != "" && strings.Contains(err.Error(), tt.notWant) {
				t.Errorf("error %q contains %q", err, tt.notWant)
			}
			var apiErr smithy.APIError
			if tt.code != "" && (!errors.As(err, &apiErr) || apiErr.ErrorCode() != tt.code) {
				t.Errorf("errors.As(%v) finds no S3 error %s", err, tt.code)
			}
		})
	}
}

// TestReplicaStorageClasses checks the planner's replica classes against
// the SDK's list of S3 storage classes.
func TestReplicaStorageClasses(t *testing.T) {
	accepted := []string{"STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER_IR", "GLACIER", "DEEP_ARCHIVE"}
	sdk := types.StorageClass("").Values()
	for _, sc := range accepted {
		if !slices.Contains(sdk, types.StorageClass(sc)) {
			t.Errorf("%s is not an S3 storage class the SDK knows", sc)
		}
	}
	for _, sc := range sdk {
		body := rulesXML(`<Rule><ID>r</ID><Priority>1</Priority><Status>Enabled</Status><Filter/><DeleteMarkerReplication><Status>Disabled</Status></DeleteMarkerReplication>` +
			`<Destination><Bucket>arn:aws:s3:::dst</Bucket><StorageClass>` + string(sc) + `</StorageClass></Destination></Rule>`)
		_, c := replicationFake(t, body)
		cfg, err := ReadReplicationConfig(context.Background(), c, "src")
		switch want := slices.Contains(accepted, string(sc)); {
		case want && err != nil:
			t.Errorf("%s: %v", sc, err)
		case want && cfg.Rules[0].Dest.StorageClass != string(sc):
			t.Errorf("%s: StorageClass = %q", sc, cfg.Rules[0].Dest.StorageClass)
		case !want && (err == nil || !strings.Contains(err.Error(), `Destination.StorageClass "`+string(sc)+`"`)):
			t.Errorf("%s: err = %v, want it refused", sc, err)
		}
	}
}

// replicationGetterFunc is a function-field fake for calls no server can
// make fail in the way wanted.
type replicationGetterFunc func(context.Context, *s3.GetBucketReplicationInput, ...func(*s3.Options)) (*s3.GetBucketReplicationOutput, error)

func (f replicationGetterFunc) GetBucketReplication(ctx context.Context, in *s3.GetBucketReplicationInput, opts ...func(*s3.Options)) (*s3.GetBucketReplicationOutput, error) {
	return f(ctx, in, opts...)
}

func TestReadReplicationConfigNilAnswer(t *testing.T) {
	var gotBucket string
	f := replicationGetterFunc(func(_ context.Context, in *s3.GetBucketReplicationInput, _ ...func(*s3.Options)) (*s3.GetBucketReplicationOutput, error) {
		gotBucket = aws.ToString(in.Bucket)
		return &s3.GetBucketReplicationOutput{}, nil
	})
	_, err := ReadReplicationConfig(context.Background(), f, "src")
	if err == nil || !strings.Contains(err.Error(), "S3 answered without a configuration") || gotBucket != "src" {
		t.Errorf("err = %v, bucket = %q", err, gotBucket)
	}
}
