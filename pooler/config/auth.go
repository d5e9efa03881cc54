package config

import "github.com/BurntSushi/toml"

// Authentication methods: the values of auth_type that pgpooler supports.
// PgBouncer doc/config.md key auth_type; see [Pooler.AuthType] for what each
// means.
const (
	AuthTypeTrust       = "trust"
	AuthTypeMD5         = "md5"
	AuthTypeSCRAMSHA256 = "scram-sha-256"
	AuthTypePlain       = "plain"
	AuthTypeCert        = "cert"
	AuthTypeHBA         = "hba"
)

// DefaultAuthQuery is the default of auth_query, PgBouncer's: the user's
// name and password secret, NULL once the role's VALID UNTIL has passed, for
// a role that may log in. PgBouncer doc/config.md key auth_query.
const DefaultAuthQuery = "SELECT rolname, CASE WHEN rolvaliduntil < now() THEN NULL ELSE rolpassword END FROM pg_authid WHERE rolname=$1 AND rolcanlogin"

// needsSecrets reports whether clients logging in with auth_type t prove
// who they are with a password, which the pooler must look up somewhere.
func needsSecrets(t string) bool {
	return t == AuthTypeMD5 || t == AuthTypeSCRAMSHA256 || t == AuthTypePlain
}

// checkAuth checks the auth_* keys of [pooler], and how they fit with the
// [databases] tables and the TLS settings.
func (c *Config) checkAuth(p *problems) {
	pl := &c.Pooler
	key := func(name string) toml.Key { return toml.Key{"pooler", name} }

	if checkAuthType(p, key("auth_type"), pl.AuthType) {
		switch {
		case pl.AuthType == AuthTypeHBA && pl.AuthHBAFile == "":
			p.add(key("auth_hba_file"), "is empty, but pooler.auth_type is %q, which reads its rules from it", pl.AuthType)
		case pl.AuthType == AuthTypeCert && !isVerifyMode(pl.ClientTLSSSLMode):
			p.add(key("auth_type"), "%q needs pooler.client_tls_sslmode %q or %q to check client certificates, not %q",
				pl.AuthType, SSLModeVerifyCA, SSLModeVerifyFull, pl.ClientTLSSSLMode)
		case needsSecrets(pl.AuthType) && pl.AuthFile == "" && !c.anyAuthUser():
			p.add(key("auth_type"), "%q checks passwords, but there is no pooler.auth_file and no auth_user in [pooler] or any [databases] table: no user could ever log in", pl.AuthType)
		}
	}
	if pl.AuthUser != "" && pl.AuthQuery == "" {
		p.add(key("auth_query"), "is empty, but pooler.auth_user is set")
	}
	c.checkAuthDBName(p, key("auth_dbname"), pl.AuthDBName)
}

// checkDatabaseAuth checks the auth_* keys of one [databases.NAME] table,
// whose keys are under sect.
func (c *Config) checkDatabaseAuth(p *problems, sect toml.Key, db Database) {
	if db.AuthUser != "" && db.AuthQuery == "" && c.Pooler.AuthQuery == "" {
		p.add(child(sect, "auth_query"), "is empty and so is pooler.auth_query, but %s is set", child(sect, "auth_user"))
	}
	c.checkAuthDBName(p, child(sect, "auth_dbname"), db.AuthDBName)
}

// checkAuthDBName checks that an auth_dbname value, if set, names a
// [databases] table or one the "*" table stands for.
func (c *Config) checkAuthDBName(p *problems, key toml.Key, name string) {
	if name == "" {
		return
	}
	if _, ok := c.Databases[name]; ok {
		return
	}
	if _, ok := c.Databases["*"]; ok {
		return
	}
	p.add(key, "%q is not a [databases] table and there is no [databases.\"*\"] fallback", name)
}

// anyAuthUser reports whether [pooler] or any [databases] table sets
// auth_user.
func (c *Config) anyAuthUser() bool {
	if c.Pooler.AuthUser != "" {
		return true
	}
	for _, db := range c.Databases {
		if db.AuthUser != "" {
			return true
		}
	}
	return false
}
