/*
 * Shim files across the death of their daemon (docs/shim.md, "Shim files
 * across a restart"): the module keeps a token's files with no fd and no
 * daemon, answers only that token's daemon, and keeps that daemon's
 * pending faults for the grace; gmemfsd re-adopts its files after kill -9.
 * Part of shim-test (its table names these tests), run in the test guest.
 *
 * Not for: the rest of the protocol (shim-test.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "gmemfs.h"
#include "gmemfs_client.h"
#include "gmemfs_nl.h"
#include "common/clock.h"
#include "common/shim_keep.h"
#include "gm-test-util.h"
#include "shim-test.h"

#define GRACE_DEFAULT_MS	30000

/* A daemon registered with the token of 32 bytes c, with no page limit. */
static struct gm_shimc *daemon_token(char c)
{
	uint8_t token[GMEMFS_SHIM_TOKEN_MAX];
	struct gm_shimc *nl;

	memset(token, c, sizeof(token));
	CHECK_ERR(gm_shimc_open(&nl), 0);
	CHECK_ERR(gm_shimc_register_token(nl, token, sizeof(token)), 0);
	CHECK_ERR(gm_shimc_set_limit(nl, GMEMFS_SHIM_NO_LIMIT), 0);
	return nl;
}

/* The registered token's files from id first on: their count; the first in *f. */
static int listed(struct gm_shimc *nl, uint32_t first, struct gm_shimc_file *f)
{
	struct gm_shimc_file files[GM_SHIMC_FILES_MAX];
	int n = gm_shimc_list(nl, first, files, GM_SHIMC_FILES_MAX);

	CHECK(n >= 0, "LIST: %d %s", n, gm_shimc_errmsg(nl));
	if (n && f)
		*f = files[0];
	return n;
}

static double since_ms(uint64_t t0)
{
	return (double)(gm_mono_ns() - t0) / 1e6;
}

/* Poll pages_held until it is want, up to 3 s (eviction follows close). */
static long long held_wait(long long want)
{
	uint64_t t0 = gm_mono_ns();
	long long held;

	while ((held = param("pages_held")) != want && since_ms(t0) < 3000)
		usleep(10000);	/* a figure: nothing to poll() on */
	return held;
}

/* The file's every page holds pattern(page index). */
static void check_pattern(int fd, size_t size, const char *what)
{
	char page[PG];

	for (size_t i = 0; i < size / PG; i++)
		CHECK(pread(fd, page, PG, i * PG) == PG && page[0] == (char)pattern(i) &&
		      page[PG - 1] == (char)pattern(i), "%s: page %zu", what, i);
}

/* Token B and a daemon without a token reach none of token A's file id. */
static void others_refused(uint32_t id)
{
	static const uint8_t short_token[8];
	struct gm_shimc *nl;
	int fd;

	nl = daemon_token('B');
	CHECK(listed(nl, 1, NULL) == 0, "token B lists another token's files");
	CHECK_ERR(gm_shimc_reopen(nl, id, &fd), -EPERM);
	CHECK(strstr(gm_shimc_errmsg(nl), "another daemon"), "extack: %s", gm_shimc_errmsg(nl));
	CHECK_ERR(gm_shimc_delete(nl, id), -EPERM);
	CHECK_ERR(gm_shimc_set_mode(nl, id, GMEMFS_SHIM_FAULT_ASK), -EPERM);
	CHECK_ERR(gm_shimc_populate(nl, id, 0, NULL, 0, 0), -EPERM);
	gm_shimc_close(nl);
	nl = daemon_up();
	CHECK_ERR(gm_shimc_reopen(nl, id, &fd), -EPERM);
	CHECK(listed(nl, 1, NULL) == 0, "a daemon without a token lists files");
	gm_shimc_close(nl);
	CHECK_ERR(gm_shimc_open(&nl), 0);
	CHECK_ERR(gm_shimc_register_token(nl, short_token, sizeof(short_token)), -EINVAL);
	gm_shimc_close(nl);
}

