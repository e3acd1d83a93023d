package service_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/crmguard/crmguard/host/plugins"
	"github.com/crmguard/crmguard/host/store/storetest"
	pluginv1 "github.com/crmguard/crmguard/sdk/proto/v1"
)

// TestHostAPIKVConcurrentNewKeys: plugins writing new keys at once, as an
// after-write hook marking the events it has seen does while a route
// counts visits, all get their writes: the database choosing one of them
// as a deadlock's victim is the host's to retry, not the plugin's failure.
func TestHostAPIKVConcurrentNewKeys(t *testing.T) {
	db := storetest.MySQL(t)
	w := newWorld(t, db)
	acme := w.alice.Install.ID
	setActive(t, db, acme, true, "hello")
	hello := plugins.WithCallingPlugin(context.Background(), "hello")
	host := w.svc.PluginHost()
	const writers, keys = 8, 40
	var wg sync.WaitGroup
	errs := make(chan error, writers*keys)
	for i := range writers {
		wg.Go(func() {
			for k := range keys {
				_, err := host.KVSet(hello, &pluginv1.KVSetRequest{InstallId: acme, Key: fmt.Sprintf("seen:%d:%d", i, k),
					Value: []byte("1"), CheckVersion: true, IfVersion: 0})
				if err != nil {
					errs <- err
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	n := 0
	for err := range errs {
		if n++; n == 1 {
			t.Errorf("a write of a new key failed: %v", err)
		}
	}
	if n > 0 {
		t.Fatalf("%d of %d writes of new keys failed", n, writers*keys)
	}
}
