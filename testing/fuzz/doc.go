// Package fuzz sends the real crmguard, with every shipped plugin active in
// two installs, a bounded stream of requests over every route of its HTTP
// API and of its plugins' APIs: valid ones, so that writes happen, and
// broken ones — malformed JSON, wrong types, huge and exotic numbers,
// control characters and encoded separators in every path segment, long
// strings, invalid UTF-8, tampered cursors, bad If-Match, oversize bodies,
// invalid plugin settings derived from each plugin's settings schema.
//
// It fails on any 5xx other than the documented 503s, on an error answer
// that is not the API's error form or speaks Go, on a redirect out of a
// plugin's prefix, on a record whose hidden parent shows through it, on a
// panic in any process's log, on a process that died, and on an event
// written and not delivered. TestRoutesCovered fails when a route of the
// API or of a shipped plugin is missing from the fuzzer's list.
//
// A run starts with a prelude that every run sends alike: records whose
// data holds numbers beyond float64, records whose parent another member
// owns, read by each member, and every bad value of every place of each
// plugin's settings schema. Then random requests: a fixed seed, then a
// random one; both are printed, and CRMGUARD_FUZZ_SEED (or -seed) replays
// a run's second part.
// CRMGUARD_FUZZ_REQUESTS sets the requests of each part, and
// CRMGUARD_FUZZ_LOG names a file for the host's whole log.
package fuzz
