package gateway

import (
	"fmt"
	"unicode/utf8"
)

// scanner walks a JSON document in place. It exists because the gateway's
// requests are mostly long arrays of numbers: a general decoder builds
// values through reflection and boxes each number, while this one records
// where things are and lets the typed tensor parser read them once, straight
// into the tensor's memory.
type scanner struct {
	b []byte
	i int
}

// maxDepth bounds nesting, so a body of a million '[' cannot exhaust the
// stack. Tensors have at most 16 dimensions; parameters rarely nest at all.
const maxDepth = 64

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// peek returns the next non-space byte, or 0 at the end.
func (s *scanner) peek() byte {
	s.ws()
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

func (s *scanner) errf(format string, args ...any) error {
	return &requestError{msg: fmt.Sprintf("malformed JSON at byte %d: ", s.i) + fmt.Sprintf(format, args...)}
}

func (s *scanner) expect(c byte) error {
	if s.peek() != c {
		return s.errf("expected '%c', found %s", c, s.found())
	}
	s.i++
	return nil
}

// found describes what sits at the cursor, for error messages.
func (s *scanner) found() string {
	if s.i >= len(s.b) {
		return "end of input"
	}
	end := min(s.i+12, len(s.b))
	return fmt.Sprintf("%q", s.b[s.i:end])
}

// str reads a string at the cursor and returns its contents. Escapes are
// decoded in place: a decoded string is never longer than its escaped
// form, so the body buffer has room, and nothing is allocated.
func (s *scanner) str() ([]byte, error) {
	if s.peek() != '"' {
		return nil, s.errf("expected a string, found %s", s.found())
	}
	s.i++
	start := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		if c == '"' {
			out := s.b[start:s.i]
			s.i++
			return out, nil
		}
		if c == '\\' {
			return s.unescape(start)
		}
		if c < 0x20 {
			return nil, s.errf("control character 0x%02x in string", c)
		}
		s.i++
	}
	return nil, s.errf("unterminated string")
}

func (s *scanner) unescape(start int) ([]byte, error) {
	w := s.i
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start:w], nil
		case c < 0x20:
			return nil, s.errf("control character 0x%02x in string", c)
		case c != '\\':
			s.b[w] = c
			w++
			s.i++
			continue
		}
		if s.i+1 >= len(s.b) {
			break
		}
		e := s.b[s.i+1]
		s.i += 2
		var r byte
		switch e {
		case '"', '\\', '/':
			r = e
		case 'b':
			r = '\b'
		case 'f':
			r = '\f'
		case 'n':
			r = '\n'
		case 'r':
			r = '\r'
		case 't':
			r = '\t'
		case 'u':
			cp, ok := s.hex4()
			if !ok {
				return nil, s.errf(`invalid \u escape`)
			}
			if cp >= 0xd800 && cp < 0xdc00 {
				// A high surrogate pairs with a following \u low
				// surrogate. Otherwise it stands alone and becomes U+FFFD,
				// and whatever follows is read on its own.
				hi := cp
				cp = utf8.RuneError
				if s.i+1 < len(s.b) && s.b[s.i] == '\\' && s.b[s.i+1] == 'u' {
					s.i += 2
					lo, ok := s.hex4()
					if !ok {
						return nil, s.errf(`invalid \u escape`)
					}
					if lo >= 0xdc00 && lo < 0xe000 {
						cp = 0x10000 + (hi-0xd800)<<10 + (lo - 0xdc00)
					} else {
						s.i -= 6
					}
				}
			} else if cp >= 0xdc00 && cp < 0xe000 {
				cp = utf8.RuneError
			}
			w += utf8.EncodeRune(s.b[w:], rune(cp))
			continue
		default:
			return nil, s.errf(`invalid escape '\%c'`, e)
		}
		s.b[w] = r
		w++
	}
	return nil, s.errf("unterminated string")
}

func (s *scanner) hex4() (uint32, bool) {
	if s.i+4 > len(s.b) {
		return 0, false
	}
	var v uint32
	for _, c := range s.b[s.i : s.i+4] {
		v <<= 4
		switch {
		case c >= '0' && c <= '9':
			v |= uint32(c - '0')
		case c >= 'a' && c <= 'f':
			v |= uint32(c - 'a' + 10)
		case c >= 'A' && c <= 'F':
			v |= uint32(c - 'A' + 10)
		default:
			return 0, false
		}
	}
	s.i += 4
	return v, true
}

