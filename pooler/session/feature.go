package session

import (
	"bytes"
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgproto3"
	"github.com/pgpooler/pgpooler/pgwire"
)

// Session-only features in transaction and statement mode (pgpooler's own key reject_session_features;
// PgBouncer documents the same list as unsupported in transaction pooling, doc/features.md).
//
// Some statements leave state in the server's session that outlives the transaction: the pooler cannot
// carry it to the client's next server, and it stays behind on a server other clients get. With
// reject_session_features the client gets an ERROR 0A000 instead. The statement is replaced by a
// sentinel that fails on the server (a syntax error naming the feature), so that the error takes the
// statement's place in the protocol exactly as PostgreSQL's own would: in order, aborting the
// transaction, making the server skip to Sync. The relay turns the sentinel's error into the message.

// Feature is a kind of statement whose effect outlives the transaction.
type Feature uint8

// The session-only features FindFeature detects.
const (
	FeatureNone         Feature = iota // none: the statement may run in any pool mode
	FeatureListen                      // LISTEN
	FeatureAdvisoryLock                // a session-level advisory lock
	FeatureTempTable                   // a temporary relation that outlives the transaction
	FeatureHoldCursor                  // DECLARE ... WITH HOLD
	FeatureLoad                        // LOAD
	featureCount
)

// featureStatement names each feature as the client wrote it, for the error message.
var featureStatement = [featureCount]string{
	FeatureListen:       "LISTEN",
	FeatureAdvisoryLock: "a session-level advisory lock",
	FeatureTempTable:    "a temporary table, view or sequence that outlives the transaction",
	FeatureHoldCursor:   "DECLARE ... WITH HOLD",
	FeatureLoad:         "LOAD",
}

// featureHint says what works instead.
var featureHint = [featureCount]string{
	FeatureListen:       "Use a database with pool_mode = session for LISTEN.",
	FeatureAdvisoryLock: "Use pg_advisory_xact_lock (released at the end of the transaction), or pool_mode = session.",
	FeatureTempTable:    "Use CREATE TEMP TABLE ... ON COMMIT DROP, or pool_mode = session.",
	FeatureHoldCursor:   "Use a cursor without HOLD inside the transaction, or pool_mode = session.",
	FeatureLoad:         "Load the library for every session (session_preload_libraries), or use pool_mode = session.",
}

// rejectSentinel starts the query text sent in place of a rejected statement, followed by the feature's
// number: PostgreSQL answers it with 42601 `syntax error at or near "pgpooler_session_feature_N"`.
const rejectSentinel = "pgpooler_session_feature_"

// MayUseFeature is a quick test, without allocating, for query texts worth scanning: those that
// contain the word "listen", "load", "temp", "temporary" or "hold", or "advisory" not inside a word of
// letters and digits, in any case. A word here is not preceded or followed by a letter, digit or
// underscore, so that column names such as payload, threshold or template do not make FindFeature run;
// FindFeature's words (splitStatementsN) end only at fewer characters than that, so a statement it finds
// is never skipped. "advisory" may follow an underscore or a quote (pg_advisory_lock, pg_"advisory_lock").
// It looks at each byte once, and at a keyword only where a word starts.
func MayUseFeature(text []byte) bool {
	inWord := false // text[i-1] is a letter, digit or underscore
	prev := byte(' ')
	for i := 0; i+4 <= len(text); i++ {
		b := text[i]
		if !inWord {
			switch b | 0x20 {
			case 'l':
				if wordAt(text, i, "listen") || wordAt(text, i, "load") {
					return true
				}
			case 't':
				if wordAt(text, i, "temp") || wordAt(text, i, "temporary") {
					return true
				}
			case 'h':
				if wordAt(text, i, "hold") {
					return true
				}
			}
		}
		if b|0x20 == 'a' && (prev == '_' || !inWord) && foldAt(text, i, "advisory") {
			return true
		}
		prev, inWord = b, wordBytes[b]
	}
	return false
}

// foldAt reports whether text holds word (lower-case ASCII letters) at i, in any case.
func foldAt(text []byte, i int, word string) bool {
	if i+len(word) > len(text) {
		return false
	}
	for k := 0; k < len(word); k++ {
		if text[i+k]|0x20 != word[k] {
			return false
		}
	}
	return true
}

// wordAt reports whether text holds word (lower-case ASCII letters) at i, in any case, not followed by
// a letter, digit or underscore (the caller has checked what precedes it).
func wordAt(text []byte, i int, word string) bool {
	end := i + len(word)
	return foldAt(text, i, word) && (end == len(text) || !isWordByte(text[end]))
}

// isWordByte reports whether b is an ASCII letter, digit or underscore.
func isWordByte(b byte) bool { return wordBytes[b] }

// wordBytes is isWordByte's table.
var wordBytes = func() (t [256]bool) {
	for b := range 256 {
		t[b] = b == '_' || '0' <= b && b <= '9' || 'a' <= b|0x20 && b|0x20 <= 'z'
	}
	return t
}()

