package inroot

import "os"

// readOnly opens a file for reading; Windows has no named pipes in its
// file systems to wait on.
const readOnly = os.O_RDONLY
