"""The `trending` command end to end: every subcommand run as a user runs it
(a subprocess), against the session's throwaway clusters, for its success
path and its expected errors (one line, a hint, a non-zero exit status and
never a traceback).

`cluster` has no pg_cron; `cron_cluster` preloads it for database postgres
and has trending in postgres and in app. Its databases are never dropped
(pg_cron 1.4.2 stalls DROP DATABASE), and test_schedule.py uses the job in
postgres, so every test here leaves no job behind and trending installed in
both databases.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from trending_cli import bundle, cron
from trending_cli.commands import install
from trending_cli.errors import CliError
from trending_cli.sample_data import generate

TRENDING = [sys.executable, "-m", "trending_cli"]
CLI_DIR = Path(__file__).resolve().parents[2] / "cli"
BASE_ENV = {"PYTHONPATH": str(CLI_DIR), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}
AS_OF = datetime(2026, 3, 31, 12, tzinfo=timezone.utc)
JOB = cron.JOB_NAME


def trending(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*TRENDING, *args], capture_output=True, text=True, timeout=120,
                          env={**BASE_ENV, **(env or {})})


def ok(*args: str) -> str:
    result = trending(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def run_cli(*args: str) -> tuple[int, str]:
    result = trending(*args)
    return result.returncode, result.stdout


def expected_error(result: subprocess.CompletedProcess, command: str, *needles: str, status: int = 1) -> str:
    """Exactly `trending <command>: ...` and `hint: ...` on stderr, exit `status`."""
    lines = result.stderr.splitlines()
    assert result.returncode == status, result.stdout + result.stderr
    assert len(lines) == 2, result.stderr
    assert lines[0].startswith(f"trending {command}: ") and lines[1].startswith("hint: "), result.stderr
    assert not lines[0].startswith(f"trending {command}: trending: "), "one prefix, not two"
    assert "rerun with --debug" not in result.stderr or "--debug" not in result.args
    for needle in needles:
        assert needle in result.stderr
    return result.stderr


def load_music(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        generate(conn, "music", scale="tiny", seed=1, as_of=AS_OF)


@pytest.fixture(scope="module")
def music(make_db) -> str:
    """trending with the tiny sample data in schema music, no cycle run yet."""
    dsn = make_db("cli_music")
    load_music(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("UPDATE trending.settings SET value = 'music' WHERE name = 'source_schema'")
    return dsn


@pytest.fixture(scope="module")
def fresh_bundle():
    """`trending install` copies the carried files into the server's extension
    directory when they differ: they must be the checkout's."""
    assert bundle.missing() == [], "link every built file into cli/trending_cli/extension_files/"


# -- the bundled extension files ----------------------------------------------------
def test_the_package_carries_the_built_extension_files():
    assert bundle.missing() == [], "link every built file into cli/trending_cli/extension_files/"
    assert set(bundle.files()) >= {"trending.control", "trending--1.0.sql", "trending--1.1.sql", "trending--1.0--1.1.sql", "trending--1.2.sql", "trending--1.1--1.2.sql"}


def test_install_copies_missing_or_different_files_where_the_server_reads_them(cluster, monkeypatch, capsys):
    target = Path(tempfile.mkdtemp(prefix="trending-ext-"))
    target.chmod(0o755)  # the server (OS user postgres) reads what we wrote
    monkeypatch.setattr(install, "_extension_dir", lambda conn: target)
    lines = []
    try:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            assert install._files(conn, lines.append) is True
            assert lines[-1] == f"extension files: installed {', '.join(bundle.files())} into {target}"
            assert install._files(conn, lines.append) is False
            assert lines[-1] == f"extension files: up to date in {target}"
            (target / "trending.control").write_text("# edited\n")
            assert install._files(conn, lines.append) is True
            assert lines[-1] == f"extension files: installed trending.control into {target}"
            assert (target / "trending.control").read_bytes() == bundle.files()["trending.control"]
            assert oct((target / "trending.control").stat().st_mode & 0o777) == "0o644"

            (target / "trending.control").unlink()
            monkeypatch.setattr(install, "_server_is_local", lambda conn, path: False)
            with pytest.raises(CliError, match="not installed on the server"):
                install._files(conn, lines.append)
    finally:
        for path in target.iterdir():
            path.unlink()
        target.rmdir()