void t_persist_files(void)
{
	const size_t size = 1 << 20, npages = size / PG;
	long long held0, kib0 = unevictable_kib(), kib;
	struct gm_shimc_file f;
	struct gm_shimc *nl;
	char page[PG];
	uint64_t t0;
	uint32_t id;
	int fd, fd2;

	nl = daemon_token('A');	/* loads the module */
	held0 = param("pages_held");
	CHECK_ERR(gm_shimc_create_named(nl, size, 0, 0, GMEMFS_SHIM_FAULT_AUTO, 0x77, &id, &fd), 0);
	for (size_t i = 0; i < npages; i++) {
		memset(page, pattern(i), PG);
		CHECK(pwrite(fd, page, PG, i * PG) == PG, "pwrite: %s", strerror(errno));
	}
	close(fd);
	gm_shimc_close(nl);
	CHECK(param("pages_held") - held0 == (long long)npages,
	      "no fd and no daemon: %lld pages held, %lld before", param("pages_held"), held0);
	others_refused(id);

	nl = daemon_token('A');
	CHECK(listed(nl, id, &f) >= 1 && f.id == id, "file %u not listed", id);
	CHECK(f.cookie == 0x77 && f.size == size && f.order == 0 &&
	      f.mode == GMEMFS_SHIM_FAULT_AUTO && f.pages == npages,
	      "LIST: cookie %#llx size %llu order %u mode %u pages %llu",
	      (unsigned long long)f.cookie, (unsigned long long)f.size, f.order, f.mode,
	      (unsigned long long)f.pages);
	CHECK_ERR(gm_shimc_reopen(nl, id, &fd), 0);
	check_pattern(fd, size, "reopened by id");

	/* DELETE: the pages go with the last fd, not before. */
	CHECK_ERR(gm_shimc_delete(nl, id), 0);
	CHECK_ERR(gm_shimc_delete(nl, id), -ENOENT);
	CHECK_ERR(gm_shimc_reopen(nl, id, &fd2), -ENOENT);
	CHECK(listed(nl, id, &f) == 0 || f.id != id, "a deleted file is listed");
	CHECK(param("pages_held") - held0 == (long long)npages, "pages gone with an fd open");
	check_pattern(fd, size, "deleted, fd still open");
	close(fd);
	CHECK(held_wait(held0) == held0, "pages held %lld after the last close, %lld before",
	      param("pages_held"), held0);
	t0 = gm_mono_ns();
	while ((kib = unevictable_kib()) - kib0 > 512 && since_ms(t0) < 3000)
		usleep(10000);	/* per-cpu vmstat deltas fold in on a timer */
	CHECK(kib - kib0 <= 512, "Unevictable %lld -> %lld kB after DELETE and close", kib0, kib);
	gm_shimc_close(nl);
}

/*
 * A child that reads page index of p when told (toucher_go()) and exits 0
 * if it holds pattern(index), 2 if not.  Fork it while the test holds no
 * daemon socket: a child's copy would keep the daemon registered.
 */
struct toucher {
	pid_t pid;
	int go;
};

static struct toucher toucher_fork(char *p, uint64_t index)
{
	struct toucher t;
	int fds[2];
	char c;

	CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
	t.pid = fork();
	CHECK(t.pid >= 0, "fork: %s", strerror(errno));
	if (t.pid == 0) {
		close(fds[1]);
		if (read(fds[0], &c, 1) != 1)
			_exit(3);
		_exit(*(volatile unsigned char *)(p + index * PG) == pattern(index) ? 0 : 2);
	}
	close(fds[0]);
	t.go = fds[1];
	return t;
}

static void toucher_go(struct toucher *t)
{
	CHECK(write(t->go, "g", 1) == 1, "write: %s", strerror(errno));
	close(t->go);
}

/* An ask-mode file of token c, npages, mapped at *p; the daemon gone. */
static uint32_t ask_file(char c, size_t npages, uint64_t cookie, int *fd, char **p)
{
	struct gm_shimc *nl = daemon_token(c);
	uint32_t id;

	CHECK_ERR(gm_shimc_create_named(nl, npages * PG, 0, 0, GMEMFS_SHIM_FAULT_ASK, cookie,
					&id, fd), 0);
	gm_shimc_close(nl);
	*p = map(*fd, npages * PG);
	return id;
}

/* Token c's daemon back; touch t; its fault's event in *ev. */
static struct gm_shimc *daemon_fault(char c, struct toucher *t, struct gm_shimc_event *ev)
{
	struct gm_shimc *nl = daemon_token(c);
	int n;

	toucher_go(t);
	CHECK(notices(nl, 5000) > 0, "no NOTIFY for the fault");
	n = accept_all(nl, ev, 1);
	CHECK(n == 1 && ev->type == GMEMFS_SHIM_EV_FAULT && ev->req_id, "%d events", n);
	return nl;
}

