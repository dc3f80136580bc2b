package domain

// SealForTest returns the MAC s would append to body, so that tests can
// build sealed cursors whose contents the sealer itself never writes.
func SealForTest(s *CursorSealer, body []byte) []byte {
	var m [macLen]byte
	s.sum(&m, body)
	return m[:]
}