// number reads a JSON number token (strict grammar: no leading '+', no
// leading zeros, digits on both sides of '.') and returns it. The literals
// NaN, Infinity and -Infinity, which Python's json and Triton's RapidJSON
// write for non-finite floats, are accepted as numbers too; the typed
// parsers decide whether the tensor's type can hold them.
func (s *scanner) number() ([]byte, error) {
	s.ws()
	start := s.i
	b := s.b
	i := s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i < len(b) && (b[i] == 'N' || b[i] == 'I') {
		lit := "Infinity"
		if b[i] == 'N' {
			lit = "NaN"
		}
		if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit || (lit == "NaN" && i > start) {
			s.i = start
			return nil, s.errf("expected a number, found %s", s.found())
		}
		s.i = i + len(lit)
		return b[start:s.i], nil
	}
	digits := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	if i == digits || (b[digits] == '0' && i-digits > 1) {
		s.i = start
		return nil, s.errf("expected a number, found %s", s.found())
	}
	if i < len(b) && b[i] == '.' {
		i++
		f := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == f {
			s.i = start
			return nil, s.errf("expected digits after '.', found %s", s.found())
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		f := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == f {
			s.i = start
			return nil, s.errf("expected an exponent, found %s", s.found())
		}
	}
	s.i = i
	return b[start:i], nil
}

// object reads the object at the cursor, calling member for each key
// with the cursor on its value; what names the object in errors.
func (s *scanner) object(what string, member func(key []byte) error) error {
	if err := s.expect('{'); err != nil {
		return err
	}
	if s.peek() == '}' {
		s.i++
		return nil
	}
	for {
		key, err := s.str()
		if err != nil {
			return err
		}
		if err := s.expect(':'); err != nil {
			return err
		}
		if err := member(key); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.errf("expected ',' or '}' in %s, found %s", what, s.found())
		}
	}
}

// array reads the array at the cursor, calling element with the cursor on
// each element.
func (s *scanner) array(what string, element func() error) error {
	if err := s.expect('['); err != nil {
		return err
	}
	if s.peek() == ']' {
		s.i++
		return nil
	}
	for {
		if err := element(); err != nil {
			return err
		}
		switch s.peek() {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.errf("expected ',' or ']' in %s, found %s", what, s.found())
		}
	}
}

// skip reads any JSON value and checks its syntax, keeping nothing.
func (s *scanner) skip(depth int) error {
	if depth > maxDepth {
		return s.errf("nesting deeper than %d", maxDepth)
	}
	switch s.peek() {
	case '{':
		return s.object("an object", func([]byte) error { return s.skip(depth + 1) })
	case '[':
		return s.array("an array", func() error { return s.skip(depth + 1) })
	case '"':
		_, err := s.str()
		return err
	case 't':
		return s.literal("true")
	case 'f':
		return s.literal("false")
	case 'n':
		return s.literal("null")
	}
	_, err := s.number()
	return err
}

func (s *scanner) literal(lit string) error {
	if len(s.b)-s.i >= len(lit) && string(s.b[s.i:s.i+len(lit)]) == lit {
		s.i += len(lit)
		return nil
	}
	return s.errf("expected %s, found %s", lit, s.found())
}

// skipString finds the end of the string at the cursor without decoding
// it; the string is read properly later.
func (s *scanner) skipString() error {
	b := s.b
	for i := s.i + 1; i < len(b); i++ {
		switch b[i] {
		case '"':
			s.i = i + 1
			return nil
		case '\\':
			i++
		}
	}
	s.i = len(b)
	return s.errf("unterminated string")
}

// skipArray finds the end of the array at the cursor without checking the
// syntax of its elements: tensor data is read again by the typed parser,
// which checks every token, so checking here too would scan each byte of
// the largest part of the body twice.
func (s *scanner) skipArray() error {
	depth := 0
	b := s.b
	for i := s.i; i < len(b); i++ {
		switch b[i] {
		case '[':
			depth++
			if depth > maxDepth {
				s.i = i
				return s.errf("nesting deeper than %d", maxDepth)
			}
		case ']':
			depth--
			if depth == 0 {
				s.i = i + 1
				return nil
			}
		case '"':
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
		}
	}
	s.i = len(b)
	return s.errf("unterminated array")
}
