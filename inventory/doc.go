// Package inventory finds out what the source holds: it lists every
// version and delete marker under a prefix (List), and inspects single
// versions with HEAD to learn their encryption, trying SSE-C keys in the
// order the planner gives (Inspect).
//
// It reads the source only; it never writes to S3 and never touches the
// checkpoint (the job feeds what it finds there).
package inventory