# -- install ----------------------------------------------------------------------------
def test_install_creates_sets_the_schema_and_a_second_run_changes_nothing(make_db, fresh_bundle):
    dsn = make_db("cli_install", extensions=())
    load_music(dsn)

    refused = trending("--dsn", dsn, "install", "--schedule", "0 * * * *", "--source-schema", "music")
    expected_error(refused, "install", "cannot schedule: pg_cron is not loaded", "shared_preload_libraries")

    first = ok("--dsn", dsn, "install", "--source-schema", "music")
    assert "extension files: up to date in " in first
    assert "extension: created trending 1.2 in database cli_install" in first
    assert "source schema: set to music (was public)" in first
    assert "warning: not scheduled: pg_cron is not loaded in this server" in first
    assert first.endswith("trending install: done\n")

    again = ok("--dsn", dsn, "install", "--source-schema", "music")
    assert "extension: trending 1.2 already installed in database cli_install" in again
    assert "source schema: music (unchanged)" in again
    assert again.endswith("trending install: nothing to change\n")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("SELECT value FROM trending.settings WHERE name = 'source_schema'").fetchone() == ("music",)


def test_install_refuses_a_source_schema_without_the_tables_unless_forced(make_db, fresh_bundle):
    dsn = make_db("cli_install_empty", extensions=())
    expected_error(trending("--dsn", dsn, "install", "--no-schedule", "--source-schema", "nowhere"), "install",
                   "source schema nowhere does not exist: a cycle cannot run", "--source-schema SCHEMA", "--force")
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'trending'").fetchone() == (0,)
        conn.execute("CREATE SCHEMA half")
        conn.execute("CREATE TABLE half.tracks (track_id integer)")
        conn.execute("CREATE VIEW half.plays AS SELECT 1 AS id")
    expected_error(trending("--dsn", dsn, "install", "--source-schema", "half"), "install",
                   "source schema half lacks the tables plays, saves, reposts, users, playlists, aggregate_user, "
                   "aggregate_track, aggregate_plays, aggregate_playlist: a cycle cannot run")
    expected_error(trending("--dsn", dsn, "install"), "install",
                   "source schema public lacks the tables tracks, plays")
    out = ok("--dsn", dsn, "install", "--no-schedule", "--source-schema", "nowhere", "--force")
    assert "warning: source schema nowhere does not exist: cycles fail until it holds the source tables" in out
    assert "extension: created trending" in out and "not scheduled" not in out


def test_doctor_before_install_exits_0_when_nothing_blocks_it(make_db):
    dsn = make_db("cli_pub", extensions=())
    with psycopg.connect(dsn, autocommit=True) as conn:
        generate(conn, "public", scale="tiny", seed=1, as_of=AS_OF)
    result = trending("--dsn", dsn, "doctor")
    assert result.returncode == 0, result.stdout
    assert "warn  extension: not created in database cli_pub yet\n      fix: trending install\n" in result.stdout
    assert "ok    source tables (before install: the default schema): all present in schema public\n" in result.stdout
    assert "warn  pg_cron: not in shared_preload_libraries" in result.stdout
    assert result.stdout.endswith("trending doctor: nothing blocks trending; 2 warnings\n")


# -- recompute, top, status ---------------------------------------------------------------
def test_recompute_prints_each_step_live_then_the_summary(music):
    result = trending("--dsn", music, "recompute", "--now", "2026-03-31 12:00+00")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    steps = [line for line in lines if re.match(r"trending: step \d+/\d+ ", line)]
    assert steps and steps[0].startswith("trending: step 1/") and "check_sources" in steps[0]
    table_header = next(i for i, line in enumerate(lines) if line.startswith("strategy "))
    assert lines.index(steps[-1]) < table_header, "the steps come before the summary"
    assert re.search(r"^TRACKS/pnagD\s+week\s+[1-9]", result.stdout, re.M)
    assert re.search(r"^run \d+: now 2026-03-31 12:00:00 UTC, source schema music", result.stdout, re.M)

    assert re.search(r"^cycle: full \(the capture is not installed", result.stdout, re.M)

    summary = json.loads(ok("--dsn", music, "recompute", "--now", "2026-03-31 12:00+00", "--json"))
    assert summary["status"] == "ok" and summary["rows"]["inserted"] == 0 and summary["rows"]["unchanged"] > 0
    forced = ok("--dsn", music, "recompute", "--now", "2026-03-31 12:00+00", "--full")
    assert re.search(r"^cycle: full \(a full cycle was requested \(full => true\)\)$", forced, re.M)


