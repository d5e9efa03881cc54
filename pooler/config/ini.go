package config

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"unicode/utf8"
)

// This file reads the syntax of PgBouncer's pgbouncer.ini into entries, the
// way PgBouncer's ini parser (libusual cfparser.c, parse_ini_file) does; what
// the keys mean is inikeys.go's and inidb.go's business.
//
//   - Blank space at the start of a line is skipped; a line whose first other
//     character is ';' or '#' is a comment. ';' and '#' later in a line are
//     part of the value (PgBouncer doc/config.md, "Description").
//   - "[name]" starts a section; what follows the ']' on that line is read as
//     if it started a line (so "[databases] ; comment" works, as in PgBouncer).
//   - "key = value": the key is letters, digits and "_.-*", or any text in
//     single quotes ('my db' = ...); the value is the rest of the line without
//     the blank space around it. It is not unquoted: quotes belong to it.
//   - "%include FILE" reads FILE in place, at most maxIncludeDepth deep (as
//     PgBouncer's MAX_INCLUDE). A relative FILE is taken relative to the
//     directory of the file it is written in; PgBouncer takes it relative to
//     its working directory (doc/config.md, "Include directive"). A file that
//     includes itself, directly or not, is an error.
//   - A section name and a key = value line must be UTF-8 text: config.toml, which
//     `pgpooler convert` writes, can hold nothing else (TOML 1.0, "Spec").
//     PgBouncer takes any bytes; a comment (also after a section name) and an
//     %include's file name may hold any.

// maxIncludeDepth is how deep %include may nest (PgBouncer's MAX_INCLUDE).
const maxIncludeDepth = 10

// maxINIFileSize bounds each file read, in bytes: a configuration is a few
// kilobytes, and an %include of a device or a huge file must not exhaust
// memory.
const maxINIFileSize = 16 << 20

// iniPos is where an entry was written: file and 1-based line.
type iniPos struct {
	file string
	line int
}

func (p iniPos) String() string { return fmt.Sprintf("%s:%d", p.file, p.line) }

// iniEntry is one "key = value" line of a section.
type iniEntry struct {
	pos     iniPos
	section string // the section it is in
	key     string
	value   string
	header  bool // a "[section]" line itself: key and value are empty
}

// iniError is a problem at a place in a pgbouncer.ini file.
type iniError struct {
	pos iniPos
	msg string
}

func (e *iniError) Error() string { return e.pos.String() + ": " + e.msg }

// errorAt makes an iniError.
func errorAt(pos iniPos, format string, args ...any) error {
	return &iniError{pos: pos, msg: fmt.Sprintf(format, args...)}
}

// iniReader reads a file and its includes into entries.
type iniReader struct {
	entries []iniEntry
	section string
	stack   []string // absolute paths of the files being read, outermost first
}

// readINI reads pgbouncer.ini text that came from path ("" for none), with
// the files it includes.
func readINI(data []byte, path string) ([]iniEntry, error) {
	r := &iniReader{}
	if err := r.read(path, data); err != nil {
		return nil, err
	}
	return r.entries, nil
}

// readBounded is os.ReadFile refusing files over maxINIFileSize.
func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil {
		return nil, err
	} else if !st.Mode().IsRegular() { // a FIFO or a device could block or never end
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxINIFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxINIFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxINIFileSize)
	}
	return data, nil
}

// read parses one file's text; path names it in messages.
func (r *iniReader) read(path string, data []byte) error {
	abs, _ := filepath.Abs(path)
	r.stack = append(r.stack, abs)
	defer func() { r.stack = r.stack[:len(r.stack)-1] }()

	name := path
	if name == "" {
		name = "pgbouncer.ini"
	}
	s := string(data)
	line := 1
	i := 0
	for i < len(s) {
		// blank space, including empty lines
		for i < len(s) && isSpace(s[i]) {
			if s[i] == '\n' {
				line++
			}
			i++
		}
		if i >= len(s) {
			break
		}
		pos := iniPos{name, line}
		end := strings.IndexByte(s[i:], '\n')
		if end < 0 {
			end = len(s)
		} else {
			end += i
		}
		rest := s[i:end]
		switch {
		case strings.HasPrefix(rest, "%include") && len(rest) > 8 && isBlank(rest[8]):
			file := strings.TrimSpace(rest[8:])
			if err := r.include(pos, path, file); err != nil {
				return err
			}
			i = end
		case rest[0] == ';' || rest[0] == '#':
			i = end
		case rest[0] == '[':
			close := strings.IndexByte(rest, ']')
			if close < 0 {
				return errorAt(pos, "syntax error: a section name in [ ] has no closing ]")
			}
			if !utf8.ValidString(rest[:close]) {
				return errorAt(pos, "the section name is not UTF-8 text")
			}
			r.section = rest[1:close]
			r.entries = append(r.entries, iniEntry{pos: pos, section: r.section, header: true})
			i += close + 1 // the rest of the line is read as a new line
		default:
			if !utf8.ValidString(rest) {
				return errorAt(pos, "the line is not UTF-8 text")
			}
			key, value, err := splitINILine(rest)
			if err != nil {
				return errorAt(pos, "syntax error: %v", err)
			}
			if r.section == "" {
				return errorAt(pos, "%q is not in a section ([pgbouncer], [databases], [users])", key)
			}
			r.entries = append(r.entries, iniEntry{pos: pos, section: r.section, key: key, value: value})
			i = end
		}
	}
	return nil
}

// include reads file, named in an %include at pos of the file from.
func (r *iniReader) include(pos iniPos, from, file string) error {
	if file == "" {
		return errorAt(pos, "%%include names no file")
	}
	if len(r.stack) > maxIncludeDepth {
		return errorAt(pos, "%%include nested more than %d deep", maxIncludeDepth)
	}
	if !filepath.IsAbs(file) && from != "" {
		file = filepath.Join(filepath.Dir(from), file)
	}
	abs, _ := filepath.Abs(file)
	if slices.Contains(r.stack, abs) {
		return errorAt(pos, "%%include %s: the file includes itself", file)
	}
	data, err := readBounded(file)
	if err != nil {
		return errorAt(pos, "%%include: %v", err)
	}
	return r.read(file, data)
}

// splitINILine reads "key = value" (the key possibly in single quotes) from
// one line.
func splitINILine(s string) (key, value string, err error) {
	var i int
	if s[0] == '\'' {
		close := strings.IndexByte(s[1:], '\'')
		if close < 0 {
			return "", "", fmt.Errorf("a key in ' ' has no closing '")
		}
		if close == 0 {
			return "", "", fmt.Errorf("empty key ''")
		}
		key, i = s[1:close+1], close+2
	} else {
		for i < len(s) && isKeyChar(s[i]) {
			i++
		}
		key = s[:i]
	}
	for i < len(s) && isBlank(s[i]) {
		i++
	}
	if i >= len(s) || s[i] != '=' {
		if key == "" {
			return "", "", fmt.Errorf("expected key = value")
		}
		return "", "", fmt.Errorf("expected = after %q", key)
	}
	if key == "" {
		return "", "", fmt.Errorf("a line starts with = and has no key")
	}
	return key, strings.TrimSpace(s[i+1:]), nil
}

// isKeyChar is what an unquoted key is made of (PgBouncer: isalnum or "_.-*").
func isKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("_.-*", c) >= 0
}

// isSpace is C's isspace in the C locale.
func isSpace(c byte) bool { return c == ' ' || c >= '\t' && c <= '\r' }

// isBlank is C's isblank: space or tab.
func isBlank(c byte) bool { return c == ' ' || c == '\t' }
