/*
 * Secret memory through gmemfsd (docs/providers.md, "shim-secret";
 * docs/snapshot.md, "Secret snapshots"; docs/lazy-restore.md): files of
 * policy shim-secret are secret shim files, whose pages come from the
 * module's carve-out and are outside the kernel's direct map.  Checked
 * through the mount, through the fd the control socket hands out, by a KVM
 * guest, across snapshots and restores and a kill -9 of gmemfsd, with the
 * module's DIRECT_MAP ioctl as the proof.  Part of shim-test, run in the
 * test guest (whose kernel reserves the carve-out with memmap=).
 *
 * Not for: the module's own secret files (shim-test.c's tests of CREATE
 * with GMEMFS_SHIM_F_SECRET).
 */
#include <endian.h>
#include <fcntl.h>
#include <glob.h>
#include <linux/userfaultfd.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>

#include "gmemfs.h"
#include "gmemfs_client.h"
#include "gmemfs_shim.h"
#include "gmemfs_snap.h"
#include "common/clock.h"
#include "common/shim_keep.h"
#include "shim-test.h"

#define SEC_SIZE	(4UL << 20)
#define SEC_PAGES	(SEC_SIZE / PG)
#define SEC_SEED	0x5ec12e7

static void policy_set(const char *path, const char *value)
{
	CHECK(setxattr(path, "user.gmemfs.pagesize", value, strlen(value), 0) == 0,
	      "%s: policy %s: %s", path, value, strerror(errno));
}

/* gmemfsd with state "secret-NAME", logging to log: GM_MNT/vm of policy
 * shim-secret (gmemfsd_start made it shim), GM_MNT/plain of shim. */
static pid_t secret_start(const char *name, char log[64], bool new_log)
{
	char state[64];
	pid_t d;

	if (new_log)
		log_to("secret", name, log, 64);
	snprintf(state, sizeof(state), "secret-%s", name);
	d = gmemfsd_start("--pool-size=64M", state);
	policy_set(GM_MNT "/vm", "shim-secret");
	CHECK(mkdir(GM_MNT "/plain", 0755) == 0 || errno == EEXIST, "mkdir: %s", strerror(errno));
	policy_set(GM_MNT "/plain", "shim");
	return d;
}

static void kill_wait(pid_t d)
{
	int st;

	kill(d, SIGKILL);
	CHECK(waitpid(d, &st, 0) == d, "waitpid: %s", strerror(errno));
}

static struct gmemfs_ctl *ctl(void)
{
	struct gmemfs_ctl *c;

	CHECK(gmemfs_ctl_connect_path(GM_MNT, &c, NULL) == 0, "connect");
	return c;
}

/* The shim fd of GM_MNT/REL as a VMM gets it; its INFO in *st. */
static int handout(const char *rel, struct gmemfs_ctl_stat *st)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), GM_MNT "/%s", rel);
	fd = gmemfs_open_backing(path, st);
	CHECK(fd >= 0, "OPEN of %s: %s", path, strerror(-fd));
	CHECK(st->info.provider == GMEMFS_PROV_SHIM, "%s: provider %u", path, st->info.provider);
	return fd;
}

/* Every one of the first npages pages of shim fd is in state want
 * (GMEMFS_SHIM_DM_*): the module's own answer, from lookup_address. */