static void populate_pattern(struct gm_shimc *nl, const struct gm_shimc_event *ev)
{
	char page[PG];

	CHECK(ev->type == GMEMFS_SHIM_EV_FAULT && ev->length == PG, "event %u length %llu",
	      ev->type, (unsigned long long)ev->length);
	memset(page, pattern(ev->offset / PG), PG);
	CHECK_ERR(gm_shimc_populate(nl, ev->file_id, ev->offset, page, PG, ev->req_id), 0);
}

static void check_exit0(pid_t pid, const char *what)
{
	int st = wait_exit(pid, 8000);

	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: status %#x", what, st);
}

/* Drop token c's file id (the test's own cleanup). */
static void delete_kept(char c, uint32_t id)
{
	struct gm_shimc *nl = daemon_token(c);

	CHECK_ERR(gm_shimc_delete(nl, id), 0);
	gm_shimc_close(nl);
}

/*
 * A fault asked of a daemon that dies unanswered, and one asked while no
 * daemon is registered, both wait; the token's next daemon gets both (the
 * first with its REQ_ID) and its answers reach the faulting processes.
 */
void t_persist_fault(void)
{
	struct gm_shimc_event ev[8];
	struct toucher c1, c2;
	struct gm_shimc *nl;
	uint32_t id, req;
	int fd, n, st;
	char *p;

	id = ask_file('A', 16, 0x78, &fd, &p);
	c1 = toucher_fork(p, 3);
	c2 = toucher_fork(p, 5);
	nl = daemon_fault('A', &c1, &ev[0]);
	CHECK(ev[0].offset == 3 * PG, "fault at %llu", (unsigned long long)ev[0].offset);
	req = ev[0].req_id;
	gm_shimc_close(nl);	/* the daemon goes, the fault unanswered */
	toucher_go(&c2);	/* a fault with no daemon at all */
	usleep(300 * 1000);
	CHECK(waitpid(c1.pid, &st, WNOHANG) == 0 && waitpid(c2.pid, &st, WNOHANG) == 0,
	      "a fault ended while its daemon was away (status %#x)", st);

	nl = daemon_token('A');
	CHECK(notices(nl, 5000) > 0, "no NOTIFY for the faults sent again");
	n = accept_all(nl, ev, 8);
	CHECK(n == 2, "%d events after REGISTER, want the two faults", n);
	for (int i = 0; i < n; i++) {
		CHECK(ev[i].offset == 5 * PG || ev[i].req_id == req,
		      "the pending fault came back as request %u, was %u", ev[i].req_id, req);
		populate_pattern(nl, &ev[i]);
	}
	check_exit0(c1.pid, "the fault pending across the daemon's death");
	check_exit0(c2.pid, "the fault asked with no daemon");
	munmap(p, 16 * PG);
	close(fd);
	CHECK_ERR(gm_shimc_delete(nl, id), 0);
	gm_shimc_close(nl);
}

/* No daemon of the token comes back: SIGBUS at the grace's end, then at once. */
void t_persist_grace(void)
{
	struct gm_shimc_event ev;
	struct toucher c;
	char *p, buf[PG];
	uint64_t t0;
	double ms;
	uint32_t id;
	int fd;

	set_param("daemon_grace_ms", 1000);
	id = ask_file('A', 4, 0x79, &fd, &p);
	c = toucher_fork(p, 0);
	gm_shimc_close(daemon_fault('A', &c, &ev));
	t0 = gm_mono_ns();
	CHECK_SIGBUS(wait_exit(c.pid, 8000));
	ms = since_ms(t0);
	CHECK(ms > 800 && ms < 4000, "SIGBUS %.0f ms after the daemon went, grace 1000 ms", ms);
	printf("  the pending fault ended in SIGBUS %.0f ms after its daemon went\n", ms);
	t0 = gm_mono_ns();
	CHECK_SIGBUS(in_child(touch_byte, p + PG, 8000));
	CHECK(since_ms(t0) < 500, "a fault past the grace took %.0f ms", since_ms(t0));
	CHECK(pread(fd, buf, PG, 2 * PG) == -1 && errno == ENOTCONN, "read past the grace: %s",
	      strerror(errno));
	set_param("daemon_grace_ms", GRACE_DEFAULT_MS);
	munmap(p, 4 * PG);
	close(fd);
	delete_kept('A', id);
}

/* ---- the stall of ask-mode faults across a daemon's kill -9 ---------- */

#define STALL_PAGES	256

struct stall {
	char *p;
	atomic_int done;
	double us[STALL_PAGES];
};

