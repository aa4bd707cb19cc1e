//go:build !unix

package artifact

// noFollow makes an open refuse a link where the system can; elsewhere
// the copy's source is a file clstr wrote into a directory of its own.
const noFollow = 0
