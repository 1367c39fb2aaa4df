package executor

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3backfill/s3backfill/internal/s3err"
	"github.com/s3backfill/s3backfill/internal/sse"
	"github.com/s3backfill/s3backfill/inventory"
	"github.com/s3backfill/s3backfill/planner"
)

// keyError is a task whose SSE-C key id is no longer in the key file.
type keyError struct {
	code string
	msg  string
}

func (e *keyError) Error() string { return e.msg }

func asKeyError(err error, target **keyError) bool { return errors.As(err, target) }

// resolveKeys finds the task's SSE-C keys by id.
func (e *Executor) resolveKeys(t planner.Task) (sse.Keys, error) {
	k, err := e.resolveReplicaKey(t)
	if err != nil {
		return k, err
	}
	if t.Encryption == planner.SSEC {
		if k.Src = e.cfg.Keys.ByID(t.SSECKeyID); k.Src == nil {
			return k, &keyError{planner.CodeSSECKeyNotFound, fmt.Sprintf("key id %q (which opened this version when planned) is not in the key file", t.SSECKeyID)}
		}
	}
	return k, nil
}

// resolveReplicaKey finds only the key of the replica (reading it back
// needs no source key).
func (e *Executor) resolveReplicaKey(t planner.Task) (sse.Keys, error) {
	var k sse.Keys
	if t.ReplicaEncryption == planner.SSEC {
		if k.Dst = e.cfg.Keys.ByID(t.ReplicaSSECKeyID); k.Dst == nil {
			return k, &keyError{"DstSSECKeyNotFound", fmt.Sprintf("replica key id %q is not in the key file", t.ReplicaSSECKeyID)}
		}
	}
	return k, nil
}

// keyOnCopy reports a task whose SSE-C key the plan left to the copy:
// its manifest said SSE-C, and no HEAD looked for the key.
func keyOnCopy(t planner.Task) bool {
	return t.Encryption == planner.SSEC && t.SSECKeyID == "" && t.ReplicaEncryption == planner.SSEC
}

// withSourceKey is the task copied with source key src: its replica is
// written under the key src maps to.
func (e *Executor) withSourceKey(t planner.Task, src *planner.Key) (planner.Task, sse.Keys) {
	dst := e.cfg.Keys.ReplicaFor(src)
	t.SSECKeyID, t.ReplicaSSECKeyID = src.ID, dst.ID
	return t, sse.Keys{Src: src, Dst: dst}
}

// copyTryingKeys copies a version whose key the plan left to the copy:
// the candidate keys (those whose prefixes match first, as a HEAD would
// try them) are tried on the CopyObject itself. A wrong key is a 403 that
// changes nothing, and the next key is tried; the keys that worked go
// into the outcome. A version no key opens costs one pass over the keys.
func (e *Executor) copyTryingKeys(ctx context.Context, store Store, t planner.Task, known []string) (planner.Outcome, error) {
	tried := 0
	for c := range e.cfg.Keys.Order(t.Key, e.cfg.Learned) {
		tried++
		tt, k := e.withSourceKey(t, c)
		o, err := e.copyVersion(ctx, store, tt, k, known)
		if s3err.Status(err) == 403 {
			if e.cfg.KeyTrials != nil {
				e.cfg.KeyTrials.Add(1)
			}
			continue // not this key
		}
		if err != nil {
			return o, err
		}
		e.cfg.Learned.Saw(t.Key, c.ID)
		o.SSECKeyID, o.ReplicaSSECKeyID = tt.SSECKeyID, tt.ReplicaSSECKeyID
		o.Message += fmt.Sprintf("; SSE-C key %s found on the copy (%d tried)", c.ID, tried)
		return o, nil
	}
	return planner.Outcome{}, &keyError{planner.CodeSSECKeyNotFound,
		fmt.Sprintf("%s (%d keys tried on the copy, each refused with 403)", planner.ReasonNoKeyOpensVersion, tried)}
}