/* The VMM's thread: every page in turn, each fault timed and checked. */
static void *stall_faults(void *arg)
{
	struct stall *s = arg;

	for (int i = 0; i < STALL_PAGES; i++) {
		uint64_t t0 = gm_mono_ns();

		CHECK(*(volatile unsigned char *)(s->p + i * PG) == pattern(i), "page %d", i);
		s->us[i] = (double)(gm_mono_ns() - t0) / 1e3;
		s->done = i + 1;
	}
	return NULL;
}

/* A test daemon process of token 'S' serving faults with pattern(). */
static pid_t stall_daemon(void)
{
	pid_t pid = fork();

	CHECK(pid >= 0, "fork: %s", strerror(errno));
	if (pid == 0) {
		static struct server s;

		s.nl = daemon_token('S');
		s.fault = SERVE_DATA;
		serve(&s);
		_exit(1);
	}
	return pid;
}

/* kill -9 of a child daemon, as a crash would end it. */
static void kill_wait(pid_t d)
{
	int st;

	kill(d, SIGKILL);
	CHECK(waitpid(d, &st, 0) == d, "waitpid: %s", strerror(errno));
}

/*
 * A VMM thread faults an ask-mode file page by page while its daemon is
 * killed (SIGKILL) and a new one of the same token started: every byte
 * right, and the stall the faults saw (a figure; the new daemon here is a
 * fork and a REGISTER, gmemfsd's start adds its own time to the max).
 */
void t_persist_stall(void)
{
	static struct stall s;
	struct gm_shimc *nl;
	pthread_t thread;
	double p50, span;
	uint64_t t_kill;
	uint32_t id;
	pid_t d;
	int fd;

	nl = daemon_token('S');
	CHECK_ERR(gm_shimc_create_named(nl, STALL_PAGES * PG, 0, 0, GMEMFS_SHIM_FAULT_ASK, 0x7a,
					&id, &fd), 0);
	gm_shimc_close(nl);
	s.p = map(fd, STALL_PAGES * PG);
	d = stall_daemon();
	CHECK(pthread_create(&thread, NULL, stall_faults, &s) == 0, "thread");
	while (s.done < STALL_PAGES / 2)
		usleep(1000);	/* a count: nothing to poll() on */
	t_kill = gm_mono_ns();
	kill_wait(d);
	d = stall_daemon();
	pthread_join(thread, NULL);
	span = since_ms(t_kill);
	kill_wait(d);
	p50 = gm_median_sort(s.us, STALL_PAGES);	/* sorted: the max is last */
	printf("figure: TCG: %d ask-mode faults, the test daemon killed (SIGKILL) and restarted "
	       "(fork + REGISTER) after %d: p50 %.0f us, max %.1f ms; kill to last fault %.1f ms\n",
	       STALL_PAGES, STALL_PAGES / 2, p50, s.us[STALL_PAGES - 1] / 1e3, span);
	munmap(s.p, STALL_PAGES * PG);
	close(fd);
	delete_kept('S', id);
}

/* ---- gmemfsd killed under a KVM guest on a shim file ----------------- */

#define G_SIZE		(4UL << 20)
#define G_PAGES		(G_SIZE / PG)
#define G_PASSES	4096	/* at most, timed */

/* The guest: write then check every page, a new seed each pass, timed. */
struct guest {
	atomic_bool stop;
	atomic_int passes;
	uint32_t seed;		/* the last pass's, once stopped */
	double ms[G_PASSES];
};

static void *guest_run(void *arg)
{
	struct guest *g = arg;
	uint64_t ns, checked, bad = 0;
	struct gm_vmm vm;
	char *host = kvm_on(&vm, "ram", G_SIZE);

	while (!g->stop && g->passes < G_PASSES) {
		uint32_t seed = KVM_SEED + g->passes;
		uint64_t t0 = gm_mono_ns();
		int err;

		CHECK(gm_vmm_touch(&vm, seed, &ns) == 0, "pass %d, writing: %s", (int)g->passes,
		      vm.err);
		err = gm_vmm_check(&vm, seed, 0, 1, G_PAGES, &ns, &checked);
		CHECK(err == 0 && checked == G_PAGES, "pass %d: %d, %llu of %lu pages: %s",
		      (int)g->passes, err, (unsigned long long)checked, G_PAGES, vm.err);
		g->ms[g->passes] = since_ms(t0);
		g->seed = seed;
		g->passes++;
	}
	CHECK(gm_vmm_verify(host, G_SIZE, g->seed, &bad) == 0, "host: page %llu",
	      (unsigned long long)bad);
	kvm_off(&vm, host, G_SIZE);
	return NULL;
}