def test_recompute_with_a_bad_timestamp_is_one_line(music):
    expected_error(trending("--dsn", music, "recompute", "--now", "last tuesday"), "recompute",
                   "invalid input syntax for type timestamp with time zone", "--now takes a timestamp")


def test_a_failing_cycle_is_one_line_with_the_servers_hint(make_db):
    dsn = make_db("cli_no_sources")
    expected_error(trending("--dsn", dsn, "recompute"), "recompute",
                   'source schema "public" cannot feed a cycle: ', "trending.settings.source_schema")


def test_a_cycle_already_running_skips_recompute_with_exit_status_3(music):
    with psycopg.connect(music, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(1953654126, 1)")
        pid = holder.info.backend_pid
        result = trending("--dsn", music, "recompute")
        status = ok("--dsn", music, "status")
    expected_error(result, "recompute", f"skipped: another cycle is running (pid {pid})", "pg_cancel_backend",
                   status=3)
    assert f"running now: pid {pid} since " in status


def test_top_with_a_genre_in_the_wrong_case_suggests_the_right_one(music):
    ok("--dsn", music, "recompute", "--now", "2026-03-31 12:00+00")
    rows = ok("--dsn", music, "top", "--limit", "1").splitlines()
    genre = rows[2][rows[0].index("genre"):].strip()
    assert genre and genre.swapcase() != genre
    expected_error(trending("--dsn", music, "top", "--genre", genre.swapcase()), "top",
                   f"no week tracks in genre {genre.swapcase()!r}; genres match exactly",
                   f"did you mean {genre!r}?")
    message = expected_error(trending("--dsn", music, "top", "--genre", "Polka"), "top",
                             "no week tracks in genre 'Polka'", "the genres with week scores (")
    assert genre in message.splitlines()[1]


def test_top_lists_tracks_a_genre_and_playlists(music):
    ok("--dsn", music, "recompute", "--now", "2026-03-31 12:00+00")
    rows = ok("--dsn", music, "top", "--limit", "5").splitlines()
    assert rows[0].split() == ["rank", "track_id", "score", "genre"] and len(rows) == 7
    assert [int(r.split()[0]) for r in rows[2:]] == [1, 2, 3, 4, 5]
    genre = rows[2][rows[0].index("genre"):].strip()
    genre_rows = ok("--dsn", music, "top", "--genre", genre, "--range", "month").splitlines()[2:]
    assert genre_rows and all(r.rstrip().endswith(genre) for r in genre_rows)
    playlists = ok("--dsn", music, "top", "--playlists", "--range", "year", "--limit", "3").splitlines()
    assert playlists[0].split() == ["rank", "playlist_id", "score"] and len(playlists) == 5

    expected_error(trending("--dsn", music, "top", "--range", "day"), "top",
                   "invalid time_range 'day': valid values are week, month, allTime")
    expected_error(trending("--dsn", music, "top", "--playlists", "--genre", "Pop"), "top", "tracks only")


def test_status_shows_runs_freshness_and_sizes(music):
    ok("--dsn", music, "recompute")
    out = ok("--dsn", music, "status", "--runs", "3")
    assert out.startswith("trending 1.2 in database cli_music, source schema music\n")
    runs = out[out.index("Recent runs\n"):].splitlines()
    assert runs[1].split()[:3] == ["run", "trigger", "status"] and len(runs[3:runs.index("")]) == 3
    assert re.search(r"^\s*\d+\s+recompute\s+ok\s", out, re.M)
    assert "schedule: none (pg_cron is not loaded" in out
    assert re.search(r"^scores: as of \S+ \S+ UTC \(0 min ago\), computed in [\d.]+ s$", out, re.M)
    assert "warning" not in out
    assert re.search(r"^track_trending_scores\s+[\d,]+\s+\d+ kB$", out, re.M)


def test_status_run_shows_a_scheduled_runs_steps_as_its_progress_lines_did(music):
    """A scheduled run's progress NOTICEs reach no log at the default
    log_min_messages: `status --run N` shows the same steps from trending.runs."""
    with psycopg.connect(music, autocommit=True) as conn:
        notices = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        conn.execute("CALL trending.scheduled_recompute()")
        (run_id, step_ms, kind) = conn.execute("SELECT run_id, step_ms, cycle_kind FROM trending.runs "
                                               "WHERE trigger = 'scheduled' ORDER BY run_id DESC LIMIT 1").fetchone()
    out = ok("--dsn", music, "status", "--run", str(run_id))
    lines = out.splitlines()
    assert lines[0].startswith(f"run {run_id}: scheduled, ok, {kind} cycle, as role "), out
    progress = [n[len("trending: "):] for n in notices if re.match(r"trending: step \d+/\d+ ", n)]
    shown = [line for line in lines if line.startswith("step ")]
    assert len(shown) == len(progress) == len(step_ms) > 3, (out, notices)
    for printed, said in zip(shown, progress):
        # the same step, position and rows (the ms as recorded, rounded like the notice; the
        # count of staged changes is the notice's alone)
        said = re.sub(r": \d+ of \d+ scores to write$", "", said.split("; ")[0])
        assert re.sub(r"done in [\d,]+ ms", "", printed) == re.sub(r"done in \d+ ms", "", said), (printed, said)
    expected_error(trending("--dsn", music, "status", "--run", "999999"), "status",
                   "there is no run 999999 in trending.runs")


def test_status_into_a_closed_pipe_stops_quietly(music):
    """`trending status | head -1`: the reader goes away; no traceback."""
    proc = subprocess.Popen([*TRENDING, "--dsn", music, "status"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=BASE_ENV)
    proc.stdout.close()  # before the command writes anything
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and stderr == "", stderr


def test_status_warns_when_the_scores_are_stale_and_check_exits_by_health(make_db):
    """The warning and `status --check` follow trending.status: stale after
    stale_after (2 hours) without a success, unhealthy after a failure."""
    dsn = make_db("cli_stale")
    with psycopg.connect(dsn, autocommit=True) as conn:
        assert "warning: no cycle has succeeded yet" in ok("--dsn", dsn, "status")
        assert run_cli("--dsn", dsn, "status", "--check") == (1, "not healthy: stale: no cycle has succeeded yet\n")
        conn.execute("""
INSERT INTO trending.runs (trigger, status, started_at, finished_at, cycle_now)
VALUES ('scheduled', 'ok', now() - interval '5 hours', now() - interval '5 hours' + interval '2 s',
        now() - interval '5 hours')""")
        out = ok("--dsn", dsn, "status")
        assert "warning: not healthy: stale: no cycle has succeeded within stale_after (02:00:00)" in out
        code, out = run_cli("--dsn", dsn, "status", "--check")
        assert code == 1 and out.startswith("not healthy: stale")
        conn.execute("UPDATE trending.runs SET finished_at = now(), cycle_now = now()")
        code, out = run_cli("--dsn", dsn, "status", "--check")
        assert code == 0 and out.startswith("healthy: scores as of ")
        assert "warning" not in ok("--dsn", dsn, "status")
        conn.execute("""
INSERT INTO trending.runs (trigger, status, finished_at, cycle_now, sqlstate, message)
VALUES ('scheduled', 'failed', now(), now(), '42P01', 'trending: source schema "x" cannot feed a cycle')""")
        code, out = run_cli("--dsn", dsn, "status", "--check")
        assert code == 1 and "the last finished run" in out and "failed" in out
        assert "warn  health: not healthy: the last finished run" in trending("--dsn", dsn, "doctor").stdout


# -- doctor ---------------------------------------------------------------------------------
def test_doctor_without_pg_cron_warns_with_the_fix(music):
    """No pg_cron blocks neither an install nor a cycle (`trending recompute`
    runs one): a warning, exit status 0."""
    result = trending("--dsn", music, "doctor")
    assert result.returncode == 0 and result.stderr == ""
    out = result.stdout
    for label in ("server: PostgreSQL 15", "role: postgres (superuser)", "plpython3u: available",
                  "extension files: trending 1.2 available", "extension: trending 1.2 in database cli_music",
                  "source tables: all present in schema music"):
        assert re.search(rf"^ok    {re.escape(label)}", out, re.M), out
    assert re.search(r"^warn  pg_cron: not in shared_preload_libraries.*\n      fix: add pg_cron to "
                     r"shared_preload_libraries", out, re.M), out
    assert out.endswith("trending doctor: nothing blocks trending; 1 warning\n")


def test_doctor_lists_what_is_missing(make_db):
    bare = make_db("cli_bare", extensions=())
    out = trending("--dsn", bare, "doctor").stdout
    assert "warn  extension: not created in database cli_bare yet\n      fix: trending install\n" in out
    assert re.search(r"^FAIL  source tables \(before install: the default schema\): source schema public lacks the "
                     r"tables tracks, plays, .*\n      fix: trending install --source-schema", out, re.M), out
    empty = make_db("cli_no_sources")
    result = trending("--dsn", empty, "doctor")
    assert result.returncode == 1
    assert re.search(r"^FAIL  source tables: source schema public lacks the tables tracks, plays, .*\n      fix: "
                     r"trending install --source-schema", result.stdout, re.M), result.stdout


# -- uninstall --------------------------------------------------------------------------------
def test_uninstall_refuses_dependent_objects_unless_cascade(make_db):
    dsn = make_db("cli_uninstall")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE VIEW api_top AS SELECT track_id FROM trending.track_trending_scores")
        refused = trending("--dsn", dsn, "uninstall")
        expected_error(refused, "uninstall", "cannot drop extension trending because other objects depend on it",
                       "view api_top depends on", "--cascade")
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'trending'").fetchone() == (1,)

        out = ok("--dsn", dsn, "uninstall", "--cascade")
        assert "extension: dropped trending 1.2 from database cli_uninstall" in out
        assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'trending'").fetchone() == (0,)
        assert conn.execute("SELECT to_regclass('api_top')").fetchone() == (None,)
    assert ok("--dsn", dsn, "uninstall") == \
        "trending uninstall: trending is not installed in database cli_uninstall: nothing to do\n"


# -- expected errors ---------------------------------------------------------------------------
def test_a_bad_dsn_is_one_line(music):
    expected_error(trending("--dsn", "garbage", "status"), "status", "invalid --dsn", "libpq connection string")


def test_a_refused_connection_is_one_line():
    expected_error(trending("--dsn", "host=/nonexistent/socket/dir", "doctor"), "doctor",
                   "No such file or directory", "is the server running and listening on socket directory "
                   "/nonexistent/socket/dir, port 5432?")


def test_a_wrong_port_hint_names_what_was_typed(cluster):
    message = expected_error(trending("--dsn", f"host={cluster.socket_dir} port=5999", "status"), "status",
                             "No such file or directory")
    assert f"listening on socket directory {cluster.socket_dir}, port 5999?" in message.splitlines()[1]
    assert "5432" not in message.splitlines()[1]
    tcp = expected_error(trending("--dsn", "host=127.0.0.1 port=5998 connect_timeout=2", "status"), "status")
    assert "host 127.0.0.1, port 5998" in tcp.splitlines()[1], tcp


def test_debug_shows_the_traceback_and_does_not_ask_for_debug(music):
    result = trending("--dsn", music, "compare", "no_such_table", "--debug")
    lines = result.stderr.rstrip().splitlines()
    assert result.returncode == 1 and "Traceback" in result.stderr
    assert lines[-2] == 'trending compare: relation "no_such_table" does not exist'
    assert lines[-1] == "hint: the traceback above has the details"
    plain = trending("--dsn", music, "compare", "no_such_table")
    assert plain.stderr.splitlines()[1] == "hint: rerun with --debug for the details"


def test_a_missing_database_is_one_line(cluster):
    expected_error(trending("--dsn", cluster.conninfo("no_such_db"), "status"), "status",
                   'database "no_such_db" does not exist', "create the database")


def test_an_unknown_role_is_one_line(cluster):
    expected_error(trending("--dsn", f"{cluster.conninfo()} user=nobody", "install"), "install",
                   'role "nobody" does not exist', "connect as an existing role")


def test_a_non_superuser_cannot_install(cluster, make_db):
    dsn = make_db("cli_roles", extensions=())
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS cli_reader")
        conn.execute("CREATE ROLE cli_reader LOGIN")
    try:
        expected_error(trending("--dsn", f"{dsn} user=cli_reader", "install"), "install",
                       "role cli_reader is not a superuser", "connect as a superuser")
    finally:
        with psycopg.connect(cluster.conninfo(), autocommit=True) as conn:
            conn.execute("DROP ROLE cli_reader")


@pytest.mark.parametrize("command", [["status"], ["recompute"], ["top"]])
def test_the_extension_absent_is_one_line(make_db, command):
    dsn = make_db("cli_absent", extensions=())
    expected_error(trending("--dsn", dsn, *command), command[0],
                   "the trending extension is not installed in database cli_absent", "trending install")


def test_the_pg_environment_variables_and_debug(cluster, music):
    env = {"PGHOST": str(cluster.socket_dir), "PGPORT": "5432", "PGUSER": "postgres", "PGDATABASE": "cli_music"}
    assert trending("top", "--limit", "1", env=env).returncode == 0
    result = trending("top", "--range", "day", "--debug", env=env)
    assert result.returncode == 1 and "Traceback" in result.stderr
    assert result.stderr.rstrip().splitlines()[-2].startswith("trending top: invalid time_range")


# -- pg_cron in another database -----------------------------------------------------------------
def cron_jobs(cron_cluster) -> list[tuple]:
    with psycopg.connect(cron_cluster.conninfo()) as conn:
        return conn.execute("SELECT jobid, schedule, command, database FROM cron.job WHERE jobname = %s",
                            (JOB,)).fetchall()


@pytest.fixture
def no_job(cron_cluster, fresh_bundle):
    """No trending job before and after (test_schedule.py counts on it)."""
    def clear():
        with psycopg.connect(cron_cluster.conninfo(), autocommit=True) as conn:
            conn.execute("SELECT cron.unschedule(jobid) FROM cron.job WHERE jobname = %s", (JOB,))
    clear()
    yield
    clear()


@pytest.fixture(scope="module")
def app(cron_cluster) -> str:
    dsn = cron_cluster.conninfo("app")
    with psycopg.connect(dsn, autocommit=True) as conn:
        if not conn.execute("SELECT to_regnamespace('music') IS NOT NULL").fetchone()[0]:
            generate(conn, "music", scale="tiny", seed=1, as_of=AS_OF)
    return dsn


def test_install_in_another_database_schedules_there_and_corrects_a_moved_job(cron_cluster, app, no_job):
    first = ok("--dsn", app, "install", "--source-schema", "music", "--schedule", "17 3 * * *")
    [(jobid, schedule, command, database)] = cron_jobs(cron_cluster)
    assert (schedule, command, database) == ("17 3 * * *", "CALL trending.scheduled_recompute()", "app")
    assert (f"schedule: created pg_cron job {jobid} in database postgres: '17 3 * * *' runs "
            "CALL trending.scheduled_recompute() in database app as role trending_job") in first

    assert ok("--dsn", app, "install").endswith("trending install: nothing to change\n")

    doctor = ok("--dsn", app, "doctor")
    assert "ok    cron.database_name: postgres\n" in doctor
    assert f"ok    job: job {jobid}: '17 3 * * *' runs CALL trending.scheduled_recompute() as role trending_job\n" \
        in doctor
    assert "warn  health: not healthy: stale: no cycle has succeeded yet\n" in doctor, \
        "installed, never run: stale, which blocks nothing"
    assert doctor.endswith("trending doctor: nothing blocks trending; 1 warning\n")
    assert f"schedule: '17 3 * * *' (GMT), pg_cron job {jobid} in database postgres, as role trending_job, " \
        "active" in ok("--dsn", app, "status")

    with psycopg.connect(cron_cluster.conninfo(), autocommit=True) as conn:
        conn.execute("SELECT cron.alter_job(%s, database => 'postgres')", (jobid,))
    assert "warn  job: job" in trending("--dsn", app, "doctor").stdout
    fixed = ok("--dsn", app, "install")
    assert f"schedule: updated pg_cron job {jobid} in database postgres: database 'postgres' -> 'app'" in fixed
    assert cron_jobs(cron_cluster) == [(jobid, "17 3 * * *", "CALL trending.scheduled_recompute()", "app")]


def test_install_moves_a_superusers_job_to_the_job_role(cron_cluster, app, no_job):
    with psycopg.connect(cron_cluster.conninfo(), autocommit=True) as conn:
        (jobid,) = conn.execute("SELECT cron.schedule_in_database(%s, '5 * * * *', %s, 'app')",
                                (JOB, cron.COMMAND)).fetchone()
    out = ok("--dsn", app, "install")
    assert f"schedule: updated pg_cron job {jobid} in database postgres: username 'postgres' -> 'trending_job'" in out
    with psycopg.connect(cron_cluster.conninfo()) as conn:
        assert conn.execute("SELECT jobid, username, schedule FROM cron.job WHERE jobname = %s",
                            (JOB,)).fetchall() == [(jobid, "trending_job", "5 * * * *")]


def test_install_in_the_cron_database_itself(cron_cluster, no_job):
    dsn = cron_cluster.conninfo()
    with psycopg.connect(dsn, autocommit=True) as conn:
        if not conn.execute("SELECT to_regnamespace('music') IS NOT NULL").fetchone()[0]:
            generate(conn, "music", scale="tiny", seed=9, as_of=datetime.now(timezone.utc))
    expected_error(trending("--dsn", dsn, "install", "--schedule", "10 seconds", "--source-schema", "music"), "install",
                   "pg_cron refused the schedule: invalid schedule: 10 seconds", "five cron fields")
    assert cron_jobs(cron_cluster) == []
    out = ok("--dsn", dsn, "install", "--schedule", "*/20 * * * *", "--source-schema", "music")
    assert "extension: trending 1.2 already installed in database postgres" in out
    assert [row[1:] for row in cron_jobs(cron_cluster)] == \
        [("*/20 * * * *", "CALL trending.scheduled_recompute()", "postgres")]


def test_uninstall_removes_the_job_in_the_cron_database_then_the_extension(cron_cluster, app, no_job):
    ok("--dsn", app, "install", "--schedule", "17 3 * * *")
    [(jobid, *_)] = cron_jobs(cron_cluster)
    try:
        out = ok("--dsn", app, "uninstall")
        assert out.startswith(f"schedule: removed pg_cron job {jobid} ('17 3 * * *', in database postgres)\n"
                              "extension: dropped trending 1.2 from database app\n"), out
        # database postgres of this cluster still has trending: the cluster-wide role stays
        assert re.search(r"^capture role: kept trending_capture \(cluster-wide\), which trending still needs "
                         r"elsewhere: \d+ objects in database postgres; .*DROP ROLE trending_capture;$", out, re.M), out
        assert out.endswith("trending uninstall: done\n")
        assert cron_jobs(cron_cluster) == []
        with psycopg.connect(app) as conn:
            assert conn.execute("SELECT count(*) FROM pg_extension WHERE extname = 'trending'").fetchone() == (0,)
    finally:
        ok("--dsn", app, "install", "--no-schedule", "--source-schema", "music")


# -- bench ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_bench_runs_the_benchmark(tmp_path):
    out = ok("bench", "--scales", "tiny", "--contenders", "trending", "--hourly-cycles", "1",
             "--hourly-scales", "tiny", "--idle-seconds", "0.2", "--out", str(tmp_path))
    assert f"results: {tmp_path}/results.md" in out
    assert json.loads((tmp_path / "results.json").read_text())["ok"] is True
