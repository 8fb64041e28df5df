package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/http"
)

// The fast path's parsers (fastpath.go). The request parser is strict: it
// accepts only the plain requests the fast path serves and reports anything
// else — another method, a body, an upgrade, an odd byte — as "not mine", so
// that net/http answers it as it always has (400 included). The response
// parser reads what instances send back; what it cannot make sense of is a
// 502, as with httputil.ReverseProxy.

// reqHead is a request the fast path serves. Its slices point into the head
// it was parsed from.
type reqHead struct {
	method    string
	host      []byte // the Host header's value
	path      []byte // the target up to '?' (never percent-encoded)
	closeConn bool   // the client sent Connection: close
	// out is the head for the instance, the final CRLF and X-Forwarded-*
	// not yet added: the request line and the client's headers less the
	// hop-by-hop ones and Forwarded/X-Forwarded-*, as the handler's
	// ReverseProxy (with Rewrite and SetXForwarded) sends it.
	out []byte
}

// Request headers the fast path looks at, by what it does with them.
const (
	hdrForward = iota
	hdrDrop    // hop-by-hop, or X-Forwarded-* that the gateway sets itself
	hdrNotMine // a body, an upgrade or 100-continue: net/http's
	hdrHost
	hdrContentLength
	hdrConnection
	hdrTE
)

var requestHeaders = []struct {
	name string
	kind int
}{
	{"host", hdrHost},
	{"content-length", hdrContentLength},
	{"connection", hdrConnection},
	{"te", hdrTE},
	{"keep-alive", hdrDrop},
	{"proxy-connection", hdrDrop},
	{"proxy-authenticate", hdrDrop},
	{"proxy-authorization", hdrDrop},
	{"forwarded", hdrDrop},
	{"x-forwarded-for", hdrDrop},
	{"x-forwarded-host", hdrDrop},
	{"x-forwarded-proto", hdrDrop},
	{"transfer-encoding", hdrNotMine},
	{"upgrade", hdrNotMine},
	{"expect", hdrNotMine},
	{"trailer", hdrNotMine},
	{"http2-settings", hdrNotMine},
}

func requestHeaderKind(name []byte) int {
	for _, h := range requestHeaders {
		if len(h.name) == len(name) && equalFold(name, h.name) {
			return h.kind
		}
	}
	return hdrForward
}

// parseRequest parses head, a request head up to and including its empty
// line, into h. It reports false for anything the fast path leaves to
// net/http.
func parseRequest(head []byte, h *reqHead) bool {
	*h = reqHead{out: h.out[:0]}
	line, rest, ok := cutLine(head)
	if !ok {
		return false
	}
	method, rl, _ := bytes.Cut(line, []byte{' '})
	switch string(method) {
	case http.MethodGet:
		h.method = http.MethodGet
	case http.MethodHead:
		h.method = http.MethodHead
	case http.MethodOptions:
		h.method = http.MethodOptions
	default:
		return false
	}
	target, proto, ok := bytes.Cut(rl, []byte{' '})
	if !ok || string(proto) != "HTTP/1.1" || len(target) == 0 || target[0] != '/' {
		return false
	}
	h.path = target
	for i, c := range target {
		switch {
		case c <= ' ' || c >= 0x7f || c == '#':
			return false
		case c == '?' && len(h.path) == len(target):
			h.path = target[:i]
		}
	}
	if bytes.IndexByte(h.path, '%') >= 0 {
		return false // routes match the decoded path; net/http decodes
	}
	h.out = append(append(h.out, line...), "\r\n"...)
	teTrailers := false
	for {
		if line, rest, ok = cutLine(rest); !ok {
			return false
		}
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok || !isToken(name) {
			return false
		}
		value = trimOWS(value)
		if !validFieldValue(value) {
			return false
		}
		switch requestHeaderKind(name) {
		case hdrNotMine:
			return false
		case hdrDrop:
			continue
		case hdrHost:
			if h.host != nil || !validHost(value) {
				return false
			}
			h.host = value
		case hdrContentLength:
			if string(value) != "0" {
				return false
			}
			continue // a GET with no body is sent without one
		case hdrConnection:
			for tok := range bytes.SplitSeq(value, []byte{','}) {
				switch tok = trimOWS(tok); {
				case equalFold(tok, "close"):
					h.closeConn = true
				case len(tok) == 0 || equalFold(tok, "keep-alive"):
				default:
					return false // names other hop-by-hop headers, or upgrades
				}
			}
			continue
		case hdrTE:
			teTrailers = teTrailers || hasToken(value, "trailers")
			continue
		}
		h.out = append(append(h.out, line...), "\r\n"...)
	}
	if len(h.host) == 0 || len(rest) != 0 {
		return false
	}
	if teTrailers {
		h.out = append(h.out, "Te: trailers\r\n"...)
	}
	return true
}

