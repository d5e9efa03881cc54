package pooler

import "context"

// loginState is what a client's login needs and its session does not (clientConn.ls, nil once the login
// is over): kept apart so that an idle logged-in client does not carry it, nor the secrets it held.
type loginState struct {
	ctx         context.Context // ends at client_login_timeout, for waits during login
	tlsEndPoint []byte          // tls-server-end-point channel binding data of our certificate
	learned     serverCreds     // server credentials the login revealed (password, SCRAM keys), for learnCreds
}
