package attest

// MatchValue applies a matcher to a field as a check does.
var MatchValue = match
