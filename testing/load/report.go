package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
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

// policyComputations reads the host's histogram of cold policy
// computations from /metrics: how many there were and their median,
// interpolated within its bucket.
func policyComputations(base string) (count float64, median time.Duration, err error) {
	lines, err := metrics(base)
	if err != nil {
		return 0, 0, err
	}
	type bucket struct{ le, n float64 }
	var buckets []bucket
	for _, line := range lines {
		if rest, ok := strings.CutPrefix(line, `crmguard_policy_compute_seconds_bucket{le="`); ok {
			le, n, _ := strings.Cut(rest, `"} `)
			b := bucket{}
			if b.le, err = strconv.ParseFloat(le, 64); err != nil {
				continue // +Inf
			}
			if b.n, err = strconv.ParseFloat(n, 64); err != nil {
				return 0, 0, fmt.Errorf("metrics: %q: %w", line, err)
			}
			buckets = append(buckets, b)
		}
		if rest, ok := strings.CutPrefix(line, "crmguard_policy_compute_seconds_count "); ok {
			if count, err = strconv.ParseFloat(rest, 64); err != nil {
				return 0, 0, fmt.Errorf("metrics: %q: %w", line, err)
			}
		}
	}
	if count == 0 {
		return 0, 0, nil
	}
	half, prev := count/2, bucket{}
	for _, b := range buckets {
		if b.n >= half {
			frac := (half - prev.n) / (b.n - prev.n)
			secs := prev.le + frac*(b.le-prev.le)
			return count, time.Duration(secs * float64(time.Second)), nil
		}
		prev = b
	}
	return count, 0, fmt.Errorf("metrics: the median is above the largest bucket")
}

// pluginCalls reads the host's count of hook calls to plugins from
// /metrics, by "plugin hook".
func pluginCalls(base string) (map[string]float64, error) {
	lines, err := metrics(base)
	if err != nil {
		return nil, err
	}
	calls := map[string]float64{}
	for _, line := range lines {
		rest, ok := strings.CutPrefix(line, "crmguard_plugin_calls_total{")
		if !ok {
			continue
		}
		labels, value, _ := strings.Cut(rest, "} ")
		n, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("metrics: %q: %w", line, err)
		}
		var plugin, hook string
		for _, l := range strings.Split(labels, ",") {
			k, v, _ := strings.Cut(l, "=")
			switch k {
			case "plugin":
				plugin = strings.Trim(v, `"`)
			case "hook":
				hook = strings.Trim(v, `"`)
			}
		}
		calls[plugin+" "+hook] += n
	}
	return calls, nil
}

// metrics reads the lines of the host's /metrics.
func metrics(base string) ([]string, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metrics: %s", resp.Status)
	}
	var lines []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines, sc.Err()
}
