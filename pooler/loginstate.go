package pooler

import "context"

// loginState is what a client's login needs and its session does not (clientConn.ls, nil once the login
// is over): kept apart so that an idle logged-in client does not carry it, nor the secrets it held.
type loginState struct {
	ctx         context.Context // ends at client_login_timeout, for waits during login
	tlsEndPoint []byte          // tls-server-end-point channel binding data of our certificate
	learned     serverCreds     // server credentials the login revealed (password, SCRAM keys), for learnCreds

	// holdAuthFinal: the login sends its own welcome (login, not the admin console's), so scramExchange
	// keeps its AuthenticationSASLFinal in authFinal for sendWelcome to write in the same write as
	// AuthenticationOk and the rest (one system call less per SCRAM login); serve writes it alone
	// before the error of a login that fails after authentication.
	holdAuthFinal bool
	authFinal     []byte
}

// flushAuthFinal writes the AuthenticationSASLFinal the login still holds, if any.
func (c *clientConn) flushAuthFinal() {
	if ls := c.ls; ls != nil && len(ls.authFinal) > 0 {
		_, _ = c.stream.Write(ls.authFinal)
		ls.authFinal = nil
	}
}