// keysOfReplica finds, for a task whose key the plan left to the copy,
// the keys of a replica found on the destination (its copy's answer was
// lost, or the run stopped before recording it): the first candidate
// whose replica key reads it back. Where several source keys map to one
// replica key, the first is taken as the source's.
func (e *Executor) keysOfReplica(ctx context.Context, t planner.Task, versionID string) (planner.Task, sse.Keys, error) {
	for c := range e.cfg.Keys.Order(t.Key, e.cfg.Learned) {
		tt, k := e.withSourceKey(t, c)
		_, err := e.headReplica(ctx, tt, k, versionID)
		if err == nil {
			return tt, k, nil
		}
		if st := s3err.Status(err); st != 403 && st != 400 {
			return t, sse.Keys{}, err
		}
	}
	return t, sse.Keys{}, &keyError{planner.CodeSSECKeyNotFound, "no key in the key file reads the replica found on the destination"}
}

// copyVersion copies one version by the planned method. Streaming, an
// object larger than one part goes in parts, resumable like a multipart
// copy.
func (e *Executor) copyVersion(ctx context.Context, store Store, t planner.Task, k sse.Keys, known []string) (planner.Outcome, error) {
	var (
		res copyResult
		err error
	)
	// learned: why a version is streamed that the endpoint cannot copy;
	// inParts: why one is copied in parts that CopyObject would copy.
	var learned, inParts string
	if !e.cfg.Stream && t.Action != planner.Multipart && t.Size > 0 && e.noServerCopy.has(copyObjectOf(t)) {
		inParts = noCopyObjectReason(t)
	}
	partCopy := t.Action == planner.Multipart || inParts != ""
	switch {
	case e.cfg.Stream:
	case e.noServerCopy.has(string(t.Encryption)):
		learned = noServerCopyReason(t)
	case partCopy && rekeys(t, k) && e.noServerCopy.has(rekeyParts):
		learned = rekeyPartsReason
	case t.Size == 0 && e.noServerCopy.has(copyObjectOf(t)) && e.cfg.StreamFallback:
		learned = noServerCopyReason(t) // an empty object has no part to copy
	}
	stream := e.cfg.Stream || learned != ""
	if stream {
		inParts = ""
	}
	multipart := t.Action == planner.Multipart || inParts != "" || (stream && t.Size > e.cfg.PartSize)
	if t.HasUpload && !multipart {
		// The plan changed from a multipart copy: that upload is of no use.
		if err := e.dropUpload(ctx, store, t); err != nil {
			return planner.Outcome{}, err
		}
	}
	switch {
	case multipart:
		res, err = e.multipartCopy(ctx, store, t, k, stream, known)
	case stream:
		res, err = e.streamCopy(ctx, t, k, known)
	default:
		res, err = e.makeReplica(ctx, t, known, func(ctx context.Context) (copyResult, error) { return e.copyObject(ctx, t, k) })
	}
	if err != nil && !stream {
		var why, what string
		switch {
		case encryptedSource(t) && notImplemented(err) && !multipart && !e.noServerCopy.has(copyObjectOf(t)):
			// CopyObject: the parts may still be copied server-side (not
			// an empty version's, which is sent here again under
			// --copy-mode server, and fails below).
			why, what = noCopyObjectReason(t), copyObjectOf(t)
		case encryptedSource(t) && notImplemented(err):
			why, what = noServerCopyReason(t), string(t.Encryption)
		case multipart && rekeys(t, k) && partKeyRefused(err):
			why, what = rekeyPartsReason, rekeyParts
		}
		if why != "" {
			// Copying in parts stays server-side: --copy-mode server too.
			if !e.cfg.StreamFallback && what != copyObjectOf(t) {
				return planner.Outcome{}, fmt.Errorf("%s (--copy-mode server; auto would copy it through this machine): %w", why, err)
			}
			e.log.Info("copying another way: "+why, "key", t.Key, "version", t.VersionID)
			e.noServerCopy.learn(what)
			return e.copyVersion(ctx, store, t, k, known)
		}
	}
	if err != nil {
		return planner.Outcome{}, err
	}
	o, err := e.finish(ctx, t, k, res)
	if err == nil && o.Status == planner.StatusSucceeded {
		switch {
		case learned != "":
			o.Message += "; streamed: " + learned
		case inParts != "":
			o.Message += "; in parts: " + inParts
		}
	}
	return o, err
}

