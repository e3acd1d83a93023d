package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/crmguard/crmguard/host/store"
	"github.com/crmguard/crmguard/host/store/storetest"
)

// TestPluginKV checks the plugins' key-value store on both stores: scoped
// by plugin and install, compare-and-set, expiry, deletion.
func TestPluginKV(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		f := newFixture(t, db)
		now := time.UnixMilli(1_800_000_000_000)
		set := func(plugin, install, key, value string, ifVersion *int64, expires *time.Time) (int64, bool) {
			t.Helper()
			var v int64
			var ok bool
			err := db.InTx(ctx, func(tx *store.Tx) error {
				var err error
				v, ok, err = tx.KVSet(ctx, plugin, install, key, []byte(value), ifVersion, expires, now)
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
			return v, ok
		}
		get := func(plugin, install, key string, at time.Time) (string, int64, bool) {
			t.Helper()
			e, found, err := db.KVGet(ctx, plugin, install, key, at)
			if err != nil {
				t.Fatal(err)
			}
			return string(e.Value), e.Version, found
		}
		zero := int64(0)
		v1, ok := set("hello", f.install.ID, "visits", "1", &zero, nil)
		if !ok {
			t.Fatal("create-if-absent refused on an absent key")
		}
		if _, ok := set("hello", f.install.ID, "visits", "9", &zero, nil); ok {
			t.Fatal("create-if-absent overwrote an existing key")
		}
		v2, ok := set("hello", f.install.ID, "visits", "2", &v1, nil)
		if !ok || v2 == v1 {
			t.Fatalf("compare-and-set with the current version: %v %v", ok, v2)
		}
		if _, ok := set("hello", f.install.ID, "visits", "3", &v1, nil); ok {
			t.Fatal("compare-and-set with a stale version wrote")
		}
		if v, ver, found := get("hello", f.install.ID, "visits", now); !found || v != "2" || ver != v2 {
			t.Fatalf("get: %q %v %v", v, ver, found)
		}
		for _, other := range [][2]string{{"other-plugin", f.install.ID}, {"hello", f.otherInstall.ID}} {
			if _, _, found := get(other[0], other[1], "visits", now); found {
				t.Fatalf("%v sees hello's value for acme", other)
			}
		}
		soon := now.Add(time.Minute)
		set("hello", f.install.ID, "lease", "x", nil, &soon)
		if _, _, found := get("hello", f.install.ID, "lease", now); !found {
			t.Fatal("a value missing before it expires")
		}
		if _, _, found := get("hello", f.install.ID, "lease", soon); found {
			t.Fatal("an expired value was found")
		}
		if err := db.KVDelete(ctx, "hello", f.install.ID, "visits"); err != nil {
			t.Fatal(err)
		}
		if _, _, found := get("hello", f.install.ID, "visits", now); found {
			t.Fatal("a deleted value was found")
		}
	})
}
