package protocol

import (
	"bytes"
	"testing"
)

// The largest message in a real swap: SetupHop with 3 incoming outputs
// (unsigned contract txs, sender signatures, nonces) and 3 next-hop keys.

func BenchmarkEncodeSetupHop(b *testing.B) {
	m := testSetupHop(3)
	frame, err := EncodeMessage(m)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	buf := make([]byte, 0, len(frame))
	for b.Loop() {
		if buf, err = AppendFrame(buf[:0], m); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(frame)), "frame-bytes")
}

func BenchmarkDecodeSetupHop(b *testing.B) {
	frame, err := EncodeMessage(testSetupHop(3))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	r := bytes.NewReader(frame)
	for b.Loop() {
		r.Reset(frame)
		if _, _, err := ReadMessage(r); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(frame)), "frame-bytes")
}
