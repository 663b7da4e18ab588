import time, collections, psycopg, pytest
from support import event_streams as es

T = collections.Counter()

def timed(name, fn):
    def wrapper(self, *a, **k):
        t = time.perf_counter()
        try:
            return fn(self, *a, **k)
        finally:
            T[name] += time.perf_counter() - t
    return wrapper

def test_profile(make_db):
    dsn = make_db("profile_streams")
    es.EventStream.setup = timed("setup", es.EventStream.setup)
    es.EventStream._cycle = timed("cycle", es.EventStream._cycle)
    es.EventStream.check = timed("oracle", es.EventStream.check)
    es.EventStream.apply_batch = timed("batch", es.EventStream.apply_batch)
    orig = es.drop_schema
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET client_min_messages = warning")
        t0 = time.perf_counter()
        for seed in range(1, 11):
            s = es.EventStream(conn, f"stream_{seed}", seed, 3, stop_on_mismatch=True)
            s.run()
            t = time.perf_counter(); orig(conn, f"stream_{seed}"); T["drop"] += time.perf_counter() - t
        total = time.perf_counter() - t0
        (ms,) = conn.execute("SELECT jsonb_object_agg(k, v) FROM (SELECT k, round(sum(v::numeric)) v FROM trending.runs, jsonb_each_text(step_ms) e(k, v) GROUP BY k) x").fetchone()
    print("\nTOTAL", round(total, 1), {k: round(v, 1) for k, v in T.items()}, ms)
