package stattest

// Alternate measures a figure (a rate, say) of two setups in turns, n
// times each, and returns each one's mean. The setup measured first
// changes every turn, so that neither always meets a machine just warmed
// or just disturbed by the other. Each function sets its setup up, takes
// one measurement and tears the setup down again.
func Alternate(n int, a, b func() float64) (meanA, meanB float64) {
	for i := range n {
		if i%2 == 0 {
			meanA += a()
			meanB += b()
		} else {
			meanB += b()
			meanA += a()
		}
	}
	return meanA / float64(n), meanB / float64(n)
}
