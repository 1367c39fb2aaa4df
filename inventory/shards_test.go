package inventory

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3backfill/s3backfill/internal/labenv"
	"github.com/s3backfill/s3backfill/planner"
)

// TestShardsCoverTheSource: against the lab's MinIO, the shards of a
// source are a folder each and its direct keys (a lone folder split a
// level deeper), and listing them one by one lists every version of the
// source exactly once, in List's order.
func TestShardsCoverTheSource(t *testing.T) {
	lab := labenv.Get(t)
	c := lab.Client()
	ctx := context.Background()
	for _, tc := range []struct {
		name, prefix string
		keys         []string
		want         []planner.Shard
	}{
		{"folders", "", []string{"top", "a/1", "a/1", "a/b/2", "c/3", "zz"},
			[]planner.Shard{{Prefix: "", Direct: true}, {Prefix: "a/"}, {Prefix: "c/"}}},
		{"a lone folder is split deeper", "", []string{"x/y/1", "x/y/2", "x/y/z/3", "x/y/w/4"},
			[]planner.Shard{{Prefix: "x/y/", Direct: true}, {Prefix: "x/y/w/"}, {Prefix: "x/y/z/"}}},
		{"under the job's prefix", "p/", []string{"p/1", "p/q/2", "p/r/3", "other/4"},
			[]planner.Shard{{Prefix: "p/", Direct: true}, {Prefix: "p/q/"}, {Prefix: "p/r/"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := lab.Bucket(t, c, "shards", true)
			for i, k := range tc.keys {
				if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k),
					Body: strings.NewReader(fmt.Sprint(i))}); err != nil {
					t.Fatal(err)
				}
			}
			shards, err := Shards(ctx, c, bucket, tc.prefix)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(shards, tc.want) {
				t.Errorf("Shards = %+v, want %+v", shards, tc.want)
			}
			var whole, pieces []string
			if err := List(ctx, c, bucket, tc.prefix, func(v planner.Version) error {
				whole = append(whole, fmt.Sprintf("%s@%s#%d", v.Key, v.VersionID, v.Rank))
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			byKey := map[string][]string{}
			for _, sh := range shards {
				if err := ListShard(ctx, c, bucket, tc.prefix, sh, func(v planner.Version) error {
					byKey[v.Key] = append(byKey[v.Key], fmt.Sprintf("%s@%s#%d", v.Key, v.VersionID, v.Rank))
					return nil
				}); err != nil {
					t.Fatal(err)
				}
			}
			for _, w := range whole { // List's order: keys ascending, newest first
				k := w[:strings.Index(w, "@")]
				if len(byKey[k]) > 0 {
					pieces = append(pieces, byKey[k]...)
					delete(byKey, k)
				}
			}
			if len(byKey) > 0 || !reflect.DeepEqual(pieces, whole) {
				t.Errorf("the shards listed %v (left %v), the whole listing %v", pieces, byKey, whole)
			}
		})
	}
}

// TestListShardResumes: a shard listed after a key starts at the next key.
func TestListShardResumes(t *testing.T) {
	lab := labenv.Get(t)
	c := lab.Client()
	ctx := context.Background()
	bucket := lab.Bucket(t, c, "shards", true)
	for _, k := range []string{"a/1", "a/2", "a/2", "a/3"} {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: strings.NewReader(k)}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	if err := ListShard(ctx, c, bucket, "", planner.Shard{Prefix: "a/", After: "a/1"}, func(v planner.Version) error {
		got = append(got, fmt.Sprintf("%s#%d", v.Key, v.Rank))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"a/2#0", "a/2#1", "a/3#0"}; !reflect.DeepEqual(got, want) {
		t.Errorf("listed %v, want %v", got, want)
	}
}