// copyResult is what a copy request tells about the new replica.
type copyResult struct {
	versionID string
	etag      string
	method    string
	layout    string // multipart copies: how the parts were cut
	// lostAnswer: the answer of the write was lost; its replica was found
	// on the destination.
	lostAnswer bool
	// answer is what the write's answer said of the replica; nil when
	// there was none (a replica found on the destination).
	answer *answer
}

// copySource is the x-amz-copy-source value of a version: bucket and key
// escaped segment by segment (slashes kept), then ?versionId=. A "+" is
// escaped too: S3 reads a literal "+" in this header as a space.
func copySource(bucket, key, versionID string) string {
	segs := strings.Split(key, "/")
	for i, s := range segs {
		segs[i] = strings.ReplaceAll(url.PathEscape(s), "+", "%2B")
	}
	return bucket + "/" + strings.Join(segs, "/") + "?versionId=" + url.QueryEscape(versionID)
}

// storageClass is the class to send: STANDARD is the default and is left
// out, so servers that know no other classes still accept the request.
func storageClass(c string) types.StorageClass {
	if c == "" || c == string(types.StorageClassStandard) {
		return ""
	}
	return types.StorageClass(c)
}

func (e *Executor) copyObject(ctx context.Context, t planner.Task, k sse.Keys) (copyResult, error) {
	in := &s3.CopyObjectInput{
		Bucket:       aws.String(t.Dest),
		Key:          aws.String(t.DestKey),
		CopySource:   aws.String(copySource(e.cfg.SourceBucket, t.Key, t.VersionID)),
		StorageClass: storageClass(t.ReplicaClass()),
		// Metadata, content headers and tags are copied by the default
		// COPY directives.
	}
	k.ApplyCopyObject(in, sse.ReplicaOf(t.Decision))
	e.lockOf(t).applyCopy(in)
	acl, err := e.aclOf(ctx, t)
	if err != nil {
		return copyResult{}, err
	}
	acl.applyCopy(in)
	if asksChecksum(t.Checksum) {
		// S3 computes this checksum from the replica's bytes as it copies:
		// equal to the source's, it proves the copy end to end.
		in.ChecksumAlgorithm = types.ChecksumAlgorithm(t.Checksum.Algorithm)
	}
	out, err := e.dst.CopyObject(ctx, in, once)
	if err != nil {
		return copyResult{}, fmt.Errorf("CopyObject: %w", err)
	}
	res := copyResult{versionID: aws.ToString(out.VersionId), method: "CopyObject", answer: answerOfCopy(out, k)}
	if out.CopyObjectResult != nil {
		res.etag = aws.ToString(out.CopyObjectResult.ETag)
	}
	return res, nil
}

// finish records what a copy made: its encryption (the destination
// default applies to plaintext sources), ETag, size and checksum against
// the source's. Config.ReadBack says whether they are read back (HEAD,
// with the replica's key and checksum) or taken from the copy's answer.
func (e *Executor) finish(ctx context.Context, t planner.Task, k sse.Keys, res copyResult) (planner.Outcome, error) {
	msg := "copied by " + res.method + e.lockNote(t)
	if res.lostAnswer {
		msg += "; its answer was lost, the replica was found on the destination"
	}
	o := planner.Outcome{TaskID: t.ID, Status: planner.StatusSucceeded, Message: msg,
		Replica: planner.Replica{VersionID: res.versionID, ETag: res.etag, PartLayout: res.layout,
			Encryption: t.ReplicaEncryption, KMSKeyID: t.ReplicaKMSKeyID}}
	res.answer.record(&o.Replica)
	switch {
	case e.cfg.ReadBack == ReadBackNever:
		notReadBack(t, &o, res.answer)
		return o, nil
	case e.cfg.ReadBack != ReadBackAlways && answerSuffices(t, res):
		answered(t, &o, res.answer)
		return o, nil
	}
	return e.readBack(ctx, t, k, o)
}

