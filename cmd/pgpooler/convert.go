package main

import (
	"fmt"
	"io"

	"github.com/pgpooler/pgpooler/pooler/config"
)

// convert is `pgpooler convert FILE`: it loads FILE (a pgbouncer.ini, or a config.toml) as pgpooler would
// start on it and prints the same configuration as config.toml on out, the ini keys without an equivalent
// as comments (config.ToTOML). A file that does not load gives its errors on errOut and exit status 1.
func convert(args []string, out, errOut io.Writer) int {
	if len(args) != 1 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" {
		fmt.Fprintln(errOut, "Usage: pgpooler convert pgbouncer.ini > config.toml")
		if len(args) == 1 {
			return 0
		}
		return 2
	}
	cfg, err := config.Load(args[0])
	if err != nil {
		fmt.Fprintf(errOut, "pgpooler: %v\n", err)
		return 1
	}
	text, err := config.ToTOML(cfg, args[0])
	if err != nil {
		fmt.Fprintf(errOut, "pgpooler: %v\n", err)
		return 1
	}
	if _, err := out.Write(text); err != nil {
		fmt.Fprintf(errOut, "pgpooler: %v\n", err)
		return 1
	}
	return 0
}
