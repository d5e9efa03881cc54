package config

import "testing"

// TestFileDescriptors: max_client_conn, the pools counted from [databases] and [users] (a forced user
// is one pool; pool_size overrides, reserve_pool_size and max_db_connections count), the listeners and
// the margin.
func TestFileDescriptors(t *testing.T) {
	c, err := Parse([]byte(`[pooler]
listen_addr = "127.0.0.1, ::1"
unix_socket_dir = "/tmp"
metrics_addr = ":9127"
max_client_conn = 300
default_pool_size = 20
reserve_pool_size = 2
[databases.app]
[databases.capped]
max_db_connections = 10
[databases.forced]
user = "owner"
pool_size = 5
[users.alice]
pool_size = 4
[users.bob]
`), "")
	if err != nil {
		t.Fatal(err)
	}
	clients, servers, other := c.FileDescriptors()
	// app: alice 4+2, bob 20+2; capped: the same 28 capped at 10; forced: one pool of 5+2.
	if clients != 300 || servers != 28+10+7 || other != 4+FDMargin {
		t.Errorf("FileDescriptors() = %d, %d, %d; want 300, 45, %d", clients, servers, other, 4+FDMargin)
	}
	if _, servers, _ := Default().FileDescriptors(); servers != 0 {
		t.Errorf("no databases: %d servers, want 0", servers)
	}
}
