package attest

// MatchValue applies a matcher to a field as a check does.
var MatchValue = match

// StatusValue is the Value of a status code, as a check makes it.
var StatusValue = statusValue