// readBack HEADs the replica of o and records what it is.
func (e *Executor) readBack(ctx context.Context, t planner.Task, k sse.Keys, o planner.Outcome) (planner.Outcome, error) {
	r := &o.Replica
	head, err := e.headReplica(ctx, t, k, r.VersionID)
	if err != nil {
		// The copy landed; only the read-back failed. Record success with
		// what the copy response said.
		code, _, class := s3err.Classify(err)
		if class == s3err.Fatal {
			return planner.Outcome{}, err
		}
		o.Message += fmt.Sprintf("; reading the replica back failed (%s)", code)
		r.ETagStatus, r.ETagReason = planner.CompareETags(t.ETag, r.ETag, t.Encryption, r.Encryption)
		r.ChecksumStatus, r.ChecksumReason = planner.ChecksumNotCompared, "the replica could not be read back"
		return o, nil
	}
	r.Encryption = planner.EncryptionOf(string(head.ServerSideEncryption), aws.ToString(head.SSECustomerAlgorithm))
	r.KMSKeyID = aws.ToString(head.SSEKMSKeyId)
	if etag := aws.ToString(head.ETag); plausibleETag(etag) || !plausibleETag(r.ETag) {
		r.ETag = etag
	}
	if r.VersionID == "" {
		r.VersionID = aws.ToString(head.VersionId)
	}
	if r.VersionID == "" {
		// No answer named the version: the replica is the key's null
		// version (an unversioned destination, or a folder-marker key,
		// which MinIO never versions), as a listing names it.
		r.VersionID = "null"
	}
	if !plausibleETag(r.ETag) {
		// The ETag read back is not one any client sees (MinIO's HEAD of a
		// folder-marker key under KMS answers its sealed form); the
		// listing has the one GET and LIST give.
		if d, err := e.newestDestVersion(ctx, t); err == nil && d != nil && plausibleETag(d.etag) {
			r.ETag = d.etag
		}
	}
	compare(t, &o, inventory.ChecksumOf(head, t.Checksum.Algorithm))
	switch size := aws.ToInt64(head.ContentLength); {
	case size != t.Size:
		o.Status, o.ErrorCode = planner.StatusFailed, CodeSizeMismatch
		o.Message = fmt.Sprintf("replica has %d bytes, source %d", size, t.Size)
	case t.ReplicaEncryption != "" && r.Encryption != t.ReplicaEncryption:
		// Trust the replica, not the answer: an endpoint may accept an
		// encryption header and ignore it (Ceph RGW stores such copies
		// unencrypted).
		o.Status, o.ErrorCode = planner.StatusFailed, CodeEncryptionMismatch
		o.Message = fmt.Sprintf("the replica is %s, where %s was asked for: the endpoint accepted the request and ignored its encryption",
			r.Encryption, t.ReplicaEncryption)
	case t.ReplicaKMSKeyID != "" && !sameKMSKey(r.KMSKeyID, t.ReplicaKMSKeyID):
		o.Status, o.ErrorCode = planner.StatusFailed, CodeEncryptionMismatch
		o.Message = fmt.Sprintf("the replica is under KMS key %q, where %q was asked for", r.KMSKeyID, t.ReplicaKMSKeyID)
	case t.ReplicaEncryption == planner.SSEC && k.Dst != nil && aws.ToString(head.SSECustomerKeyMD5) != "" &&
		aws.ToString(head.SSECustomerKeyMD5) != k.Dst.MD5():
		o.Status, o.ErrorCode = planner.StatusFailed, CodeEncryptionMismatch
		o.Message = fmt.Sprintf("the replica is under another SSE-C key than %s, which was asked for", k.Dst.ID)
	}
	return o, nil
}

