package fuzz

import (
	"bytes"
	"encoding/json"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/crmguard/crmguard/testing/harness"
)

// caller is who sends a request.
type caller int

const (
	asAdmin caller = iota
	asManager
	asAlice
	asBob
	asService
	asNobody   // no Authorization header
	asBadToken // a token that is nobody's
	asOperator // the host's operator token
)

var callerNames = [...]string{"admin", "manager", "alice", "bob", "service", "nobody", "bad-token", "operator"}

// auth is what a route authenticates.
type auth int

const (
	authNone     auth = iota // public: /healthz and the like
	authUser                 // a user's token
	authToken                // a user's or the service token (/v1/authz, :changed)
	authOperator             // the operator token
)

// segment is one segment of a path, as it is sent.
type segment struct {
	text  string
	param bool // a value (an id, a type, a name), not a fixed word
}

func lit(s string) segment   { return segment{text: s} }
func param(s string) segment { return segment{text: s, param: true} }

// request is one request of the fuzzer, built valid by its route and then,
// most of the time, broken.
type request struct {
	route   *route
	in      *installState
	who     caller
	method  string
	segs    []segment
	query   [][2]string // names and values, percent-encoded as sent
	body    any         // encoded as JSON when raw is nil; nil: no body
	raw     []byte      // the body as sent, when it is not body's JSON
	headers [][2]string
	// mustRefuse says the request breaks a rule that the API must
	// enforce, whatever it was mutated into: a 2xx answer is a failure.
	mustRefuse bool
	mutations  []string // what was broken, for failure reports
}

// path is the request's path as it is sent.
func (q *request) path() string {
	var b strings.Builder
	for _, s := range q.segs {
		b.WriteString("/" + s.text)
	}
	return wellEscaped(b.String())
}

func (q *request) target() string {
	t := q.path()
	if len(q.query) > 0 {
		parts := make([]string, len(q.query))
		for i, kv := range q.query {
			parts[i] = kv[0] + "=" + kv[1]
		}
		t += "?" + strings.Join(parts, "&")
	}
	return t
}

func (q *request) header(name string) (string, bool) {
	for _, h := range q.headers {
		if strings.EqualFold(h[0], name) {
			return h[1], true
		}
	}
	return "", false
}

func (q *request) setHeader(name, value string) {
	for i, h := range q.headers {
		if strings.EqualFold(h[0], name) {
			q.headers[i][1] = value
			return
		}
	}
	q.headers = append(q.headers, [2]string{name, value})
}

func (q *request) setQuery(name, value string) {
	for i, kv := range q.query {
		if kv[0] == name {
			q.query[i][1] = value
			return
		}
	}
	q.query = append(q.query, [2]string{name, value})
}

// describe is the request as a failure report shows it.
func (q *request) describe() string {
	s := q.method + " " + q.target() + " as " + callerNames[q.who]
	if q.in != nil {
		s += "@" + q.in.slug
	}
	if len(q.mutations) > 0 {
		s += " [" + strings.Join(q.mutations, "; ") + "]"
	}
	if b := q.encoded(); b != nil {
		s += " body " + clip(string(b), 300)
	}
	return s
}

// encoded is the body as sent, nil for none.
func (q *request) encoded() []byte {
	if q.raw != nil {
		return q.raw
	}
	if q.body == nil {
		return nil
	}
	b, err := json.Marshal(q.body)
	if err != nil {
		panic("fuzz: body cannot be encoded: " + err.Error())
	}
	return spliceRaw(b)
}

