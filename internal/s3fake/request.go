package s3fake

import (
	"bufio"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Request is one request the server received, with the reply it sent.
type Request struct {
	Op       string // S3 operation, e.g. "CopyObject"; "Unknown" when not recognised
	Client   string // the access key id the request was signed with
	Method   string
	Bucket   string
	Key      string // decoded from the path
	RawPath  string
	RawQuery string
	Query    url.Values
	Header   http.Header
	Body     []byte      // as received
	Content  []byte      // the payload: Body without aws-chunked framing
	Trailer  http.Header // trailing headers of an aws-chunked body (checksums)

	Status    int         // of the reply
	Reply     http.Header // headers of the reply
	ReplyBody []byte      // body of the reply (none for HEAD)
}

// Reply is an answer to a request.
type Reply struct {
	Status int
	Header http.Header
	Body   []byte
	// Drop: the connection is closed instead of answering, as a network
	// that lost the answer would leave it. A hook that first lets the
	// server act (Answer) and then drops the reply makes a lost answer.
	Drop bool
}

// Dropped is a reply that never arrives.
func Dropped() *Reply { return &Reply{Drop: true} }

// Hdr makes a header from name, value pairs.
func Hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// XML is a 200 reply with an XML body (the XML declaration is added) and
// extra headers given as name, value pairs.
func XML(body string, kv ...string) *Reply {
	h := Hdr(kv...)
	h.Set("Content-Type", "application/xml")
	return &Reply{Status: http.StatusOK, Header: h, Body: []byte(xml.Header + body)}
}

// errorMessages are the messages S3 gives with the codes the fake answers.
var errorMessages = map[string]string{
	"AccessDenied":                          "Access Denied",
	"BadDigest":                             "The Content-MD5 or checksum value that you specified did not match what the server received.",
	"EntityTooSmall":                        "Your proposed upload is smaller than the minimum allowed object size.",
	"IncompleteBody":                        "You did not provide the number of bytes specified by the Content-Length HTTP header.",
	"InvalidArgument":                       "Invalid Argument",
	"InvalidObjectState":                    "The operation is not valid for the object's storage class",
	"InvalidPart":                           "One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part's entity tag.",
	"InvalidPartOrder":                      "The list of parts was not in ascending order. The parts list must be specified in order by part number.",
	"InvalidRange":                          "The requested range is not satisfiable",
	"InvalidRequest":                        "Invalid Request",
	"MalformedXML":                          "The XML you provided was not well-formed or did not validate against our published schema.",
	"MethodNotAllowed":                      "The specified method is not allowed against this resource.",
	"NoSuchBucket":                          "The specified bucket does not exist",
	"NoSuchKey":                             "The specified key does not exist.",
	"NoSuchUpload":                          "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
	"NoSuchVersion":                         "The specified version does not exist.",
	"NotImplemented":                        "A header or query you provided implies functionality that is not implemented.",
	"InvalidDigest":                         "The Content-MD5 you specified is not valid.",
	"InternalError":                         "We encountered an internal error. Please try again.",
	"SlowDown":                              "Please reduce your request rate.",
	"SignatureDoesNotMatch":                 "The request signature we calculated does not match the signature you provided.",
	"ReplicationConfigurationNotFoundError": "The replication configuration was not found",
	"ServerSideEncryptionConfigurationNotFoundError": "The server side encryption configuration was not found",
}

// ErrorMessage is the message Error gives with code.
func ErrorMessage(code string) string {
	if m, ok := errorMessages[code]; ok {
		return m
	}
	return "s3fake: " + code
}

// Error is an S3 error reply with code and its usual message. (A reply to
// HEAD is sent without the body, as S3 does.)
func Error(status int, code string) *Reply {
	return errorReply(status, code, ErrorMessage(code))
}

func errorReply(status int, code, message string) *Reply {
	var b bytes.Buffer
	b.WriteString(xml.Header + "<Error><Code>")
	xml.EscapeText(&b, []byte(code))
	b.WriteString("</Code><Message>")
	xml.EscapeText(&b, []byte(message))
	b.WriteString("</Message><RequestId>s3fake</RequestId></Error>")
	return &Reply{Status: status, Header: Hdr("Content-Type", "application/xml"), Body: b.Bytes()}
}

// readRequest reads an HTTP request as the log keeps it.
func readRequest(r *http.Request) (Request, error) {
	body, err := io.ReadAll(r.Body)
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	req := Request{
		Method: r.Method, Bucket: bucket, Key: key, RawPath: r.URL.EscapedPath(), RawQuery: r.URL.RawQuery,
		Query: r.URL.Query(), Header: r.Header.Clone(), Body: body, Content: body, Client: accessKeyOf(r),
	}
	req.Op = opName(r.Method, key, req.Query, r.Header)
	if err != nil {
		return req, fmt.Errorf("read body: %w", err)
	}
	if chunked(r.Header) {
		if req.Content, req.Trailer, err = decodeChunked(body); err != nil {
			return req, fmt.Errorf("aws-chunked body: %w", err)
		}
	}
	return req, nil
}

// accessKeyOf is the access key id of a SigV4 Authorization header (or of
// a presigned URL).
func accessKeyOf(r *http.Request) string {
	cred := r.URL.Query().Get("X-Amz-Credential")
	if _, after, ok := strings.Cut(r.Header.Get("Authorization"), "Credential="); ok {
		cred = after
	}
	id, _, _ := strings.Cut(cred, "/")
	return id
}

// opName recognises the S3 operation of a request.
func opName(method, key string, q url.Values, h http.Header) string {
	has := func(k string) bool { _, ok := q[k]; return ok }
	copySrc := h.Get("x-amz-copy-source") != ""
	bucketOps := map[string]string{"versions": "ListObjectVersions", "uploads": "ListMultipartUploads",
		"versioning": "GetBucketVersioning", "encryption": "GetBucketEncryption", "replication": "GetBucketReplication",
		"ownershipControls": "GetBucketOwnershipControls", "object-lock": "GetObjectLockConfiguration"}
	switch {
	case method == http.MethodHead && key == "":
		return "HeadBucket"
	case method == http.MethodHead:
		return "HeadObject"
	case method == http.MethodGet && key == "":
		for sub, op := range bucketOps {
			if has(sub) {
				return op
			}
		}
		return "ListObjects"
	case method == http.MethodGet && has("tagging"):
		return "GetObjectTagging"
	case method == http.MethodGet && has("acl"):
		return "GetObjectAcl"
	case method == http.MethodGet && has("uploadId"):
		return "ListParts"
	case method == http.MethodGet:
		return "GetObject"
	case method == http.MethodPut && key == "":
		return "PutBucket"
	case method == http.MethodPut && has("partNumber") && copySrc:
		return "UploadPartCopy"
	case method == http.MethodPut && has("partNumber"):
		return "UploadPart"
	case method == http.MethodPut && has("tagging"):
		return "PutObjectTagging"
	case method == http.MethodPut && copySrc:
		return "CopyObject"
	case method == http.MethodPut:
		return "PutObject"
	case method == http.MethodPost && key != "" && has("uploads"):
		return "CreateMultipartUpload"
	case method == http.MethodPost && key != "" && has("uploadId"):
		return "CompleteMultipartUpload"
	case method == http.MethodDelete && key == "":
		return "DeleteBucket"
	case method == http.MethodDelete && has("uploadId"):
		return "AbortMultipartUpload"
	case method == http.MethodDelete && !has("tagging"):
		return "DeleteObject"
	}
	return "Unknown"
}

// chunked reports an aws-chunked body: the SDK sends PutObject and
// UploadPart over TLS that way, with the checksum in a trailer.
func chunked(h http.Header) bool {
	return strings.Contains(h.Get("Content-Encoding"), "aws-chunked") ||
		strings.HasPrefix(h.Get("X-Amz-Content-Sha256"), "STREAMING-")
}

// decodeChunked removes the aws-chunked framing: chunks of "<hex
// size>[;chunk-signature=...]\r\n<data>\r\n", a last chunk of size 0, then
// trailing "name:value" lines and an empty line.
func decodeChunked(body []byte) (content []byte, trailer http.Header, err error) {
	br := bufio.NewReader(bytes.NewReader(body))
	content = []byte{}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return nil, nil, fmt.Errorf("chunk header: %w", err)
		}
		sizeHex, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), ";")
		n, err := strconv.ParseInt(sizeHex, 16, 64)
		if err != nil || n < 0 {
			return nil, nil, fmt.Errorf("chunk size %q", line)
		}
		if n == 0 {
			break
		}
		chunk := make([]byte, n)
		if _, err := io.ReadFull(br, chunk); err != nil {
			return nil, nil, fmt.Errorf("chunk data: %w", err)
		}
		content = append(content, chunk...)
		if crlf, err := br.ReadString('\n'); err != nil || crlf != "\r\n" {
			return nil, nil, errors.New("chunk without CRLF")
		}
	}
	trailer = http.Header{}
	for {
		line, err := br.ReadString('\n')
		line = strings.TrimRight(line, "\r\n")
		if k, v, ok := strings.Cut(line, ":"); ok {
			trailer.Set(strings.TrimSpace(k), strings.TrimSpace(v))
		}
		if err != nil || line == "" {
			return content, trailer, nil
		}
	}
}
