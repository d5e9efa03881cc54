package prepare

// answerKind is what the relay does with the answer to one message sent to the server.
type answerKind uint8

const (
	answerParse     answerKind = iota // ParseComplete: forward
	answerParseSkip                   // ParseComplete of an injected Parse: drop
	answerParseDup                    // the failing Parse standing for a client's duplicate name: rewrite its error
	answerClose                       // CloseComplete: forward
	answerCloseSkip                   // CloseComplete of an injected Close: drop
	answerSync                        // ReadyForQuery of a Sync
	answerQuery                       // ReadyForQuery of a Query or FunctionCall
)

// awaited is one message awaiting its answer.
type awaited struct {
	kind    answerKind
	stmt    *Stmt  // for answerParse(Skip): unrecorded on the server if the Parse fails
	dupName string // for answerParseDup, answerParse: the client's statement name
}

// dupSentinel is the query of the Parse sent for a client's duplicate statement name: a syntax error
// that ServerError recognises and turns into 42P05.
const dupSentinel = "pgpooler_duplicate_prepared_statement"

// push queues the answer handling of a message about to be sent to the server.
func (t *Tracker) push(e ...awaited) { t.queue = append(t.queue, e...) }

// dropFront removes the oldest entry of the answer queue, keeping the queue's array (a few entries) so
// that the next message's entry needs no allocation.
func (t *Tracker) dropFront() { t.queue = t.queue[:copy(t.queue, t.queue[1:])] }

// ResetAnswers forgets the answers awaited, when the client gets a server: a link that ended abnormally
// may have left entries, and they were for the old server.
func (t *Tracker) ResetAnswers() { t.queue = t.queue[:0] }

// Awaited returns how many messages sent to the server await an answer that the queue matches: each
// Parse, Close, Sync, Query and FunctionCall, the injected ones included.
func (t *Tracker) Awaited() int { return len(t.queue) }