// wellEscaped writes a "%" that begins no escape (a tweak may cut one in
// two) as "%25": a request line with a broken escape is refused by Go's
// HTTP server before any of crmguard's code sees it.
func wellEscaped(path string) string {
	var b strings.Builder
	for i := 0; i < len(path); i++ {
		if path[i] == '%' && (i+2 >= len(path) || !isHex(path[i+1]) || !isHex(path[i+2])) {
			b.WriteString("%25")
			continue
		}
		b.WriteByte(path[i])
	}
	return b.String()
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// reply is an answer, its body decoded when it is JSON.
type reply struct {
	status int
	header http.Header
	body   []byte
	json   any
}

func (r reply) object() map[string]any {
	m, _ := r.json.(map[string]any)
	return m
}

func (r reply) str(key string) string {
	s, _ := r.object()[key].(string)
	return s
}

// client is the HTTP client of the fuzzer: it follows no redirect, so
// that redirects are seen and checked.
var client = &http.Client{
	Timeout:       60 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// send sends a request exactly as built: its path is written on the
// request line as it is, percent-escapes included.
func send(base, token string, q *request) (reply, error) {
	var body io.Reader
	if b := q.encoded(); b != nil {
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequest(q.method, base, body)
	if err != nil {
		return reply{}, err
	}
	switch path := q.path(); {
	case path == "":
		req.URL.Opaque = "/"
	case strings.HasPrefix(path, "//"):
		// An opaque "//…" would go out as an absolute URL, its first
		// segment the host: the escaped path goes out as it is instead.
		req.URL.Path, req.URL.RawPath = decodedSegment(path), path
	default:
		req.URL.Opaque = path
	}
	var raw []string
	for _, kv := range q.query {
		raw = append(raw, kv[0]+"="+kv[1])
	}
	req.URL.RawQuery = strings.Join(raw, "&")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range q.headers {
		if h[1] == "" && strings.EqualFold(h[0], "Content-Type") {
			req.Header.Del(h[0])
			continue
		}
		req.Header.Set(h[0], h[1])
	}
	resp, err := client.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return reply{}, err
	}
	r := reply{status: resp.StatusCode, header: resp.Header, body: b}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if dec.Decode(&r.json) != nil {
			r.json = nil
		}
	}
	return r, nil
}

// installState is what the fuzzer knows of one install: what exists, to
// build valid requests from, and the writes it made, to compare with what
// the plugins were told.
type installState struct {
	in      *harness.Install
	slug    string
	other   *installState
	users   []string
	teams   []string
	roles   []string            // roles the fuzzer created
	records map[string][]string // live records by type
	gone    []recordRef         // deleted records
	shares  []shareRef
	delegs  []string
	cursors []string
	// writes counts the record writes that answered 2xx, by operation
	// as after-write events name them.
	writes map[string]int
}

type recordRef struct{ typ, id string }

type shareRef struct{ typ, id, share string }

// recordTypes are the record types.
var recordTypes = []string{"lead", "contact", "account", "opportunity", "activity"}

func newInstallState(in *harness.Install) *installState {
	s := &installState{in: in, slug: in.Slug, records: map[string][]string{}, writes: map[string]int{}}
	s.users = []string{in.Admin.ID, in.Manager.ID, in.Alice.ID, in.Bob.ID}
	s.teams = []string{in.TeamID}
	for _, owner := range []string{"alice", "bob"} {
		for typ, id := range in.Records[owner] {
			s.records[typ] = append(s.records[typ], id)
		}
	}
	s.shares = []shareRef{{"lead", in.Records["alice"]["lead"], in.ShareID}}
	s.delegs = []string{in.DelegationID}
	return s
}

func (s *installState) client(who caller) harness.Client {
	switch who {
	case asAdmin:
		return s.in.Admin
	case asManager:
		return s.in.Manager
	case asAlice:
		return s.in.Alice
	case asBob:
		return s.in.Bob
	case asService:
		return s.in.Service
	}
	return harness.Client{}
}

func (s *installState) forget(typ, id string) {
	ids := s.records[typ]
	for i, x := range ids {
		if x == id {
			s.records[typ] = append(ids[:i:i], ids[i+1:]...)
			s.gone = append(s.gone, recordRef{typ, id})
			return
		}
	}
}

// addCursor keeps a next_cursor an answer gave, to tamper with later.
func (s *installState) addCursor(c string) {
	if c == "" {
		return
	}
	if len(s.cursors) >= 64 {
		s.cursors = s.cursors[1:]
	}
	s.cursors = append(s.cursors, c)
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// decodedSegment is a segment as the server reads it once unescaped.
func decodedSegment(s string) string {
	d, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return d
}

// newRand is the fuzzer's source of choices for a seed.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// tokenFor is the bearer token a caller sends, "" for none.
func (f *fuzzer) tokenFor(q *request) string {
	switch q.who {
	case asNobody:
		return ""
	case asBadToken:
		return "not-a-token-" + randomID(f.r)
	case asOperator:
		return f.operator
	}
	return q.in.client(q.who).Token
}

// authFails reports whether a request's credentials are refused by its
// route: those count against the host's bad-token limiter.
func authFails(a auth, who caller) bool {
	switch a {
	case authNone:
		return false
	case authOperator:
		return who != asOperator
	case authUser:
		return who == asNobody || who == asBadToken || who == asOperator
	}
	return who == asNobody || who == asBadToken || who == asOperator
}

// spendAuthFailure waits, if it must, until one more refused credential
// keeps the host's limiter (a burst of 20, then one a second per address)
// far from refusing the valid tokens that follow: the fuzzer's own bucket
// holds 15 and refills one every 1.1 s. It sleeps rather than skipping, so
// that a seed makes the same choices however fast the host answers.
func (f *fuzzer) spendAuthFailure() {
	const burst, every = 15.0, 1100 * time.Millisecond
	now := time.Now()
	f.authTokens = min(burst, f.authTokens+float64(now.Sub(f.authAt))/float64(every))
	f.authAt = now
	if f.authTokens < 1 {
		wait := time.Duration((1 - f.authTokens) * float64(every))
		time.Sleep(wait)
		f.waited += wait
		f.authTokens, f.authAt = 1, time.Now()
	}
	f.authTokens--
}

// pickCaller chooses who sends a request on a route: for a route of
// administrators, mostly an admin, so that it does more than refuse.
func (f *fuzzer) pickCaller(rt *route) caller {
	n := f.r.IntN(100)
	if rt.admin && n < 60 {
		return asAdmin
	}
	switch rt.auth {
	case authNone:
		return pick(f.r, []caller{asNobody, asNobody, asNobody, asAdmin, asBadToken})
	case authOperator:
		switch {
		case n < 90:
			return asOperator
		case n < 94:
			return asAdmin
		case n < 97:
			return asNobody
		}
		return asBadToken
	case authToken:
		if n < 40 {
			return asService
		}
	}
	switch n = f.r.IntN(1000); {
	case n < 350:
		return asAdmin
	case n < 500:
		return asManager
	case n < 720:
		return asAlice
	case n < 940:
		return asBob
	case n < 992:
		return asService
	case n < 995:
		return asNobody
	case n < 998:
		return asBadToken
	}
	return asOperator
}