// compare records how the replica of o compares with its source: ETag and
// checksum (cs, the replica's). A checksum that differs fails the copy.
func compare(t planner.Task, o *planner.Outcome, cs planner.Checksum) {
	r := &o.Replica
	r.ETagStatus, r.ETagReason = planner.CompareETags(t.ETag, r.ETag, t.Encryption, r.Encryption)
	r.ChecksumStatus, r.ChecksumReason = planner.CompareChecksums(t.Checksum, cs)
	if r.ChecksumStatus == planner.ChecksumMismatch {
		o.Status, o.ErrorCode = planner.StatusFailed, CodeChecksumMismatch
		o.Message = "replica checksum differs from the source's: " + r.ChecksumReason
	}
}

// Error codes of replicas that do not match their source.
const (
	CodeSizeMismatch     = "ReplicaSizeMismatch"
	CodeChecksumMismatch = "ReplicaChecksumMismatch"
	// CodeEncryptionMismatch: the replica read back is not encrypted as
	// the copy asked.
	CodeEncryptionMismatch = "ReplicaEncryptionMismatch"
)

// headReplica HEADs a replica version (the key's current one if versionID
// is empty) with its SSE-C key, asking for its checksum.
func (e *Executor) headReplica(ctx context.Context, t planner.Task, k sse.Keys, versionID string) (*s3.HeadObjectOutput, error) {
	in := &s3.HeadObjectInput{Bucket: aws.String(t.Dest), Key: aws.String(t.DestKey), ChecksumMode: types.ChecksumModeEnabled}
	if versionID != "" {
		in.VersionId = aws.String(versionID)
	}
	k.ApplyHeadReplica(in)
	return e.dst.HeadObject(ctx, in)
}

// replayDelete recreates a delete marker: a DELETE without a version id on
// the replica key.
func (e *Executor) replayDelete(ctx context.Context, t planner.Task, known []string) (planner.Outcome, error) {
	marker := true
	res, err := e.makeReplica(ctx, t, known, func(ctx context.Context) (copyResult, error) {
		out, err := e.dst.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(t.Dest), Key: aws.String(t.DestKey)}, once)
		if err != nil {
			return copyResult{}, fmt.Errorf("DeleteObject: %w", err)
		}
		marker = aws.ToBool(out.DeleteMarker)
		return copyResult{versionID: aws.ToString(out.VersionId)}, nil
	})
	if err != nil {
		return planner.Outcome{}, err
	}
	msg := "delete marker replayed"
	if res.lostAnswer {
		msg += "; its answer was lost, the marker was found on the destination"
	}
	if !marker {
		// An unversioned destination deletes the replica instead: its
		// current state still matches the source's, its history cannot.
		// (MinIO also makes no marker for a key without versions.)
		msg = "no delete marker was made: the destination is not versioned (the replica, if any, was deleted) or held no version of the key"
	}
	return planner.Outcome{TaskID: t.ID, Status: planner.StatusSucceeded, Replica: planner.Replica{VersionID: res.versionID}, Message: msg}, nil
}

// plausibleETag: an ETag as S3 gives it, 32 hex digits (an MD5 or an
// opaque one of the same form), or that and "-N" for a multipart object.
func plausibleETag(etag string) bool {
	e := strings.Trim(etag, `"`)
	if i := strings.LastIndexByte(e, '-'); i == 32 {
		if _, err := strconv.Atoi(e[i+1:]); err != nil {
			return false
		}
		e = e[:i]
	}
	if len(e) != 32 {
		return false
	}
	_, err := hex.DecodeString(e)
	return err == nil
}

// newestDestVersion is the newest version of t's replica key, as listed.
func (e *Executor) newestDestVersion(ctx context.Context, t planner.Task) (*destVersion, error) {
	vs, err := e.listDestVersions(ctx, t.Dest, t.DestKey)
	if err != nil || len(vs) == 0 {
		return nil, err
	}
	return &vs[0], nil
}