// FindFeature returns the first session-only feature used by a statement of sql (a Query's or a
// Parse's text), or FeatureNone:
//   - LISTEN;
//   - pg_advisory_lock, pg_advisory_lock_shared, pg_try_advisory_lock, pg_try_advisory_lock_shared
//     (the _xact_ variants end with the transaction and are allowed);
//   - CREATE TEMP|TEMPORARY TABLE without ON COMMIT DROP, CREATE TEMP VIEW or SEQUENCE, and
//     SELECT ... INTO TEMP;
//   - DECLARE ... WITH HOLD;
//   - LOAD (a library loaded into that server's session only).
//
// Words inside string literals, dollar quotes and comments do not count, nor do function bodies.
func FindFeature(sql string) Feature {
	for _, w := range splitStatementsN(sql, 1<<20) {
		if len(w) == 0 {
			continue
		}
		first := strings.ToLower(w[0])
		switch first {
		case "listen":
			return FeatureListen
		case "load":
			return FeatureLoad
		case "declare":
			for i := 1; i+1 < len(w) && !strings.EqualFold(w[i], "for"); i++ {
				if strings.EqualFold(w[i], "with") && strings.EqualFold(w[i+1], "hold") {
					return FeatureHoldCursor
				}
			}
		case "create":
			if createsSessionTemp(w[1:]) {
				return FeatureTempTable
			}
		}
		for i, word := range w {
			if isSessionAdvisoryLock(word) {
				return FeatureAdvisoryLock
			}
			if first == "select" && strings.EqualFold(word, "into") && selectsIntoTemp(w[i+1:]) {
				return FeatureTempTable
			}
		}
	}
	return FeatureNone
}

// createsSessionTemp reports whether the words after CREATE make a temporary relation that outlives the
// transaction: a temporary table without ON COMMIT DROP, or a temporary view or sequence.
func createsSessionTemp(w []string) bool {
	if len(w) >= 2 && strings.EqualFold(w[0], "or") && strings.EqualFold(w[1], "replace") {
		w = w[2:]
	}
	if len(w) > 0 && (strings.EqualFold(w[0], "global") || strings.EqualFold(w[0], "local")) {
		w = w[1:]
	}
	if len(w) < 2 || !(strings.EqualFold(w[0], "temp") || strings.EqualFold(w[0], "temporary")) {
		return false
	}
	switch strings.ToLower(w[1]) {
	case "view", "sequence", "recursive":
		return true
	case "table":
		for i := 2; i+2 < len(w); i++ {
			if strings.EqualFold(w[i], "on") && strings.EqualFold(w[i+1], "commit") && strings.EqualFold(w[i+2], "drop") {
				return false
			}
		}
		return true
	}
	return false
}

// selectsIntoTemp reports whether the words after a SELECT's INTO name a temporary table to create.
func selectsIntoTemp(w []string) bool {
	if len(w) > 0 && (strings.EqualFold(w[0], "global") || strings.EqualFold(w[0], "local")) {
		w = w[1:]
	}
	return len(w) >= 2 && (strings.EqualFold(w[0], "temp") || strings.EqualFold(w[0], "temporary")) &&
		!strings.EqualFold(w[1], "from")
}

// isSessionAdvisoryLock reports whether word (possibly schema-qualified or quoted) is one of the
// functions taking a session-level advisory lock.
func isSessionAdvisoryLock(word string) bool {
	if !strings.Contains(strings.ToLower(word), "advisory") {
		return false
	}
	name := paramName(word)
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		name = name[i+1:]
	}
	switch name {
	case "pg_advisory_lock", "pg_advisory_lock_shared", "pg_try_advisory_lock", "pg_try_advisory_lock_shared":
		return true
	}
	return false
}

// RejectQuery returns the Query message (with its header) sent in place of one using feature f.
func RejectQuery(f Feature) []byte {
	return frame('Q', []byte(rejectSentinel+strconv.Itoa(int(f))+"\x00"))
}

// RejectParse returns the Parse message sent in place of one using feature f: under the unnamed
// statement when the client's was unnamed (a failed Parse drops it, as the client's would have), else
// under a name that never exists (a failed Parse creates nothing).
func RejectParse(f Feature, unnamed bool) []byte {
	name := rejectSentinel + "stmt"
	if unnamed {
		name = ""
	}
	return frame('P', []byte(name+"\x00"+rejectSentinel+strconv.Itoa(int(f))+"\x00\x00\x00"))
}

// RejectedError turns the server's error for a rejected statement's sentinel (msg, an ErrorResponse
// message with its header) into the client's ERROR 0A000 feature_not_supported naming mode (the pool
// mode, "transaction" or "statement"); any other message is returned unchanged.
func RejectedError(msg []byte, mode string) []byte {
	if !bytes.Contains(msg, []byte(rejectSentinel)) {
		return msg
	}
	var er pgproto3.ErrorResponse
	if err := er.Decode(msg[pgwire.HeaderSize:]); err != nil || er.Code != pgerrcode.SyntaxError {
		return msg
	}
	i := strings.Index(er.Message, rejectSentinel)
	if i < 0 {
		return msg
	}
	digits := er.Message[i+len(rejectSentinel):]
	if j := strings.IndexByte(digits, '"'); j >= 0 {
		digits = digits[:j]
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n <= int(FeatureNone) || n >= int(featureCount) {
		return msg
	}
	f := Feature(n)
	e := pgwire.NewError(pgerrcode.FeatureNotSupported, "%s is not supported in %s pooling mode", featureStatement[f], mode)
	e.Detail = "pgpooler lends this client's server to other clients after each transaction, and what the statement leaves in the session would stay behind on that server (reject_session_features = true)."
	e.Hint = featureHint[f]
	return e.AppendTo(nil)
}

// frame builds a message: type byte, length, body.
func frame(typ byte, body []byte) []byte {
	msg := make([]byte, pgwire.HeaderSize+len(body))
	msg[0] = typ
	binary.BigEndian.PutUint32(msg[1:], uint32(4+len(body)))
	copy(msg[pgwire.HeaderSize:], body)
	return msg
}