static void direct_map_all(int fd, size_t npages, unsigned char want, const char *what)
{
	static unsigned char state[SEC_PAGES];
	struct gmemfs_shim_direct_map dm = { .offset = 0, .pages = npages,
					     .buf = (uintptr_t)state };
	size_t n[3] = { 0 };

	CHECK(npages <= SEC_PAGES, "%zu pages", npages);
	memset(state, 0xff, npages);
	CHECK(ioctl(fd, GMEMFS_SHIM_IOC_DIRECT_MAP, &dm) == 0, "%s: DIRECT_MAP: %s", what,
	      strerror(errno));
	for (size_t i = 0; i < npages; i++) {
		CHECK(state[i] <= GMEMFS_SHIM_DM_MAPPED, "%s: page %zu: state %u", what, i,
		      state[i]);
		n[state[i]]++;
	}
	printf("  %s: DIRECT_MAP of %zu pages: %zu absent, %zu hidden, %zu mapped\n", what,
	       npages, n[GMEMFS_SHIM_DM_ABSENT], n[GMEMFS_SHIM_DM_HIDDEN],
	       n[GMEMFS_SHIM_DM_MAPPED]);
	CHECK(n[want] == npages, "%s: %zu of %zu pages in state %u", what, n[want], npages, want);
}

/* Page i of the first npages holds the word the KVM guest writes with seed
 * at its start and byte b(i) after it: what a guest and a host check. */
static void fill_words(int fd, size_t npages, uint32_t seed)
{
	static char buf[64 * PG];

	for (size_t first = 0; first < npages; first += 64) {
		size_t n = npages - first < 64 ? npages - first : 64;

		for (size_t i = 0; i < n; i++) {
			uint32_t w = gm_vmm_pattern(seed, (uint32_t)(first + i));

			memset(buf + i * PG, pattern(first + i), PG);
			memcpy(buf + i * PG, &w, sizeof(w));
		}
		CHECK(pwrite(fd, buf, n * PG, first * PG) == (ssize_t)(n * PG), "pwrite: %s",
		      strerror(errno));
	}
}

static void check_words(int fd, size_t npages, uint32_t seed, const char *what)
{
	char page[PG];

	for (size_t i = 0; i < npages; i++) {
		uint32_t w;

		CHECK(pread(fd, page, PG, i * PG) == PG, "%s: pread page %zu: %s", what, i,
		      strerror(errno));
		memcpy(&w, page, sizeof(w));
		CHECK(w == gm_vmm_pattern(seed, (uint32_t)i) &&
		      page[PG - 1] == (char)pattern(i), "%s: page %zu", what, i);
	}
}

static int make_file(const char *rel, size_t size)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), GM_MNT "/%s", rel);
	fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0, "create %s: %s", path, strerror(errno));
	CHECK(!size || ftruncate(fd, size) == 0, "ftruncate %s: %s", path, strerror(errno));
	return fd;
}

static void info_of(int fd, struct gmemfs_info *info)
{
	memset(info, 0, sizeof(*info));
	CHECK(ioctl(fd, GMEMFS_IOC_INFO, info) == 0, "GMEMFS_IOC_INFO: %s", strerror(errno));
}

/* The pool's carve-out figures, bytes. */
static void carve(uint64_t *size, uint64_t *free_bytes)
{
	struct gmemfs_ctl_pool pool;
	struct gmemfs_ctl *c = ctl();

	CHECK_ERR(gmemfs_ctl_pool(c, &pool), 0);
	gmemfs_ctl_close(c);
	*size = pool.secret_size;
	*free_bytes = pool.secret_free;
}

/* ---- through the mount ------------------------------------------------ */

/* A mapping of the mount's fd, where the kernel passes it through. */
static void mount_mmap(int fd, const struct gmemfs_info *info)
{
	char *p;

	if (!(info->flags & GMEMFS_INFO_PASSTHROUGH)) {
		printf("  no FUSE passthrough on this kernel: mmap is the handed-out fd's\n");
		return;
	}
	p = map(fd, SEC_SIZE);
	for (size_t i = 0; i < SEC_PAGES; i++) {
		uint32_t w;

		memcpy(&w, p + i * PG, sizeof(w));
		CHECK(w == gm_vmm_pattern(SEC_SEED, (uint32_t)i), "mount mapping: page %zu", i);
	}
	for (size_t i = 0; i < SEC_PAGES; i += 2) {
		uint32_t w = gm_vmm_pattern(SEC_SEED + 1, (uint32_t)i);

		memcpy(p + i * PG, &w, sizeof(w));
	}
	munmap(p, SEC_SIZE);
	for (size_t i = 0; i < SEC_PAGES; i += 2) {
		uint32_t w;

		CHECK(pread(fd, &w, sizeof(w), i * PG) == sizeof(w) &&
		      w == gm_vmm_pattern(SEC_SEED + 1, (uint32_t)i),
		      "page %zu written through the mount's mapping, read back", i);
	}
	fill_words(fd, SEC_SIZE / PG, SEC_SEED);
	printf("  mmap through the mount (passthrough): read and written\n");
}

