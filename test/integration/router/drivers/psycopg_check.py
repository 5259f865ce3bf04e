"""psycopg 3 through a router listener: prints one JSON object of results (the test asserts them).

argv: conninfo (with the right password), conninfo with a wrong password, a second conninfo (sslmode=require).
"""
import json
import sys
import threading
import time

import psycopg
from psycopg import errors

url, wrong_url, require_url = sys.argv[1], sys.argv[2], sys.argv[3]
out = {}

with psycopg.connect(url, prepare_threshold=0, autocommit=False) as conn:
    out['version'] = conn.info.server_version // 10000
    out['ssl'] = conn.pgconn.ssl_in_use
    # A parameterised query: the extended protocol (Parse/Bind/Execute with unnamed or named statements).
    with conn.cursor() as cur:
        cur.execute('select %s::int + %s::int as s', (20, 22))
        out['param'] = cur.fetchone()[0]
    conn.commit()
    # prepare_threshold=0: every query is a named server-side prepared statement, reused across transactions.
    total = 0
    for i in range(30):
        with conn.cursor() as cur:
            cur.execute('select %s::int * 2', (i,), prepare=True)
            total += cur.fetchone()[0]
        conn.commit()
    out['prepared_sum'] = total
    # COPY in and out.
    with conn.cursor() as cur:
        cur.execute('create temp table if not exists t_copy (a int, b text) on commit drop')
        with cur.copy('copy t_copy (a, b) from stdin') as cp:
            for i in range(1000):
                cp.write_row((i, 'row %d' % i))
        cur.execute('select count(*), sum(a) from t_copy')
        out['copy_in'] = list(cur.fetchone())
        rows = 0
        with cur.copy('copy (select a, b from t_copy order by a) to stdout') as cp:
            for _ in cp.rows():
                rows += 1
        out['copy_out'] = rows
    conn.commit()
    # An error inside a transaction, its rollback, then a next transaction on the same connection.
    try:
        with conn.cursor() as cur:
            cur.execute('select 1')
            cur.execute('select 1 / %s', (0,))
        out['error'] = None
    except errors.DivisionByZero as e:
        out['error'] = e.sqlstate
        conn.rollback()
    with conn.cursor() as cur:
        cur.execute('select %s::text', ('after',))
        out['after_error'] = cur.fetchone()[0]
    conn.commit()
    # A large parameter: 1 MB of text there and back.
    big = 'x' * (1024 * 1024)
    with conn.cursor() as cur:
        cur.execute('select length(%s::text), md5(%s::text) = md5(repeat(%s, %s))', (big, big, 'x', 1024 * 1024))
        out['large'] = list(cur.fetchone())
    conn.commit()
    # A cancel from another thread while pg_sleep(30) runs.
    canceller = threading.Timer(1.0, conn.cancel)
    canceller.start()
    t0 = time.monotonic()
    try:
        with conn.cursor() as cur:
            cur.execute('select pg_sleep(30)')
        out['cancel'] = None
    except errors.QueryCanceled as e:
        out['cancel'] = e.sqlstate
        conn.rollback()
    out['cancel_seconds'] = round(time.monotonic() - t0, 2)
    canceller.join()
    with conn.cursor() as cur:
        cur.execute('select 7')
        out['after_cancel'] = cur.fetchone()[0]
    conn.commit()

with psycopg.connect(require_url, autocommit=True) as conn:
    out['require'] = [conn.pgconn.ssl_in_use, conn.execute('select 1').fetchone()[0]]

try:
    psycopg.connect(wrong_url).close()
    out['wrong_password'] = None
except psycopg.OperationalError as e:
    # A failed connection carries no diag; the message names the failure, PostgreSQL's wording.
    out['wrong_password'] = 'password authentication failed' in str(e)

print(json.dumps(out))
