package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/crmguard/crmguard/host/crm"
	"github.com/crmguard/crmguard/host/store"
)

// timeExistence times, one request at a time, GETs by the sparse sales rep
// of records they may not see against GETs of ids that name no record,
// alternating the two so that both meet the machine in the same state: n
// of each asking for the same two ids again and again, then n of each
// asking for ids not asked for before. Every answer must be a 404; the
// host should take as long for either (DESIGN §7: invisible means not
// found).
func timeExistence(ctx context.Context, w io.Writer, f *fixture, base string, n int) error {
	// The records of other users: n+1 of each type at most, each once, so
	// that "new" ids are new to the host.
	var hidden []crm.Ref
	for _, t := range crm.RecordTypes {
		recs, err := f.db.ListRecords(ctx, store.RecordQuery{InstallID: f.install.ID, Type: t, Limit: n + 1})
		if err != nil {
			return err
		}
		for _, r := range recs {
			if r.OwnerID != f.sparse.id && r.CreatedBy != f.sparse.id {
				hidden = append(hidden, crm.Ref{Type: t, ID: r.ID})
			}
		}
	}
	if len(hidden) < n+1 {
		return fmt.Errorf("-existence %d: the install holds only %d records the sparse user may not see", n, len(hidden))
	}
	rand.New(rand.NewPCG(3, 4)).Shuffle(len(hidden), func(i, j int) { hidden[i], hidden[j] = hidden[j], hidden[i] })
	client := &http.Client{Timeout: 30 * time.Second}
	get := func(r crm.Ref) (time.Duration, error) {
		req, err := http.NewRequestWithContext(ctx, "GET", base+"/v1/records/"+string(r.Type)+"/"+r.ID, nil)
		if err != nil {
			return 0, err
		}
		req.Header.Set("Authorization", "Bearer "+f.sparse.token)
		t0 := time.Now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		d := time.Since(t0)
		if err == nil && resp.StatusCode != http.StatusNotFound {
			err = fmt.Errorf("GET %s %s: %d for the sparse user, want 404", r.Type, r.ID, resp.StatusCode)
		}
		return d, err
	}
	rounds := []struct {
		name string
		pair func(i int) (hidden, missing crm.Ref)
	}{
		{"repeated", func(int) (crm.Ref, crm.Ref) {
			return hidden[0], crm.Ref{Type: hidden[0].Type, ID: "01J0000000000000000000000Z"}
		}},
		{"new", func(i int) (crm.Ref, crm.Ref) { return hidden[1+i], crm.Ref{Type: hidden[1+i].Type, ID: crm.NewID()} }},
	}
	fmt.Fprintf(w, "\nexistence: %d GETs of each kind by the sparse sales rep, one at a time, alternating\n", n)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "ids\tkind\tp50\tp95\t")
	for _, round := range rounds {
		times := map[string][]time.Duration{}
		for i := range n {
			h, m := round.pair(i)
			order := []struct {
				kind string
				ref  crm.Ref
			}{{"hidden", h}, {"missing", m}}
			if i%2 == 1 { // neither kind always goes first
				order[0], order[1] = order[1], order[0]
			}
			for _, o := range order {
				d, err := get(o.ref)
				if err != nil {
					return err
				}
				times[o.kind] = append(times[o.kind], d)
			}
		}
		for _, kind := range []string{"hidden", "missing"} {
			ts := times[kind]
			slices.Sort(ts)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", round.name, kind, us(ts[len(ts)/2]), us(ts[len(ts)*95/100]))
		}
	}
	return tw.Flush()
}

func us(d time.Duration) string { return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond)) }
