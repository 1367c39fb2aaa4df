package inventory

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// ListObjectVersions answers with <Version> and <DeleteMarker> elements
// interleaved in the order the versions were stored, newest first. The SDK
// splits them into two lists, and their LastModified times (milliseconds)
// tie often enough on a fast server that merging by time would misplace a
// delete marker. So the listing keeps a copy of each response body and
// reads the order from it.

// entryRef names one element of a listing page.
type entryRef struct {
	deleteMarker bool
	key          string
	versionID    string
}

// bodyCapture keeps the raw body of the last response of one call.
type bodyCapture struct{ buf bytes.Buffer }

// option adds the capture to one ListObjectVersions call. It sits next to
// the transport in the deserialize step, so it sees the raw response
// before the SDK's deserializer reads it; each attempt (retry) starts over.
func (c *bodyCapture) option(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
		return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("s3backfill/listing-order",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (
				middleware.DeserializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleDeserialize(ctx, in)
				c.buf.Reset()
				if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp.Body != nil {
					resp.Body = struct {
						io.Reader
						io.Closer
					}{io.TeeReader(resp.Body, &c.buf), resp.Body}
				}
				return out, md, err
			}), middleware.After)
	})
}

// order reads the element order of the captured page. ok is false when the
// body cannot be read; the caller then merges by time.
func (c *bodyCapture) order() (refs []entryRef, ok bool) {
	dec := xml.NewDecoder(bytes.NewReader(c.buf.Bytes()))
	var cur *entryRef
	var field string
	depth := 0 // depth inside the current entry
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return refs, len(refs) > 0 || c.buf.Len() > 0
		}
		if err != nil {
			return nil, false
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch {
			case cur == nil && (t.Name.Local == "Version" || t.Name.Local == "DeleteMarker"):
				cur = &entryRef{deleteMarker: t.Name.Local == "DeleteMarker"}
				depth = 0
			case cur != nil:
				depth++
				if depth == 1 {
					field = t.Name.Local
				}
			}
		case xml.CharData:
			if cur != nil && depth == 1 {
				switch field {
				case "Key":
					cur.key += string(t)
				case "VersionId":
					cur.versionID += string(t)
				}
			}
		case xml.EndElement:
			if cur == nil {
				continue
			}
			if depth == 0 {
				refs = append(refs, *cur)
				cur = nil
				continue
			}
			depth--
			field = ""
		}
	}
}
