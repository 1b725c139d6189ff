package maker

import (
	"errors"
	"testing"

	"github.com/onionswap/onionswap/node/swap"
)

// TestConfigRefusesUnsafe: unsafe timelock settings are refused before a
// maker exists (the wallet/backend are checked first, so a zero Config is
// refused for that; the table fills them with placeholders via check's
// order: the nil checks come first, so we call check on configs that pass
// them by construction).
func TestConfigRefusesUnsafe(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
	}{
		{"reaction time below floor", Config{ReactionBlocks: swap.MinReactionBlocks - 1}},
		{"min locktime below floor + reaction", Config{ReactionBlocks: 20, MinLocktime: 25}},
		{"min locktime above max", Config{MinLocktime: swap.MaxLocktime + 1}},
		{"too many confirmations", Config{RequiredConfirms: swap.MaxRequiredConfirms + 1}},
		{"negative swap timeout", Config{SwapTimeoutBlocks: -1}},
		{"negative base fee", Config{Terms: swap.Terms{BaseFee: -1}}},
		{"max below min size", Config{MinSize: 50_000, MaxSize: 40_000}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.checkValues()
			if !errors.Is(err, swap.ErrConfig) {
				t.Fatalf("err = %v, want ErrConfig", err)
			}
		})
	}
	ok := Config{}
	if err := ok.checkValues(); err != nil {
		t.Fatalf("defaults refused: %v", err)
	}
	if err := (&Config{}).check(); !errors.Is(err, swap.ErrConfig) {
		t.Fatalf("missing wallet accepted: %v", err)
	}
}
