package protocol

import (
	"bytes"
	"testing"
)

// The largest message in a real swap: ProofOfFunding with 3 funding
// transactions of 2 P2WPKH inputs (with witnesses) and 2 P2WPKH outputs.

func BenchmarkEncodeProofOfFunding(b *testing.B) {
	m := testProofOfFunding(3)
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

func BenchmarkDecodeProofOfFunding(b *testing.B) {
	frame, err := EncodeMessage(testProofOfFunding(3))
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
