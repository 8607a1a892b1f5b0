package watchjson

// The scanner finds the top-level members of a JSON object without
// decoding their values: it only matches brackets and skips strings. It
// validates nothing a later full decode checks anyway; whatever it does not
// recognise (an escape in a key or a wanted value, a stray byte) it reports
// as not simple, and the caller takes apimachinery's path.

// member is one top-level member of an object: its key's raw bytes (no
// escapes) and its value's span.
type member struct {
	key        []byte
	start, end int
}

// members calls fn for each top-level member of the object in data, in
// order. It reports false when data is not a plain object it can read (fn
// may have been called for some members by then).
func members(data []byte, fn func(m member) bool) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipSpace(data, i+1) == len(data)
	}
	for i < len(data) {
		key, next, ok := plainString(data, i)
		if !ok {
			return false
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		start := skipSpace(data, i+1)
		end, ok := skipValue(data, start)
		if !ok || !fn(member{key: key, start: start, end: end}) {
			return false
		}
		i = skipSpace(data, end)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return skipSpace(data, i+1) == len(data)
		default:
			return false
		}
	}
	return false
}

// plainString reads the string at data[i] if it has no escapes: its
// content and the index after its closing quote.
func plainString(data []byte, i int) ([]byte, int, bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			return nil, 0, false
		case '"':
			return data[i+1 : j], j + 1, true
		}
	}
	return nil, 0, false
}

// skipValue returns the index after the value starting at data[i]: an
// object or array to its matching bracket, a string to its closing quote,
// anything else (a number, true, false, null) to the next delimiter.
func skipValue(data []byte, i int) (int, bool) {
	if i >= len(data) {
		return 0, false
	}
	switch data[i] {
	case '{', '[':
		var b brackets
		if end := b.scan(data[i:]); end >= 0 {
			return i + end, true
		}
		return 0, false
	case '"':
		return skipString(data, i)
	case ',', '}', ']', ':':
		return 0, false
	}
	j := i
	for j < len(data) && !isDelimiter(data[j]) {
		j++
	}
	return j, true
}

// skipString returns the index after the string starting at data[i].
func skipString(data []byte, i int) (int, bool) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++ // the escaped byte; a \u's hex digits are plain bytes
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

func isDelimiter(b byte) bool {
	switch b {
	case ',', '}', ']', ' ', '\t', '\n', '\r':
		return true
	}
	return false
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// brackets matches an object's or array's brackets, across as many chunks
// as it comes in: strings (and their escapes) are skipped, nothing else is
// checked.
type brackets struct {
	depth            int
	inString, escape bool
}

// scan reads the next chunk of the value and returns the index after the
// bracket that closes it, or -1 when the chunk ends first.
func (s *brackets) scan(chunk []byte) int {
	for i, c := range chunk {
		switch {
		case s.inString:
			switch {
			case s.escape:
				s.escape = false
			case c == '\\':
				s.escape = true
			case c == '"':
				s.inString = false
			}
		case c == '"':
			s.inString = true
		case c == '{' || c == '[':
			s.depth++
		case c == '}' || c == ']':
			if s.depth--; s.depth == 0 {
				return i + 1
			}
		}
	}
	return -1
}
