//go:build itest

package scenario

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"github.com/onionswap/onionswap/itest/cluster"
	"github.com/onionswap/onionswap/node/daemon"
)

// takerDB opens the taker's SQLite database (the engine's bad_makers
// table; the control API does not list it). SQLite serializes with the
// running daemon (busy timeout).
func takerDB(t *testing.T, tk *cluster.Proc) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+filepath.Join(tk.DataDir, daemon.WalletDBName)+"?_busy_timeout=10000")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// badMakers is the taker's list of makers it will not use again.
func badMakers(t *testing.T, ctx context.Context, tk *cluster.Proc) map[string]string {
	t.Helper()
	rows, err := takerDB(t, tk).QueryContext(ctx, `SELECT addr, reason FROM bad_makers`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var a, r string
		if err := rows.Scan(&a, &r); err != nil {
			t.Fatal(err)
		}
		out[a] = r
	}
	return out
}

// forgiveMaker deletes addr from the taker's bad-maker list, as an
// operator would, so the next scenario can route through it again.
func forgiveMaker(t *testing.T, ctx context.Context, tk *cluster.Proc, addr string) {
	t.Helper()
	if _, err := takerDB(t, tk).ExecContext(ctx, `DELETE FROM bad_makers WHERE addr = ?`, addr); err != nil {
		t.Fatal(err)
	}
}
