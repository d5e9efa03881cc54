package pooler

import "github.com/pgpooler/pgpooler/pooler/session"

// Session-only features in transaction and statement mode (pgpooler's own key reject_session_features;
// the detection and the sentinels are package session's, feature.go).

// rejectedFeature returns the feature a client's query text uses when this client must be refused it
// (reject_session_features, outside session mode), or session.FeatureNone.
func (c *clientConn) rejectedFeature(text []byte) session.Feature {
	if c.mode == modeSession || !c.s.config().Pooler.RejectSessionFeatures || !session.MayUseFeature(text) {
		return session.FeatureNone
	}
	return session.FindFeature(string(text))
}

// rejectedError turns the server's error for a rejected statement's sentinel (msg, an ErrorResponse)
// into the client's ERROR 0A000 feature_not_supported; any other message is returned unchanged.
func (c *clientConn) rejectedError(msg []byte) []byte { return session.RejectedError(msg, c.mode) }