// cutLine cuts a CRLF-terminated line off b. A bare LF or a folded line
// (one that starts with a space) is not the fast path's.
func cutLine(b []byte) (line, rest []byte, ok bool) {
	i := bytes.IndexByte(b, '\n')
	if i < 1 || b[i-1] != '\r' {
		return nil, nil, false
	}
	line = b[:i-1]
	if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') {
		return nil, nil, false
	}
	return line, b[i+1:], true
}

func trimOWS(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// isToken reports whether b is a non-empty RFC 9110 token (a field name).
func isToken(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validFieldValue reports whether a field value has no control characters
// but tab (obs-text, bytes ≥ 0x80, is allowed as net/http allows it).
func validFieldValue(b []byte) bool {
	for _, c := range b {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// validHost accepts a host name, an IPv4 or bracketed IPv6 address, and a
// port; anything else goes to net/http, which knows the finer rules.
func validHost(b []byte) bool {
	for _, c := range b {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.' || c == '-' || c == ':' || c == '[' || c == ']' || c == '_':
		default:
			return false
		}
	}
	return true
}

// equalFold compares b with lower, which is in lower case, ignoring ASCII
// case.
func equalFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// hasToken reports whether the comma-separated list v holds tok (lower
// case), ignoring case.
func hasToken(v []byte, tok string) bool {
	for t := range bytes.SplitSeq(v, []byte{','}) {
		if t = trimOWS(t); equalFold(t, tok) {
			return true
		}
	}
	return false
}

// respHead is an instance's answer head, parsed.
type respHead struct {
	code int
	// lines are the header lines to pass on, each ending in CRLF.
	lines         []byte
	contentLength int64 // -1: not given
	chunked       bool
	close         bool // the instance closes the connection after this answer
	hasDate       bool
	hasType       bool
}

// errBadAnswer is an answer the gateway cannot read (a 502).
var errBadAnswer = errors.New("malformed answer from the instance")

// maxAnswerHead bounds an answer's head, as http.Transport's default
// MaxResponseHeaderBytes does.
const maxAnswerHead = 10 << 20

// readHeadInto appends the head of a message read from br, up to and
// including its empty line, to buf.
func readHeadInto(br *bufio.Reader, buf []byte) ([]byte, error) {
	start := len(buf)
	for {
		line, err := br.ReadSlice('\n')
		buf = append(buf, line...)
		switch {
		case err == bufio.ErrBufferFull:
		case err != nil:
			return buf, err
		case len(line) <= 2 && (string(line) == "\r\n" || string(line) == "\n"):
			return buf, nil
		}
		if len(buf)-start > maxAnswerHead {
			return buf, fmt.Errorf("%w: head longer than %d bytes", errBadAnswer, maxAnswerHead)
		}
	}
}

// Response headers the fast path passes on as they are, drops (hop by hop),
// or reads.
var responseHopHeaders = []string{"connection", "proxy-connection", "keep-alive", "proxy-authenticate",
	"proxy-authorization", "te", "trailer", "transfer-encoding", "upgrade"}

// parseResponse parses head, an answer's head, into h; its slices point
// into head. Like http.ReadResponse it takes LF line ends too.
func parseResponse(head []byte, h *respHead) error {
	*h = respHead{lines: h.lines[:0], contentLength: -1}
	line, rest := nextLine(head)
	var minor byte
	switch {
	case len(line) >= 12 && string(line[:7]) == "HTTP/1." && (line[7] == '0' || line[7] == '1') && line[8] == ' ':
		minor = line[7]
	default:
		return fmt.Errorf("%w: status line %q", errBadAnswer, truncate(string(line), 64))
	}
	status := line[9:] // the code and the reason
	for _, c := range status[:3] {
		if c < '0' || c > '9' {
			return fmt.Errorf("%w: status line %q", errBadAnswer, truncate(string(line), 64))
		}
		h.code = h.code*10 + int(c-'0')
	}
	if h.code < 100 || (len(status) > 3 && status[3] != ' ') {
		return fmt.Errorf("%w: status line %q", errBadAnswer, truncate(string(line), 64))
	}
	keepAlive := false
	// First pass: framing, and the names the Connection header lists.
	var connTokens [][]byte
	for b := rest; ; {
		line, b = nextLine(b)
		if len(line) == 0 {
			break
		}
		name, value, ok := bytes.Cut(line, []byte{':'})
		if !ok || !isToken(name) {
			return fmt.Errorf("%w: header line %q", errBadAnswer, truncate(string(line), 64))
		}
		value = trimOWS(value)
		switch {
		case equalFold(name, "content-length"):
			n, ok := parseLength(value)
			if !ok || (h.contentLength >= 0 && n != h.contentLength) {
				return fmt.Errorf("%w: Content-Length %q", errBadAnswer, truncate(string(value), 64))
			}
			h.contentLength = n
		case equalFold(name, "transfer-encoding"):
			if !equalFold(value, "chunked") || h.chunked {
				return fmt.Errorf("%w: Transfer-Encoding %q", errBadAnswer, truncate(string(value), 64))
			}
			h.chunked = true
		case equalFold(name, "connection"):
			for tok := range bytes.SplitSeq(value, []byte{','}) {
				switch tok = trimOWS(tok); {
				case equalFold(tok, "close"):
					h.close = true
				case equalFold(tok, "keep-alive"):
					keepAlive = true
				case len(tok) > 0:
					connTokens = append(connTokens, tok)
				}
			}
		case equalFold(name, "date"):
			h.hasDate = true
		case equalFold(name, "content-type"):
			h.hasType = true
		}
	}
	if minor == '0' && !keepAlive {
		h.close = true
	}
	if h.chunked {
		h.contentLength = -1
	}
	// Second pass: the lines to pass on.
	for b := rest; ; {
		line, b = nextLine(b)
		if len(line) == 0 {
			break
		}
		name, _, _ := bytes.Cut(line, []byte{':'})
		if dropResponseHeader(name, connTokens) {
			continue
		}
		h.lines = append(append(h.lines, line...), "\r\n"...)
	}
	return nil
}

func dropResponseHeader(name []byte, connTokens [][]byte) bool {
	for _, hop := range responseHopHeaders {
		if equalFold(name, hop) {
			return true
		}
	}
	for _, tok := range connTokens {
		if bytes.EqualFold(name, tok) {
			return true
		}
	}
	return false
}

// nextLine cuts a line ending in LF or CRLF off b.
func nextLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return b, nil
	}
	line, rest = b[:i], b[i+1:]
	if len(line) > 0 && line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
	}
	return line, rest
}

// parseLength parses a Content-Length value.
func parseLength(b []byte) (int64, bool) {
	if len(b) == 0 || len(b) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// parseChunkSize parses a chunk-size line (without its line end), ignoring
// chunk extensions.
func parseChunkSize(line []byte) (int64, bool) {
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = trimOWS(line)
	if len(line) == 0 || len(line) > 15 {
		return 0, false
	}
	var n int64
	for _, c := range line {
		switch {
		case '0' <= c && c <= '9':
			n = n<<4 | int64(c-'0')
		case 'a' <= c && c <= 'f':
			n = n<<4 | int64(c-'a'+10)
		case 'A' <= c && c <= 'F':
			n = n<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return n, true
}
