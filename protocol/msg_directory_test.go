package protocol

import (
	"strings"
	"testing"
)

// TestDirectoryCodes: every directory refusal code has a name, lies in
// the directory range and survives a Nack round trip.
func TestDirectoryCodes(t *testing.T) {
	tests := []struct {
		name string
		code ErrorCode
	}{
		{"BondForged", CodeBondForged},
		{"BondCertExpired", CodeBondCertExpired},
		{"BondCertLifetime", CodeBondCertLifetime},
		{"BondSpent", CodeBondSpent},
		{"BondNotFound", CodeBondNotFound},
		{"BondMismatch", CodeBondMismatch},
		{"BondUnconfirmed", CodeBondUnconfirmed},
		{"BondLockWindow", CodeBondLockWindow},
		{"BondTooSmall", CodeBondTooSmall},
		{"BondExpired", CodeBondExpired},
		{"BondOnionMismatch", CodeBondOnionMismatch},
		{"DirectoryFull", CodeDirectoryFull},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.code.String(); got != tc.name {
				t.Fatalf("String() = %q", got)
			}
			if MessageType(tc.code) < RangeDirectoryFirst || MessageType(tc.code) > RangeDirectoryLast {
				t.Fatalf("code %#x outside the directory range", uint16(tc.code))
			}
			frame, err := EncodeMessage(&Nack{Code: tc.code, Text: strings.Repeat("x", 10)})
			if err != nil {
				t.Fatal(err)
			}
			m, err := DecodePayload(TypeNack, frame[HeaderSize:])
			if err != nil {
				t.Fatal(err)
			}
			if n := m.(*Nack); n.Code != tc.code {
				t.Fatalf("decoded code %v", n.Code)
			}
		})
	}
}
