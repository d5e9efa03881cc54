//go:build !linux && !darwin && !freebsd

package pooler

// fdPeerUID: this OS gives pgpooler no peer credentials, so neither the password-less console login nor
// the hba method peer is offered (every such login is refused by its other rules).
func fdPeerUID(int) (uint32, error) { return 0, errNoPeerCred }