/* An ordinary shim file's pages are in the direct map: the check can fail. */
static void ordinary_mapped(void)
{
	struct gmemfs_ctl_stat st;
	int fd = make_file("plain/o", 16 * PG), sfd;

	fill_words(fd, 16, SEC_SEED);
	close(fd);
	sfd = handout("plain/o", &st);
	CHECK(!(st.info.flags & GMEMFS_INFO_SECRET), "an ordinary shim file is secret");
	direct_map_all(sfd, 16, GMEMFS_SHIM_DM_MAPPED, "ordinary shim file");
	close(sfd);
}

/* The carve-out's free part goes back up by at least want bytes. */
static void carve_freed(uint64_t before, uint64_t want)
{
	uint64_t deadline = gm_mono_ns() + 3000000000ull, size, free_bytes;

	do {
		carve(&size, &free_bytes);
		if (free_bytes >= before + want)
			return;
		usleep(10000);	/* a figure: nothing to poll() on */
	} while (gm_mono_ns() < deadline);
	CHECK(0, "carve-out free %llu after unlink, %llu before", (unsigned long long)free_bytes,
	      (unsigned long long)before);
}

void t_secretfs_mount(void)
{
	struct gmemfs_ctl_stat st;
	struct gmemfs_info info;
	uint64_t size, free0, free1;
	char log[64], pol[32];
	ssize_t n;
	pid_t d;
	char *p;
	int fd, sfd;

	d = secret_start("mount", log, true);
	carve(&size, &free0);
	printf("  carve-out %llu MiB, %llu MiB free\n", (unsigned long long)size >> 20,
	       (unsigned long long)free0 >> 20);
	CHECK(size >= SEC_SIZE && free0 <= size, "carve-out %llu bytes, %llu free",
	      (unsigned long long)size, (unsigned long long)free0);
	fd = make_file("vm/a", SEC_SIZE);
	info_of(fd, &info);
	CHECK(info.provider == GMEMFS_PROV_SHIM && info.flags & GMEMFS_INFO_SECRET,
	      "provider %u flags %#x", info.provider, info.flags);
	n = getxattr(GM_MNT "/vm/a", "user.gmemfs.pagesize", pol, sizeof(pol) - 1);
	CHECK(n > 0 && (pol[n] = '\0', !strcmp(pol, "shim-secret")), "policy '%s'", pol);
	fill_words(fd, SEC_PAGES, SEC_SEED);
	check_words(fd, SEC_PAGES, SEC_SEED, "written and read through the mount");
	mount_mmap(fd, &info);
	CHECK(shim_used_wait(SEC_SIZE, true, 5000) >= (long long)SEC_SIZE,
	      "the pool counts %lld bytes of shim memory", shim_used());
	carve(&size, &free1);
	CHECK(free1 + SEC_SIZE <= free0, "carve-out free %llu, %llu before %lu bytes were written",
	      (unsigned long long)free1, (unsigned long long)free0, SEC_SIZE);

	sfd = handout("vm/a", &st);
	CHECK(st.info.flags & GMEMFS_INFO_SECRET, "the control socket's INFO: flags %#x",
	      st.info.flags);
	p = map(sfd, SEC_SIZE);
	CHECK(gm_vmm_verify(p, SEC_SIZE, SEC_SEED, NULL) == 0, "the handed-out fd's mapping");
	munmap(p, SEC_SIZE);
	direct_map_all(sfd, SEC_PAGES, GMEMFS_SHIM_DM_HIDDEN, "shim-secret file");
	close(sfd);
	ordinary_mapped();
	close(fd);
	CHECK(unlink(GM_MNT "/vm/a") == 0, "unlink: %s", strerror(errno));
	carve_freed(free1, SEC_SIZE);
	gmemfsd_stop(d);
}