static void guest_wait(struct guest *g, int passes)
{
	uint64_t t0 = gm_mono_ns();

	while (g->passes < passes && since_ms(t0) < 30000)
		usleep(5000);	/* a count: nothing to poll() on */
	CHECK(g->passes >= passes, "the guest made %d passes, want %d", (int)g->passes, passes);
}

/* The daemon of /run/gmemfs-TEST's token, played by the test (gmemfsd down). */
static struct gm_shimc *daemon_of(const char *test)
{
	uint8_t token[GMEMFS_SHIM_TOKEN_MAX];
	struct gm_shimc *nl;
	char dir[128];

	snprintf(dir, sizeof(dir), "/run/gmemfs-%s", test);
	CHECK_ERR(gm_shim_token_load(dir, false, token), 0);
	CHECK_ERR(gm_shimc_open(&nl), 0);
	CHECK_ERR(gm_shimc_register_token(nl, token, sizeof(token)), 0);
	return nl;
}

/* The one file the module keeps for /run/gmemfs-TEST's token (no daemon
 * registered): its id, *pages held. */
static uint32_t kept_file(const char *test, uint64_t *pages)
{
	struct gm_shimc *nl = daemon_of(test);
	struct gm_shimc_file f;

	CHECK(listed(nl, 1, &f) == 1, "%s: %d files kept, want 1", test, listed(nl, 1, NULL));
	gm_shimc_close(nl);
	*pages = f.pages;
	return f.id;
}

/* GM_MNT/vm/ram read through the mount: every page's first word is seed's. */
static void mount_check(uint32_t seed, const char *what)
{
	int fd = open(GM_MNT "/vm/ram", O_RDONLY);
	uint32_t word;

	CHECK(fd >= 0, "%s: open: %s", what, strerror(errno));
	for (uint32_t i = 0; i < G_PAGES; i++)
		CHECK(pread(fd, &word, sizeof(word), (off_t)i * PG) == sizeof(word) &&
		      word == gm_vmm_pattern(seed, i), "%s: page %u", what, i);
	close(fd);
	CHECK(shim_used_wait(G_SIZE, true, 5000) >= (long long)G_SIZE,
	      "%s: the pool counts %lld bytes of shim memory", what, shim_used());
}

/* kill -9 and a restart while the guest runs: the guest goes on. */
static uint32_t gmemfsd_under_guest(pid_t *d, uint32_t *seed)
{
	static struct guest g;
	pthread_t thread;
	double p50, up_ms;
	uint64_t pages, t0;
	uint32_t id;
	int passes;

	CHECK(pthread_create(&thread, NULL, guest_run, &g) == 0, "thread");
	guest_wait(&g, 2);
	kill_wait(*d);
	passes = g.passes;
	guest_wait(&g, passes + 1);	/* with no daemon at all */
	id = kept_file("persist", &pages);
	CHECK(pages == G_PAGES, "kept file %u holds %llu pages", id, (unsigned long long)pages);
	t0 = gm_mono_ns();
	*d = gmemfsd_start("--pool-size=64M", "persist");
	up_ms = since_ms(t0);
	guest_wait(&g, g.passes + 2);
	g.stop = true;
	pthread_join(thread, NULL);
	p50 = gm_median_sort(g.ms, g.passes);	/* sorted: the max is last */
	printf("figure: TCG: a KVM guest writing and checking %lu pages of shim memory, gmemfsd "
	       "killed (SIGKILL) and restarted under it: a pass p50 %.0f ms, max %.0f ms (%d passes); "
	       "gmemfsd's restart to its mount %.0f ms\n",
	       G_PAGES, p50, g.ms[g.passes - 1], (int)g.passes, up_ms);
	*seed = g.seed;
	return id;
}

/* A kept file of the token that no file of gmemfsd's journal names. */
static void orphan_add(const char *test)
{
	struct gm_shimc *nl = daemon_of(test);
	uint32_t id;
	int fd;

	CHECK_ERR(gm_shimc_create_named(nl, 16 * PG, 0, 0, GMEMFS_SHIM_FAULT_AUTO,
					0xdeadbeef, &id, &fd), 0);
	CHECK(pwrite(fd, "x", 1, 0) == 1, "pwrite: %s", strerror(errno));
	close(fd);
	gm_shimc_close(nl);
}

