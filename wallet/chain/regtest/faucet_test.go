package regtest

import "testing"

func TestFaucetDeterministic(t *testing.T) {
	a, b := FaucetAddress(), FaucetAddress()
	if a.EncodeAddress() != b.EncodeAddress() || a.EncodeAddress()[:6] != "bcrt1q" {
		t.Fatalf("faucet address %s / %s", a, b)
	}
	if !FaucetKey().PubKey().IsEqual(FaucetKey().PubKey()) {
		t.Fatal("faucet key not deterministic")
	}
}
