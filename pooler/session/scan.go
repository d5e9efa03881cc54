package session

import "strings"

// splitStatements splits sql at top-level semicolons into statements, each as its first 4 words
// (identifiers, keywords, double-quoted identifiers kept with their quotes); string literals and dollar
// quotes count as one word ("'" and "$"), comments are skipped.
func splitStatements(sql string) [][]string { return splitStatementsN(sql, 4) }

// splitStatementsN is splitStatements keeping up to maxWords words of each statement.
func splitStatementsN(sql string, maxWords int) [][]string {
	var out [][]string
	var cur []string
	word := strings.Builder{}
	flush := func() {
		if word.Len() > 0 {
			if len(cur) < maxWords {
				cur = append(cur, word.String())
			}
			word.Reset()
		}
	}
	for i := 0; i < len(sql); i++ {
		c := sql[i]
		switch {
		case c == ';':
			flush()
			out = append(out, cur)
			cur = nil
		case c == '-' && i+1 < len(sql) && sql[i+1] == '-':
			flush()
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(sql) && sql[i+1] == '*':
			flush()
			depth := 0
			for ; i+1 < len(sql); i++ {
				if sql[i] == '/' && sql[i+1] == '*' {
					depth++
					i++
				} else if sql[i] == '*' && sql[i+1] == '/' {
					depth--
					i++
					if depth == 0 {
						break
					}
				}
			}
		case c == '\'':
			escapes := word.String() == "E" || word.String() == "e" // E'...': backslash escapes
			flush()
			for i++; i < len(sql); i++ {
				if escapes && sql[i] == '\\' {
					i++
					continue
				}
				if sql[i] == '\'' {
					if i+1 < len(sql) && sql[i+1] == '\'' {
						i++
						continue
					}
					break
				}
			}
			if len(cur) < maxWords {
				cur = append(cur, "'")
			}
		case c == '"':
			start := i
			for i++; i < len(sql) && sql[i] != '"'; i++ {
			}
			word.WriteString(sql[start:min(i+1, len(sql))])
		case c == '$' && word.Len() == 0:
			end := strings.IndexByte(sql[i+1:], '$')
			tag := ""
			if end >= 0 {
				tag = sql[i : i+end+2]
			}
			if tag == "" || !validDollarTag(tag) {
				word.WriteByte(c)
				continue
			}
			flush()
			close := strings.Index(sql[i+len(tag):], tag)
			if close < 0 {
				i = len(sql)
			} else {
				i += len(tag) + close + len(tag) - 1
			}
			if len(cur) < maxWords {
				cur = append(cur, "$")
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '=' || c == ',' || c == '(' || c == ')':
			flush()
		default:
			word.WriteByte(c)
		}
	}
	flush()
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// validDollarTag reports whether tag ("$$" or "$name$") opens a dollar-quoted string.
func validDollarTag(tag string) bool {
	for _, r := range tag[1 : len(tag)-1] {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r >= 0x80) {
			return false
		}
	}
	return tag[1] < '0' || tag[1] > '9'
}

// paramName turns an identifier word (possibly dotted, possibly double-quoted) into a lower-case
// parameter name.
func paramName(word string) string {
	return strings.ToLower(strings.ReplaceAll(word, `"`, "")) // parameter names are case-insensitive
}

// containsFold reports whether s contains sub (lower-case ASCII) in any case, without allocating.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}