/*
 * The module lost the file (reloaded, or a reboot): played by DELETE while
 * gmemfsd is down.  The restarted mount's file comes back empty (and
 * gmemfsd warns, naming it), never with other bytes.
 */
static void gmemfsd_file_lost(uint32_t id)
{
	struct gm_shimc *nl = daemon_of("persist");
	struct stat st;
	pid_t d;

	CHECK_ERR(gm_shimc_delete(nl, id), 0);
	gm_shimc_close(nl);
	d = gmemfsd_start("--pool-size=64M", "persist");
	CHECK(stat(GM_MNT "/vm/ram", &st) == 0 && st.st_size == 0 && st.st_blocks == 0,
	      "a file whose shim file is gone: size %lld, %lld blocks",
	      (long long)st.st_size, (long long)st.st_blocks);
	gmemfsd_stop(d);
}

/* kill -9, the VMM reads every byte and lets go; a later start re-adopts
 * it and deletes a kept file no file names. */
static void gmemfsd_no_restart(pid_t *d, uint32_t seed, uint32_t id)
{
	struct gmemfs_ctl_stat st;
	uint64_t pages, bad = 0;
	char *host;
	int fd;

	fd = gmemfs_open_backing(GM_MNT "/vm/ram", &st);
	CHECK(fd >= 0, "OPEN of vm/ram: %s", strerror(-fd));
	host = map(fd, G_SIZE);
	kill_wait(*d);
	CHECK(gm_vmm_verify(host, G_SIZE, seed, &bad) == 0, "no daemon: page %llu",
	      (unsigned long long)bad);
	munmap(host, G_SIZE);
	close(fd);
	/* Nothing but the module holds the file now. */
	CHECK(kept_file("persist", &pages) == id && pages == G_PAGES,
	      "no fd, no daemon: file %u, %llu pages", id, (unsigned long long)pages);
	orphan_add("persist");
	*d = gmemfsd_start("--pool-size=64M", "persist");
	mount_check(seed, "re-adopted after kill -9 with no VMM");
}

void t_persist_gmemfsd(void)
{
	uint64_t pages;
	uint32_t seed, id;
	pid_t d;
	int fd;

	CHECK(access("/dev/kvm", R_OK | W_OK) == 0, "the test guest has no /dev/kvm: %s",
	      strerror(errno));
	set_param("daemon_grace_ms", GRACE_DEFAULT_MS);
	d = gmemfsd_start("--pool-size=64M", "persist");
	fd = open(GM_MNT "/vm/ram", O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0 && ftruncate(fd, G_SIZE) == 0, "vm/ram: %s", strerror(errno));
	close(fd);
	id = gmemfsd_under_guest(&d, &seed);
	mount_check(seed, "the restarted mount");
	gmemfsd_no_restart(&d, seed, id);
	gmemfsd_stop(d);
	/* Never created anew: the module id is the first one's; the orphan
	 * was deleted (kept_file wants one file). */
	CHECK(kept_file("persist", &pages) == id && pages == G_PAGES, "after the restarts: "
	      "file %u, %llu pages", id, (unsigned long long)pages);
	gmemfsd_file_lost(id);
}

/*
 * Every gmemfsd of the tests before stopped with its files kept: the
 * module still holds their pages until a daemon of their token (here
 * gmemctl discard's way, gm_shim_forget()) deletes them; then none.
 */
void t_persist_forget(void)
{
	bool persisted = access("/run/gmemfs-persist/" GM_SHIM_TOKEN_FILE, F_OK) == 0;
	unsigned n, total = 0;
	char why[128];
	glob_t dirs;

	if (glob("/run/gmemfs-*", GLOB_ONLYDIR, NULL, &dirs) == 0) {
		for (size_t i = 0; i < dirs.gl_pathc; i++) {
			int err, tries = 0;

			/* A gmemfsd killed with a failed test may still be exiting. */
			while ((err = gm_shim_forget(dirs.gl_pathv[i], &n, why)) == -EBUSY &&
			       ++tries < 100)
				usleep(20000);
			CHECK(err == 0, "%s: %s (%s)", dirs.gl_pathv[i], strerror(-err), why);
			total += n;
		}
		globfree(&dirs);
	}
	printf("  deleted %u kept shim files of stopped gmemfsd state dirs\n", total);
	CHECK(total >= 1 || !persisted, "t_persist_gmemfsd's file was not kept");
	CHECK(held_wait(0) == 0, "%lld pages held after deleting every kept file",
	      param("pages_held"));
}
