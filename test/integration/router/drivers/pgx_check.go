// pgx v4 (Debian's golang-github-jackc-pgx-v4-dev, built offline in GOPATH mode) through a router listener: prints
// one JSON object of results (the test asserts them). pgx's statement cache prepares a named statement for every
// query it runs with arguments.
// argv: connection URL (TLS options included), a URL with a wrong password, a URL with sslmode=require.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgconn"
	"github.com/jackc/pgx/v4"
)

func sqlstate(err error) interface{} {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code
	}
	if err == nil {
		return nil
	}
	return err.Error()
}

func must(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func main() {
	ctx := context.Background()
	out := map[string]interface{}{}
	conn, err := pgx.Connect(ctx, os.Args[1])
	must(err)
	var version, param int
	must(conn.QueryRow(ctx, "select current_setting('server_version_num')::int / 10000").Scan(&version))
	out["version"] = version
	must(conn.QueryRow(ctx, "select $1::int + $2::int", 20, 22).Scan(&param))
	out["param"] = param
	// The same query in 30 transactions: the statement cache reuses its named prepared statement.
	total := 0
	for i := 0; i < 30; i++ {
		tx, err := conn.Begin(ctx)
		must(err)
		var v int
		must(tx.QueryRow(ctx, "select $1::int * 2 as pgx_doubled", i).Scan(&v))
		must(tx.Commit(ctx))
		total += v
	}
	out["prepared_sum"] = total
	// COPY in (pgx's binary CopyFrom) and out, inside one transaction (the temp table lives only there).
	tx, err := conn.Begin(ctx)
	must(err)
	_, err = tx.Exec(ctx, "create temp table t_copy (a int, b text) on commit drop")
	must(err)
	rows := make([][]interface{}, 1000)
	for i := range rows {
		rows[i] = []interface{}{int32(i), fmt.Sprintf("row %d", i)}
	}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{"t_copy"}, []string{"a", "b"}, pgx.CopyFromRows(rows))
	must(err)
	var sum int64
	must(tx.QueryRow(ctx, "select sum(a) from t_copy").Scan(&sum))
	out["copy_in"] = []int64{n, sum}
	var buf bytes.Buffer
	_, err = tx.Conn().PgConn().CopyTo(ctx, &buf, "copy (select a, b from t_copy order by a) to stdout")
	must(err)
	out["copy_out"] = strings.Count(buf.String(), "\n")
	must(tx.Commit(ctx))
	// An error inside a transaction, its rollback, then a next transaction on the same connection.
	tx, err = conn.Begin(ctx)
	must(err)
	_, err = tx.Exec(ctx, "select 1")
	must(err)
	var x int
	out["error"] = sqlstate(tx.QueryRow(ctx, "select 1 / $1::int", 0).Scan(&x))
	must(tx.Rollback(ctx))
	var after string
	must(conn.QueryRow(ctx, "select $1::text", "after").Scan(&after))
	out["after_error"] = after
	// A large parameter: 1 MB of text there and back.
	big := strings.Repeat("x", 1024*1024)
	var length int
	var same bool
	must(conn.QueryRow(ctx, "select length($1::text), md5($1::text) = md5(repeat('x', 1048576))", big).Scan(&length, &same))
	out["large"] = []interface{}{length, same}
	// A CancelRequest (pgconn sends it on a new connection) while pg_sleep(30) runs; the connection stays usable.
	t0 := time.Now()
	go func() {
		time.Sleep(time.Second)
		must(conn.PgConn().CancelRequest(ctx))
	}()
	_, err = conn.Exec(ctx, "select pg_sleep(30)")
	out["cancel"] = sqlstate(err)
	out["cancel_seconds"] = time.Since(t0).Seconds()
	var seven int
	must(conn.QueryRow(ctx, "select 7").Scan(&seven))
	out["after_cancel"] = seven
	must(conn.Close(ctx))
	req, err := pgx.Connect(ctx, os.Args[3])
	must(err)
	var one int
	must(req.QueryRow(ctx, "select 1").Scan(&one))
	out["require"] = one
	must(req.Close(ctx))
	wrong, err := pgx.Connect(ctx, os.Args[2])
	if err == nil {
		wrong.Close(ctx)
	}
	out["wrong_password"] = sqlstate(err)
	line, err := json.Marshal(out)
	must(err)
	fmt.Println(string(line))
}
