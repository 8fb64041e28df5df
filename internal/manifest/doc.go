// Package manifest reads berth.yaml, the file that describes an app: what to
// run (an image, or a Dockerfile to build), how big each instance is (a slot
// such as "c.125-m512", or cpu and memory quantities), how many requests one
// instance serves at once, how long instances and requests may live, and the
// routes that reach it.
//
// Parse decodes the file strictly (an unknown or misspelt field is an error),
// fills the defaults and validates every field. It reports all the problems of
// a file at once, as a *ValidationError whose Problems name the field by its
// dotted path ("scale.concurrency", "routes[1].host", "env.FOO"), the value and
// what is allowed. Manifest.Validate does the same for a manifest that was
// decoded elsewhere (from the store, as JSON).
//
// The package does no I/O: callers read the file and pass its bytes. The
// defaults and the allowed ranges are the exported constants in defaults.go;
// docs/manifest.md is the user's reference.
package manifest
