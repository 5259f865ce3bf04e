"""asyncpg through a router listener: prints one JSON object of results (the test asserts them).

asyncpg prepares a named statement for every query (its statement cache): the hardest client for a transaction pooler.
argv: dsn (with the right password), dsn with a wrong password, a second dsn (sslmode=require).
"""
import asyncio
import json
import sys
import time

import asyncpg

dsn, wrong_dsn, require_dsn = sys.argv[1], sys.argv[2], sys.argv[3]


async def main():
    out = {}
    conn = await asyncpg.connect(dsn, timeout=30)
    try:
        out['version'] = conn.get_server_version().major
        out['param'] = await conn.fetchval('select $1::int + $2::int', 20, 22)
        # The same statement many times: asyncpg's cache reuses its named prepared statement.
        total = 0
        for i in range(30):
            total += await conn.fetchval('select $1::int * 2', i)
        out['prepared_sum'] = total
        stmt = await conn.prepare('select $1::text || $2::text')
        out['explicit_prepared'] = [await stmt.fetchval('a', str(i)) for i in range(5)]
        # COPY in and out (inside one transaction: the temp table lives only there).
        async with conn.transaction():
            await conn.execute('create temp table t_copy (a int, b text) on commit drop')
            await conn.copy_records_to_table('t_copy', records=[(i, 'row %d' % i) for i in range(1000)])
            row = await conn.fetchrow('select count(*), sum(a) from t_copy')
            out['copy_in'] = [row[0], row[1]]
            chunks = []

            async def sink(data):
                chunks.append(data)

            await conn.copy_from_query('select a, b from t_copy order by a', output=sink)
            out['copy_out'] = b''.join(chunks).count(b'\n')
        # An error inside a transaction, rolled back, then a next transaction on the same connection.
        try:
            async with conn.transaction():
                await conn.fetchval('select 1')
                await conn.fetchval('select 1 / $1::int', 0)
            out['error'] = None
        except asyncpg.exceptions.DivisionByZeroError as e:
            out['error'] = e.sqlstate
        async with conn.transaction():
            out['after_error'] = await conn.fetchval('select $1::text', 'after')
        big = 'x' * (1024 * 1024)
        row = await conn.fetchrow('select length($1::text), md5($1::text) = md5(repeat($2, $3))', big, 'x', 1024 * 1024)
        out['large'] = [row[0], row[1]]
        # wait_for cancels the task: asyncpg sends a CancelRequest with the router's key.
        t0 = time.monotonic()
        try:
            await asyncio.wait_for(conn.fetch('select pg_sleep(30)'), 1)
            out['cancel'] = None
        except asyncio.TimeoutError:
            out['cancel'] = 'timeout'
        # asyncpg waits for the cancelled query's end before the next one: a lost cancel would take the 30 s here.
        out['after_cancel'] = await conn.fetchval('select 7')
        out['cancel_seconds'] = round(time.monotonic() - t0, 2)
    finally:
        await conn.close(timeout=30)
    c = await asyncpg.connect(require_dsn, timeout=30)
    try:
        out['require'] = await c.fetchval('select 1')
    finally:
        await c.close(timeout=30)
    try:
        c = await asyncpg.connect(wrong_dsn, timeout=30)
        await c.close()
        out['wrong_password'] = None
    except asyncpg.exceptions.InvalidPasswordError as e:
        out['wrong_password'] = e.sqlstate
    print(json.dumps(out))


asyncio.run(main())
