package wallet

import (
	"context"
	"testing"
	"time"
)

// TestBlacklistStore: entries listed, expired, removed; a party listed for
// good is not shortened by a later, temporary listing (an "unreachable"
// after a cheat), but a temporary one is replaced.
func TestBlacklistStore(t *testing.T) {
	w, _ := createWallet(t, testConfig(t, ""))
	ctx := context.Background()
	now := time.Now()
	add := func(kind, value, reason string, until time.Time) {
		t.Helper()
		if err := w.BlacklistAdd(ctx, BlacklistEntry{Kind: kind, Value: value, Reason: reason, Until: until, Source: ListSourceAuto}); err != nil {
			t.Fatal(err)
		}
	}
	reasonOf := func(kind, value string, at time.Time) string {
		t.Helper()
		es, err := w.Blacklist(ctx, kind, at)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range es {
			if e.Value == value {
				return e.Reason
			}
		}
		return ""
	}
	add(ListOnion, "a.onion:1", "cheated", time.Time{})
	add(ListOnion, "a.onion:1", "unreachable", now.Add(10*time.Minute))
	if r := reasonOf(ListOnion, "a.onion:1", now.Add(time.Hour)); r != "cheated" {
		t.Fatalf("a listing for good was shortened: %q", r)
	}
	add(ListOnion, "b.onion:1", "unreachable", now.Add(10*time.Minute))
	if r := reasonOf(ListOnion, "b.onion:1", now); r != "unreachable" {
		t.Fatalf("b: %q", r)
	}
	if r := reasonOf(ListOnion, "b.onion:1", now.Add(11*time.Minute)); r != "" {
		t.Fatalf("expired entry still listed: %q", r)
	}
	add(ListOnion, "b.onion:1", "cheated", time.Time{})
	if r := reasonOf(ListOnion, "b.onion:1", now.Add(time.Hour)); r != "cheated" {
		t.Fatalf("a temporary listing not made permanent: %q", r)
	}
	add(ListBond, "00:1", "sybil", time.Time{})
	if es, _ := w.Blacklist(ctx, "", now); len(es) != 3 {
		t.Fatalf("%d entries, want 3", len(es))
	}
	if ok, err := w.BlacklistRemove(ctx, ListOnion, "a.onion:1"); err != nil || !ok {
		t.Fatalf("remove: %v %v", ok, err)
	}
	if ok, _ := w.BlacklistRemove(ctx, ListOnion, "a.onion:1"); ok {
		t.Fatal("removed twice")
	}
	if err := w.BlacklistAdd(ctx, BlacklistEntry{Kind: "nonsense", Value: "x", Reason: "r"}); err == nil {
		t.Fatal("unknown kind stored")
	}
	k1, err := w.ListKey()
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := w.ListKey()
	if !k1.PubKey().IsEqual(k2.PubKey()) {
		t.Fatal("list key not stable")
	}
}