/* ---- a KVM guest, snapshots and restores ------------------------------- */

#define SEC_SNAP	"/run/secret-kvm.snap"

/* The snapshot's index is version 4 and marked secret. */
static void index_secret(const char *snap)
{
	struct gmemfs_snap_header h;
	char idx[128];
	int fd;

	snprintf(idx, sizeof(idx), "%s" GMEMFS_SNAP_IDX_SUFFIX, snap);
	fd = open(idx, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0 && pread(fd, &h, sizeof(h), 0) == sizeof(h), "%s: %s", idx,
	      strerror(errno));
	close(fd);
	CHECK(le32toh(h.version) == 4 && le32toh(h.flags) & GMEMFS_SNAP_F_SECRET,
	      "%s: version %u flags %#x", idx, le32toh(h.version), le32toh(h.flags));
}

/* A checking guest on GM_MNT/vm/NAME: every page holds seed's word. */
static void guest_checks(const char *name, uint32_t seed, const char *what)
{
	uint64_t ns, checked = 0;
	struct gm_vmm vm;
	char *host = kvm_on(&vm, name, SEC_SIZE);
	int err = gm_vmm_check(&vm, seed, 0, 1, SEC_PAGES, &ns, &checked);

	CHECK(err == 0 && checked == SEC_PAGES, "%s: the checking guest: %d, %llu of %lu "
	      "pages: %s", what, err, (unsigned long long)checked, SEC_PAGES, vm.err);
	printf("figure: TCG: a guest checks %lu pages of secret memory %s: %.0f ns/page\n",
	       SEC_PAGES, what, (double)ns / SEC_PAGES);
	kvm_off(&vm, host, SEC_SIZE);
}

static void hidden(const char *rel, const char *what)
{
	struct gmemfs_ctl_stat st;
	int sfd = handout(rel, &st);

	CHECK(st.info.flags & GMEMFS_INFO_SECRET, "%s: not secret (flags %#x)", what,
	      st.info.flags);
	direct_map_all(sfd, SEC_PAGES, GMEMFS_SHIM_DM_HIDDEN, what);
	close(sfd);
}

static void restore_eager(const char *snap, const char *rel, uint32_t flags, int want)
{
	struct gmemfs_snap_stats st;
	struct gmemfs_ctl *c = ctl();
	int err = gmemfs_ctl_restore_flags(c, snap, rel, flags, NULL, NULL, &st);

	CHECK(err == want, "RESTORE of %s into %s: %d (%s), want %d", snap, rel, err,
	      gmemfs_ctl_reason(c), want);
	printf("  restore into %s%s: %s\n", rel, flags & GMEMFS_CTL_F_FORCE ? ", forced" : "",
	       err ? gmemfs_ctl_reason(c) : "done");
	if (err)
		CHECK(strstr(gmemfs_ctl_reason(c), "secret"), "reason: %s", gmemfs_ctl_reason(c));
	gmemfs_ctl_close(c);
}

/*
 * A KVM guest writes every page of a shim-secret file (its handed-out fd
 * mapped as guest RAM); the host and a checking guest see every word.
 * Its snapshot is marked secret, and an eager restore into another
 * shim-secret file is checked by a guest, its pages hidden.
 */
