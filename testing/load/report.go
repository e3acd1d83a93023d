package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// printTable prints one line per scenario.
func printTable(w io.Writer, results []result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\trequests/s\tchecks/s\tp50\tp95\tp99\terrors\t")
	for _, r := range results {
		secs := r.elapsed.Seconds()
		checks := "-"
		if r.checks > 0 {
			checks = fmt.Sprintf("%.0f", float64(r.checks)/secs)
		}
		fmt.Fprintf(tw, "%s\t%.0f\t%s\t%s\t%s\t%s\t%d\t\n", r.name, float64(r.requests)/secs, checks,
			ms(r.percentile(.50)), ms(r.percentile(.95)), ms(r.percentile(.99)), r.errors)
	}
	tw.Flush()
	for _, r := range results {
		if r.firstErr != "" {
			fmt.Fprintf(w, "first error in %s: %s\n", r.name, r.firstErr)
		}
	}
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond)) }
