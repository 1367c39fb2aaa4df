package job

import (
	"fmt"
	"sort"

	"github.com/s3backfill/s3backfill/planner"
)

// CountsTable lays out what status and a dry run print: versions and bytes
// by status and source encryption (and destination, when there are
// several); byAction adds the planned action. The first row is the header,
// the last the total.
func CountsTable(counts []planner.Count, byAction bool) [][]string {
	dests := map[string]bool{}
	for _, n := range counts {
		dests[n.Dest] = true
	}
	byDest := len(dests) > 1
	type rowKey struct{ dest, status, action, enc string }
	agg := map[rowKey]*planner.Count{}
	var keys []rowKey
	var total planner.Count
	for _, n := range counts {
		k := rowKey{status: string(n.Status), enc: n.Encryption}
		if byAction {
			k.action = string(n.Action)
		}
		if byDest {
			k.dest = n.Dest
		}
		if agg[k] == nil {
			agg[k] = &planner.Count{}
			keys = append(keys, k)
		}
		agg[k].Rows += n.Rows
		agg[k].Bytes += n.Bytes
		total.Rows += n.Rows
		total.Bytes += n.Bytes
	}
	sort.Slice(keys, func(a, b int) bool {
		ka, kb := keys[a], keys[b]
		return fmt.Sprint(ka.dest, "\x00", ka.status, "\x00", ka.action, "\x00", ka.enc) <
			fmt.Sprint(kb.dest, "\x00", kb.status, "\x00", kb.action, "\x00", kb.enc)
	})
	var header []string
	if byDest {
		header = append(header, "DESTINATION")
	}
	header = append(header, "STATUS")
	if byAction {
		header = append(header, "ACTION")
	}
	header = append(header, "ENCRYPTION", "VERSIONS", "BYTES")
	table := [][]string{header}
	for _, k := range keys {
		n := agg[k]
		var cells []string
		if byDest {
			cells = append(cells, k.dest)
		}
		cells = append(cells, k.status)
		if byAction {
			action := k.action
			if action == "" {
				action = "-"
			}
			cells = append(cells, action)
		}
		table = append(table, append(cells, k.enc, fmt.Sprint(n.Rows), FormatSize(n.Bytes)))
	}
	last := append([]string{"total"}, make([]string, len(header)-3)...)
	last = append(last, fmt.Sprint(total.Rows), FormatSize(total.Bytes))
	return append(table, last)
}