void t_secretfs_kvm(void)
{
	uint64_t ns, bad = 0;
	struct gm_vmm vm;
	char log[64], *host;
	pid_t d;
	int fd;

	CHECK(access("/dev/kvm", R_OK | W_OK) == 0, "the test guest has no /dev/kvm: %s",
	      strerror(errno));
	d = secret_start("kvm", log, true);
	fd = lazy_file("ram", SEC_SIZE);
	host = kvm_on(&vm, "ram", SEC_SIZE);
	CHECK(gm_vmm_touch(&vm, KVM_SEED, &ns) == 0, "the guest's writes: %s", vm.err);
	printf("figure: TCG: a guest writes %lu pages of secret memory: %.0f ns/page\n",
	       SEC_PAGES, (double)ns / SEC_PAGES);
	CHECK(gm_vmm_verify(host, SEC_SIZE, KVM_SEED, &bad) == 0, "page %llu",
	      (unsigned long long)bad);
	kvm_off(&vm, host, SEC_SIZE);
	close(fd);
	guest_checks("ram", KVM_SEED, "as written");
	hidden("vm/ram", "the guest's file");
	snap_to("vm/ram", SEC_SNAP);
	index_secret(SEC_SNAP);

	close(lazy_file("eager", 0));
	restore_eager(SEC_SNAP, "vm/eager", 0, 0);
	guest_checks("eager", KVM_SEED, "restored eagerly");
	hidden("vm/eager", "restored eagerly");
	gmemfsd_stop(d);
}

/* ---- lazy restore in ask mode ----------------------------------------- */

struct sess_find {
	uint64_t id;
	bool found;
};

static int sess_find_fn(void *ctx, const struct gmemfs_session *s)
{
	struct sess_find *f = ctx;

	f->found |= s->id == f->id;
	return 0;
}

static void session_wait_end(uint64_t id, int ms)
{
	uint64_t deadline = gm_mono_ns() + (uint64_t)ms * 1000000;
	struct sess_find f = { .id = id, .found = true };

	while (f.found && gm_mono_ns() < deadline) {
		struct gmemfs_ctl *c = ctl();

		f.found = false;
		CHECK_ERR(gmemfs_ctl_sessions(c, sess_find_fn, &f), 0);
		gmemfs_ctl_close(c);
		if (f.found)
			usleep(20000);	/* the session's end: nothing to poll() on */
	}
	CHECK(!f.found, "session %llu still runs after %d ms", (unsigned long long)id, ms);
}

/* RESTORE_LAZY in ask mode (no uffd) of snap into rel: the errno. */
static int restore_ask(const char *snap, const char *rel, uint32_t flags, uint64_t *id)
{
	struct gmemfs_ctl *c = ctl();
	int err = gmemfs_ctl_restore_lazy(c, snap, -1, NULL, 0, rel, flags, id);

	printf("  ask-mode restore into %s%s: %s\n", rel,
	       flags & GMEMFS_CTL_F_FORCE ? ", forced" : "", err ? gmemfs_ctl_reason(c) : "started");
	gmemfs_ctl_close(c);
	return err;
}

/* The source: a shim-secret file holding the guest's words, snapshotted. */
static void secret_source(const char *snap)
{
	int fd = lazy_file("src", SEC_SIZE);

	fill_words(fd, SEC_PAGES, KVM_SEED);
	close(fd);
	snap_to("vm/src", snap);
	index_secret(snap);
}

#define SEC_LAZY_SNAP	"/run/secret-lazy.snap"

/* Ask mode into a shim-secret file, no prefetch: every page a guest
 * touches is a fault the daemon populates from the snapshot. */
