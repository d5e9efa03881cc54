package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgpooler/pgpooler/tests/pgtest"
)

// The database every target serves: role appUser (SCRAM password appPassword) owns appDB, which holds
// pgbench's tables at scale pgbenchScale.
const (
	appUser      = "app"
	appPassword  = "app-bench-pw"
	appDB        = "app"
	pgbenchScale = 10
)

// database is the throwaway PostgreSQL and what the poolers need to know about it.
type database struct {
	pg       *pgtest.Server
	userlist []byte // auth_file contents: appUser and its SCRAM secret from pg_authid
	version  string // `postgres --version`
}

// startDatabase starts PostgreSQL with room for the largest scenario plus the poolers' servers,
// creates appUser and appDB, and fills appDB with pgbench -i -s pgbenchScale. The caller must call
// stop.
func startDatabase(ctx context.Context) (*database, error) {
	pg, err := pgtest.Start(pgtest.Options{Settings: map[string]string{
		"max_connections": "1100",
	}})
	if err != nil {
		return nil, err
	}
	db := &database{pg: pg}
	if err := db.setUp(ctx); err != nil {
		db.stop()
		return nil, err
	}
	return db, nil
}

func (db *database) setUp(ctx context.Context) error {
	if err := db.pg.CreateRole(ctx, appUser, appPassword); err != nil {
		return err
	}
	if err := db.pg.CreateDatabase(ctx, appDB, appUser); err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, db.pg.SuperConnString("postgres"))
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	var secret string
	if err := conn.QueryRow(ctx, "SELECT rolpassword FROM pg_authid WHERE rolname = $1", appUser).Scan(&secret); err != nil {
		return fmt.Errorf("reading %s's secret: %w", appUser, err)
	}
	if !strings.HasPrefix(secret, "SCRAM-SHA-256$") {
		return fmt.Errorf("%s's secret is not SCRAM: %.14s…", appUser, secret)
	}
	db.userlist = fmt.Appendf(nil, "%q %q\n", appUser, secret)
	if out, err := exec.Command(filepath.Join(db.pg.BinDir, "postgres"), "--version").Output(); err == nil {
		db.version = strings.TrimSpace(string(out))
	}
	start := time.Now()
	cmd := exec.CommandContext(ctx, "pgbench", "-i", "-q", "-s", strconv.Itoa(pgbenchScale),
		"-h", db.pg.Host, "-p", strconv.Itoa(db.pg.Port), "-U", appUser, appDB)
	cmd.Env = pgbenchEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pgbench -i: %v\n%s", err, out)
	}
	logf("pgbench -i -s %d done in %.1f s", pgbenchScale, time.Since(start).Seconds())
	return nil
}

func (db *database) stop() {
	if err := db.pg.Stop(); err != nil {
		logf("stopping PostgreSQL: %v", err)
	}
}

// endpoint returns the direct target.
func (db *database) endpoint() endpoint { return endpoint{host: db.pg.Host, port: db.pg.Port} }

// pgbenchEnv is the environment of every pgbench: ours without PG* variables, plus appUser's password.
func pgbenchEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PG") {
			env = append(env, kv)
		}
	}
	return append(env, "PGPASSWORD="+appPassword, "PGSSLMODE=disable", "PGCONNECT_TIMEOUT=30")
}

// endpoint is a TCP address serving appDB to appUser.
type endpoint struct {
	host string
	port int
}

func (e endpoint) addr() string { return e.host + ":" + strconv.Itoa(e.port) }