void t_secretfs_lazy(void)
{
	uint64_t id = 0;
	char log[64];
	pid_t d;

	CHECK(access("/dev/kvm", R_OK | W_OK) == 0, "the test guest has no /dev/kvm: %s",
	      strerror(errno));
	d = secret_start("lazy", log, true);
	secret_source(SEC_LAZY_SNAP);
	close(lazy_file("lz", 0));
	CHECK_ERR(restore_ask(SEC_LAZY_SNAP, "vm/lz", GMEMFS_CTL_F_NO_PREFETCH, &id), 0);
	guest_checks("lz", KVM_SEED, "restored lazily in ask mode");
	session_wait_end(id, 20000);
	hidden("vm/lz", "restored lazily in ask mode");
	gmemfsd_stop(d);
}

/* ---- refusals ----------------------------------------------------------- */

#define SEC_REF_SNAP	"/run/secret-refuse.snap"

static int uffd_new(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	CHECK(fd >= 0, "userfaultfd: %s", strerror(errno));
	CHECK(ioctl(fd, UFFDIO_API, &api) == 0, "UFFDIO_API: %s", strerror(errno));
	return fd;
}

static int uffd_register(int uffd, void *p, size_t len)
{
	struct uffdio_register reg = {
		.range = { .start = (uintptr_t)p, .len = len },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	return ioctl(uffd, UFFDIO_REGISTER, &reg) ? -errno : 0;
}

/* A uffd over ordinary memory asks for a secret snapshot, and one over
 * anything asks for a shim-secret file: both refused.  A uffd cannot even
 * register a mapping of secret memory, which is why. */
static void refuse_uffd(void)
{
	struct gmemfs_ctl_stat st;
	struct gmemfs_region reg = { .size = SEC_SIZE, .page_size = PG };
	struct gmemfs_ctl *c;
	uint64_t id;
	int uffd = uffd_new(), sfd, err;
	char *anon, *sec;

	anon = mmap(NULL, SEC_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(anon != MAP_FAILED, "mmap: %s", strerror(errno));
	CHECK_ERR(uffd_register(uffd, anon, SEC_SIZE), 0);
	reg.addr = (uintptr_t)anon;
	c = ctl();
	CHECK_ERR(gmemfs_ctl_restore_lazy(c, SEC_REF_SNAP, uffd, &reg, 1, NULL, 0, &id),
		  -EOPNOTSUPP);
	printf("  a uffd restore of the secret snapshot: %s\n", gmemfs_ctl_reason(c));
	CHECK(strstr(gmemfs_ctl_reason(c), "userfaultfd does not apply"), "reason: %s",
	      gmemfs_ctl_reason(c));
	CHECK_ERR(gmemfs_ctl_restore_lazy(c, SEC_REF_SNAP, uffd, &reg, 1, "vm/src", 0, &id),
		  -EOPNOTSUPP);
	printf("  a uffd restore into a shim-secret file: %s\n", gmemfs_ctl_reason(c));
	CHECK(strstr(gmemfs_ctl_reason(c), "shim-secret"), "reason: %s", gmemfs_ctl_reason(c));
	gmemfs_ctl_close(c);
	sfd = handout("vm/src", &st);
	sec = map(sfd, SEC_SIZE);
	err = uffd_register(uffd, sec, SEC_SIZE);
	printf("  UFFDIO_REGISTER of a secret mapping: %s\n", strerror(-err));
	CHECK(err < 0, "a uffd registered over secret memory");
	munmap(sec, SEC_SIZE);
	close(sfd);
	munmap(anon, SEC_SIZE);
	close(uffd);
}

/*
 * A secret snapshot into a file that is not secret: refused (EPERM) eagerly
 * and in ask mode, done when forced (the bytes right, the log says so);
 * through a uffd refused (EOPNOTSUPP).
 */
void t_secretfs_refusals(void)
{
	char log[64], page[PG];
	uint64_t id = 0;
	pid_t d;
	int fd;

	d = secret_start("refuse", log, true);
	secret_source(SEC_REF_SNAP);
	close(make_file("plain/e", 0));
	restore_eager(SEC_REF_SNAP, "plain/e", 0, -EPERM);
	fd = make_file("plain/f", 0);
	restore_eager(SEC_REF_SNAP, "plain/f", GMEMFS_CTL_F_FORCE, 0);
	check_words(fd, SEC_PAGES, KVM_SEED, "forced into an ordinary shim file");
	close(fd);
	CHECK(log_has(log, "secret snapshot forced", "not secret", 5000),
	      "no log line for the forced restore");
	close(make_file("plain/l", 0));
	CHECK_ERR(restore_ask(SEC_REF_SNAP, "plain/l", 0, &id), -EPERM);
	fd = make_file("plain/m", 0);
	CHECK_ERR(restore_ask(SEC_REF_SNAP, "plain/m", GMEMFS_CTL_F_FORCE, &id), 0);
	session_wait_end(id, 20000);
	CHECK(pread(fd, page, PG, 9 * PG) == PG && page[PG - 1] == (char)pattern(9),
	      "forced ask-mode restore: page 9");
	close(fd);
	refuse_uffd();
	gmemfsd_stop(d);
}

/* ---- gmemfsd kill -9 ----------------------------------------------------- */

/* The one file the module keeps for /run/gmemfs-secret-restart's token
 * (gmemfsd down): its LIST entry. */
static struct gm_shimc_file kept(struct gm_shimc **out)
{
	uint8_t token[GMEMFS_SHIM_TOKEN_MAX];
	struct gm_shimc_file files[GM_SHIMC_FILES_MAX];
	struct gm_shimc *nl;
	int n;

	CHECK_ERR(gm_shim_token_load("/run/gmemfs-secret-restart", false, token), 0);
	CHECK_ERR(gm_shimc_open(&nl), 0);
	CHECK_ERR(gm_shimc_register_token(nl, token, sizeof(token)), 0);
	n = gm_shimc_list(nl, 1, files, GM_SHIMC_FILES_MAX);
	CHECK(n == 1, "%d files kept, want 1", n);
	*out = nl;
	return files[0];
}

/*
 * kill -9 of gmemfsd: its restart re-adopts the file from the module's
 * LIST, secret, with its bytes, its pages still hidden.  Then the module
 * loses the file (DELETE while gmemfsd is down): the restart recreates it
 * empty, and secret, as the journal's policy says.
 */
void t_secretfs_restart(void)
{
	struct gmemfs_info info;
	struct gm_shimc_file f;
	struct gm_shimc *nl;
	struct stat sb;
	char log[64];
	pid_t d;
	int fd;

	d = secret_start("restart", log, true);
	fd = lazy_file("keep", SEC_SIZE);
	fill_words(fd, SEC_PAGES, SEC_SEED);
	close(fd);
	kill_wait(d);
	f = kept(&nl);
	gm_shimc_close(nl);
	CHECK(f.flags & GMEMFS_SHIM_F_SECRET && f.pages == SEC_PAGES,
	      "kept file %u: flags %#x, %llu pages", f.id, f.flags, (unsigned long long)f.pages);
	d = secret_start("restart", log, false);
	fd = open(GM_MNT "/vm/keep", O_RDWR);
	CHECK(fd >= 0, "vm/keep after the restart: %s", strerror(errno));
	info_of(fd, &info);
	CHECK(info.flags & GMEMFS_INFO_SECRET, "re-adopted, flags %#x", info.flags);
	check_words(fd, SEC_PAGES, SEC_SEED, "re-adopted after kill -9");
	close(fd);
	hidden("vm/keep", "re-adopted after kill -9");
	CHECK(shim_used_wait(SEC_SIZE, true, 5000) >= (long long)SEC_SIZE,
	      "the pool counts %lld bytes after the restart", shim_used());
	kill_wait(d);

	f = kept(&nl);
	CHECK_ERR(gm_shimc_delete(nl, f.id), 0);
	gm_shimc_close(nl);
	d = secret_start("restart", log, false);
	fd = open(GM_MNT "/vm/keep", O_RDWR);
	CHECK(fd >= 0 && fstat(fd, &sb) == 0 && sb.st_blocks == 0, "vm/keep whose shim file "
	      "is gone: %s, %lld blocks", strerror(errno), (long long)sb.st_blocks);
	info_of(fd, &info);
	CHECK(info.flags & GMEMFS_INFO_SECRET, "recreated, flags %#x", info.flags);
	if (!sb.st_size)
		CHECK(ftruncate(fd, SEC_SIZE) == 0, "ftruncate: %s", strerror(errno));
	fill_words(fd, SEC_PAGES, SEC_SEED + 2);
	close(fd);
	hidden("vm/keep", "recreated after its shim file was lost");
	CHECK(log_has(log, "came back empty", "", 5000), "no warning for the lost file");
	gmemfsd_stop(d);
}

/* ---- no carve-out ------------------------------------------------------ */

/* Delete the files kept for the secret tests' state dirs (so the module
 * can go), as gmemctl discard would. */
static void forget_secret_dirs(void)
{
	glob_t dirs;

	if (glob("/run/gmemfs-secret-*", GLOB_ONLYDIR, NULL, &dirs))
		return;
	for (size_t i = 0; i < dirs.gl_pathc; i++) {
		char why[128];
		unsigned n;
		int err, tries = 0;

		/* A gmemfsd just stopped may still be exiting. */
		while ((err = gm_shim_forget(dirs.gl_pathv[i], &n, why)) == -EBUSY && ++tries < 100)
			usleep(20000);
		CHECK(err == 0, "%s: %s (%s)", dirs.gl_pathv[i], strerror(-err), why);
	}
	globfree(&dirs);
}

/* The module reloaded with these parameters (bounded wait for its users
 * to go). */
static void module_reload(const char *params)
{
	char cmd[128];
	int tries = 0, err;

	while ((err = syscall(SYS_delete_module, "gmemfs", O_NONBLOCK) ? -errno : 0) ==
	       -EWOULDBLOCK && ++tries < 250)
		usleep(20000);
	CHECK(err == 0 || err == -ENOENT, "unloading gmemfs: %s", strerror(-err));
	snprintf(cmd, sizeof(cmd), "modprobe gmemfs %s", params);
	CHECK(system(cmd) == 0, "%s failed", cmd);
}

/*
 * The module loaded without a carve-out: creating a file of policy
 * shim-secret, or giving an empty file that policy, fails with EOPNOTSUPP
 * and a log line naming the file; the pool says 0 bytes of carve-out.
 * The module is loaded again as the guest's command line has it.
 */
void t_secretfs_no_carveout(void)
{
	uint64_t size = 1, free_bytes = 1;
	char log[64];
	pid_t d;
	int fd;

	forget_secret_dirs();
	module_reload("carveout=");
	d = secret_start("nocarve", log, true);
	fd = open(GM_MNT "/vm/x", O_RDWR | O_CREAT | O_EXCL, 0600);
	CHECK(fd < 0 && errno == EOPNOTSUPP, "create in a shim-secret directory: fd %d, %s", fd,
	      strerror(errno));
	CHECK(log_has(log, "policy shim-secret refused", "no carve-out", 5000),
	      "no log line for the refused create");
	close(make_file("plain/p", 0));	/* an open file takes no policy (EBUSY) */
	CHECK(setxattr(GM_MNT "/plain/p", "user.gmemfs.pagesize", "shim-secret", 11, 0) == -1 &&
	      errno == EOPNOTSUPP, "shim-secret on an empty file: %s", strerror(errno));
	carve(&size, &free_bytes);
	CHECK(size == 0 && free_bytes == 0, "no carve-out, but the pool says %llu bytes, %llu free",
	      (unsigned long long)size, (unsigned long long)free_bytes);
	gmemfsd_stop(d);
	forget_secret_dirs();
	module_reload("");
}
