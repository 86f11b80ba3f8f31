/*
 * gmemfsd: option parsing, state-directory set-up, and the FUSE session's
 * life (mount, optional daemonizing, the multi-threaded loop, clean
 * unmount on SIGINT/SIGTERM/SIGHUP).  Not for: anything a request does.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "ctl/sock.h"
#include "uffd/record.h"
#include "uffd/session.h"
#include "fuse/fsops.h"
#include "mem/mapped.h"
#include "core/log.h"
#include "core/notify.h"
#include "meta/recover.h"
#include "uffd/resume.h"
#include "common/statedir.h"

static void gm_usage(const char *prog)
{
	printf("usage: %s [options] [SOURCE] MOUNTPOINT\n\n"
	       "gmemfs: a memory filesystem for virtual-machine guest memory.\n"
	       "SOURCE (mount(8)'s, when called as a mount helper) names the mount.\n\n"
	       "gmemfs options (each also an option of -o, with an underscore, the\n"
	       "way mount(8) and fstab pass them: -o pool_size=8G,pagesize=2m-thp):\n"
	       "    --pool-size=SIZE       memory budget shared by all files: bytes with\n"
	       "                           K/M/G/T suffix, or N%% of RAM (default %d%%)\n"
	       "    --pagesize=POLICY      default page-size policy: 4k, 2m-thp, 2m, 1g,\n"
	       "                           auto, kvm-gmem, or 2m/1g,fallback=SIZE\n"
	       "                           (default auto; per directory or file with the\n"
	       "                           xattr " GMEMFS_XATTR_PAGESIZE ")\n"
	       "    --hugepages=2M:N,1G:N  add N huge pages to the kernel's pool for\n"
	       "                           hugetlb files (given back at exit); part of\n"
	       "                           --pool-size; as -o: hugepages_2m=N,hugepages_1g=N\n"
	       "    --hugepages-2m=N       the same, one page size each\n"
	       "    --hugepages-1g=N\n"
	       "    --state-dir=DIR        backing stores and journal (default\n"
	       "                           " GM_STATE_ROOT "/<escaped mountpoint>)\n"
	       "    --log-level=LEVEL      error, warn, info or debug (default info)\n"
	       "    --ctl-socket=PATH      control socket (default STATE_DIR.sock)\n"
	       "    --shrink-mapped=WHAT   refuse (EBUSY) or allow a truncate below what\n"
	       "                           a process maps (default refuse: a running\n"
	       "                           guest keeps its memory)\n"
	       "    --views=WHAT           hidden or visible: whether the root's\n"
	       "                           listing shows " GMEMFS_VIEWS_DIR " (default hidden;\n"
	       "                           it opens by name either way)\n"
	       "    -o strictatime         update atime on every access (default relatime)\n"
	       "    --version              print versions and exit\n\n",
	       prog, GM_POOL_DEFAULT_PCT);
	fuse_cmdline_help();
	fuse_lowlevel_help();
}

/* A two-word option: *out false for the first word (and when not given),
 * true for the second; -EINVAL, said, for anything else. */
static int gm_opt_either(const char *opt, const char *val, const char *no, const char *yes,
			 bool *out)
{
	*out = val && !strcmp(val, yes);
	if (!val || *out || !strcmp(val, no))
		return 0;
	fprintf(stderr, "gmemfsd: %s=%s: use %s or %s\n", opt, val, no, yes);
	return -EINVAL;
}

static int gm_opts_policy(struct gm_cli *cli, struct gm_opts *o)
{
	o->pagesize = GM_PS_AUTO;
	const char *why;

	if (cli->pagesize && gm_policy_parse_why(cli->pagesize, strlen(cli->pagesize),
						 &o->pagesize, &why)) {
		fprintf(stderr, "gmemfsd: --pagesize=%s: %s\n", cli->pagesize, why);
		return -EINVAL;
	}
	if (gm_cli_hugepages(cli, &o->hugepages_2m, &o->hugepages_1g))
		return -EINVAL;
	o->strictatime = cli->strictatime;
	if (gm_opt_either("--shrink-mapped", cli->shrink_mapped, "refuse", "allow",
			  &o->shrink_mapped) ||
	    gm_opt_either("--views", cli->views, "hidden", "visible", &o->views_visible))
		return -EINVAL;
	o->log_level = GM_LOG_INFO;
	if (cli->log_level && gm_log_parse_level(cli->log_level, &o->log_level)) {
		fprintf(stderr, "gmemfsd: --log-level=%s: use error, warn, info or debug\n",
			cli->log_level);
		return -EINVAL;
	}
	return 0;
}

static int gm_opts_pool(struct gm_cli *cli, struct gm_opts *o)
{
	uint64_t mem = gm_mem_total();
	char dflt[16];
	const char *s = cli->pool_size;

	snprintf(dflt, sizeof(dflt), "%d%%", GM_POOL_DEFAULT_PCT);
	if (!s)
		s = dflt;
	if (gm_parse_size(s, mem, &o->pool_bytes) || o->pool_bytes < GM_POOL_MIN) {
		fprintf(stderr, "gmemfsd: --pool-size=%s: want bytes with a K/M/G/T suffix "
			"or a percentage of RAM, at least %llu MiB\n", s,
			(unsigned long long)(GM_POOL_MIN >> 20));
		return -EINVAL;
	}
	return 0;
}

static int gm_opts_state_dir(struct gm_cli *cli, struct gm_opts *o)
{
	char abs[PATH_MAX];

	if (!cli->state_dir) {
		o->state_dir = gm_state_dir_default(o->mountpoint);
		return o->state_dir ? 0 : -ENAMETOOLONG;
	}
	if (gm_state_dir_prepare(cli->state_dir) || !realpath(cli->state_dir, abs)) {
		fprintf(stderr, "gmemfsd: --state-dir=%s: %s\n", cli->state_dir, strerror(errno));
		return -EINVAL;
	}
	o->state_dir = strdup(abs);
	return o->state_dir ? 0 : -ENOMEM;
}

/* By default beside the state directory (gm_state_dir_socket()). */
static int gm_opts_ctl_socket(struct gm_cli *cli, struct gm_opts *o)
{
	char cwd[PATH_MAX];
	int n;

	if (!cli->ctl_socket) {
		o->ctl_socket = gm_state_dir_socket(o->state_dir);
		n = o->ctl_socket ? 0 : -1;
	} else if (cli->ctl_socket[0] == '/')
		n = asprintf(&o->ctl_socket, "%s", cli->ctl_socket);
	else if (getcwd(cwd, sizeof(cwd)))
		n = asprintf(&o->ctl_socket, "%s/%s", cwd, cli->ctl_socket);
	else
		n = -1;
	if (n < 0) {
		o->ctl_socket = NULL;
		return -ENOMEM;
	}
	return 0;
}

static int gm_opts_finish(struct gm_cli *cli, struct gm_opts *o)
{
	int err;

	err = gm_opts_policy(cli, o);
	if (!err)
		err = gm_opts_pool(cli, o);
	if (!err)
		err = gm_opts_state_dir(cli, o);
	if (!err)
		err = gm_opts_ctl_socket(cli, o);
	gm_log_level = o->log_level;
	return err;
}

/* -o fsname=NAME, NAME's commas escaped from libfuse's -o splitting. */
static int gm_args_fsname(struct fuse_args *args, const char *name)
{
	char *fsname = NULL, *opt = NULL;
	int err = -ENOMEM;

	if (asprintf(&fsname, "fsname=%s", name) < 0)
		return err;
	if (fuse_opt_add_opt_escaped(&opt, fsname) == 0 &&
	    fuse_opt_add_arg(args, "-o") == 0 && fuse_opt_add_arg(args, opt) == 0)
		err = 0;
	free(opt);
	free(fsname);
	return err;
}

/* Mount options every gmemfs mount needs: the kernel checks permissions
 * like a local filesystem, and a root-owned mount serves every user.  The
 * mount's source is what mount(8) was given, when it was. */
static int gm_args_defaults(struct fuse_args *args, const char *source)
{
	bool fsname = false;
	int err = 0;

	for (int i = 0; i < args->argc; i++)
		fsname |= strstr(args->argv[i], "fsname=") != NULL;
	err |= fuse_opt_add_arg(args, "-odefault_permissions");
	err |= fuse_opt_add_arg(args, "-osubtype=gmemfs");
	if (!fsname)
		err |= gm_args_fsname(args, source ? source : "gmemfs");
	if (geteuid() == 0)
		err |= fuse_opt_add_arg(args, "-oallow_other");
	return err ? -ENOMEM : 0;
}

/* A daemon killed with SIGKILL leaves its mount behind, dead.  Restarting
 * with the same arguments is the way back, so clear such a mount.  statfs,
 * not stat: the kernel answers a stat of the root from attributes it still
 * caches (for a second), a statfs always asks the daemon. */
static void gm_clear_dead_mount(const char *mnt)
{
	struct statfs st;

	if (statfs(mnt, &st) == 0 || errno != ENOTCONN)
		return;
	if (umount2(mnt, MNT_DETACH) == 0)
		gm_warn("%s: detached the dead mount a previous gmemfsd left", mnt);
}

/* -o strictatime: libfuse mounts with the kernel's default (relatime), so
 * the rule is set after, by a remount of the mount's own flags, which must
 * name the others it keeps (mnt_opts, from mountinfo). */
static int gm_mount_strictatime(const char *mnt, const char *mnt_opts)
{
	static const struct { const char *opt; unsigned long flag; } keep[] = {
		{ "ro", MS_RDONLY }, { "nosuid", MS_NOSUID }, { "nodev", MS_NODEV },
		{ "noexec", MS_NOEXEC }, { "nodiratime", MS_NODIRATIME },
	};
	unsigned long flags = MS_REMOUNT | MS_BIND | MS_STRICTATIME;
	int err;

	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
		flags |= gm_opts_has(mnt_opts, keep[i].opt) ? keep[i].flag : 0;
	if (mount(NULL, mnt, NULL, flags, NULL) == 0)
		return 0;
	err = -errno;	/* before gm_err, whose write may change errno */
	gm_err("%s: cannot set strictatime: %s", mnt, strerror(-err));
	return err;
}

static void gm_banner(struct gm_fs *fs)
{
	const struct gm_opts *o = fs->opts;

	gm_info("gmemfs %s mounted at %s: pool %llu MiB, page size %s, state %s",
		GMEMFS_VERSION, o->mountpoint, (unsigned long long)(o->pool_bytes >> 20),
		gm_policy_text(o->pagesize), o->state_dir);
	if (!o->foreground)
		return;
	printf("\nUse it:\n"
	       "  truncate -s 1G %s/vm0.ram          # guest RAM for a VMM (mmap it)\n"
	       "  setfattr -n %s -v 4k %s/dir   # page-size policy\n"
	       "  stat -f %s; cat %s/%s/%s       # pool and per-file figures\n"
	       "  qemu ... -object memory-backend-file,id=m,size=1G,mem-path=%s/vm0.ram,share=on\n"
	       "  gmemctl ls %s          # control socket %s\n"
	       "Ctrl-C unmounts; files stay in %s for the next start.\n\n",
	       o->mountpoint, GMEMFS_XATTR_PAGESIZE, o->mountpoint, o->mountpoint,
	       o->mountpoint, GMEMFS_VIEWS_DIR, GMEMFS_STATS_FILE, o->mountpoint,
	       o->mountpoint, o->ctl_socket, o->state_dir);
	fflush(stdout);
}

/* fuse_daemonize() forks; liburcu's helper threads must be told, or the
 * child would wait forever for grace periods its threads were to drive. */
static int gm_daemonize(bool foreground)
{
	int err;

	if (foreground)
		return 0;
	call_rcu_before_fork();
	err = fuse_daemonize(0);
	call_rcu_after_fork_child();
	return err;
}

static int gm_loop(struct fuse_session *se, bool single)
{
	struct fuse_loop_config *cfg;
	int err;

	if (single)
		return fuse_session_loop(se);
	cfg = fuse_loop_cfg_create();
	if (!cfg)
		return -ENOMEM;
	fuse_loop_cfg_set_max_threads(cfg, 16);
	fuse_loop_cfg_set_clone_fd(cfg, 0);
	err = fuse_session_loop_mt(se, cfg);
	fuse_loop_cfg_destroy(cfg);
	return err;
}

/* The new mount's device (for "is it mapped through the mount") and its
 * atime rule, which the stores follow; strictatime asked for is set. */
static void gm_mount_settle(struct gm_fs *fs)
{
	char mnt_opts[GM_MOUNT_OPTS_LEN] = "";

	fs->fuse_dev = gm_mount_find(fs->opts->mountpoint, mnt_opts);
	if (fs->fuse_dev && fs->opts->strictatime &&
	    gm_mount_strictatime(fs->opts->mountpoint, mnt_opts) == 0)
		fs->fuse_dev = gm_mount_find(fs->opts->mountpoint, mnt_opts);
	if (fs->fuse_dev)
		gm_pool_mirror_atime(&fs->pool, mnt_opts);
	else
		gm_warn("%s: mount not found in mountinfo: a truncate can no longer "
			"tell whether a VMM maps the file through the mount, and the "
			"stores keep their atime rule", fs->opts->mountpoint);
}

static int gm_serve(struct gm_fs *fs, struct fuse_args *args, bool single)
{
	static struct gm_ctlsock ctl;	/* lives as long as the mount */
	int err = -EIO;

	fs->se = fuse_session_new(args, &gm_fsops, sizeof(gm_fsops), fs);
	if (!fs->se)
		return err;
	if (fuse_set_signal_handlers(fs->se))
		goto out_session;
	err = gm_ctlsock_open(&ctl, fs, fs->opts->ctl_socket);
	if (err)
		goto out_signals;
	err = -EIO;
	gm_clear_dead_mount(fs->opts->mountpoint);
	if (fuse_session_mount(fs->se, fs->opts->mountpoint))
		goto out_ctl;
	gm_mount_settle(fs);
	gm_banner(fs);
	err = gm_daemonize(fs->opts->foreground);
	/* After the fork (a resumed session runs threads), before the shim's
	 * event thread accepts the faults its module sends again
	 * (prov/shim.h's restart order, step 3). */
	if (!err)
		gm_resume_startup(fs->opts->state_dir);
	if (!err)
		err = gm_pool_start(&fs->pool);
	if (!err)
		err = gm_rebalancer_start(&fs->rebalancer, fs);
	if (!err)
		err = gm_ctlsock_start(&ctl);
	if (!err)
		gm_notify_ready();	/* not fatal: a mount serves either way */
	if (!err)
		err = gm_loop(fs->se, single);
	/* The loop returns the number of the signal that ended it: SIGINT,
	 * SIGTERM and SIGHUP are how an operator stops us, not failures. */
	if (err > 0) {
		gm_info("stopping on signal %d", err);
		err = 0;
	}
	gm_rebalancer_stop(&fs->rebalancer);
	fuse_session_unmount(fs->se);
	gm_info("%s unmounted", fs->opts->mountpoint);
out_ctl:
	gm_ctlsock_close(&ctl);
	/* After the connections: a UFFD_LISTEN listener runs in one of them. */
	gm_uffd_sessions_stop_all();
	gm_record_forget_fs(fs);
out_signals:
	fuse_remove_signal_handlers(fs->se);
out_session:
	fuse_session_destroy(fs->se);
	fs->se = NULL;		/* the kernel dropped every passthrough id with it */
	gm_view_release_all();
	return err;
}

/* Every file keeps its backing open in the daemon: allow as many as the
 * hard limit lets us, not the shell's default 1024. */
static void gm_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl))
		gm_warn("cannot raise the open-file limit: %s", strerror(errno));
}

static int gm_start(struct gm_opts *o, struct fuse_args *args, bool single)
{
	static struct gm_fs fs;	/* lives as long as the mount */
	int lock_fd, err;

	gm_raise_nofile();
	err = gm_state_dir_prepare(o->state_dir);
	if (err) {
		gm_err("state dir %s: %s", o->state_dir, strerror(-err));
		return err;
	}
	lock_fd = gm_state_dir_lock(o->state_dir);
	if (lock_fd < 0) {
		gm_err("state dir %s: %s", o->state_dir, lock_fd == -EBUSY ?
		       "another gmemfsd is using it" : strerror(-lock_fd));
		return lock_fd;
	}
	err = gm_fs_setup(&fs, o);
	if (!err) {
		/* Kept passthrough ids (fuse/file.c) go before the backing does;
		 * replay, which registers none, ran with gm_backing_evict. */
		fs.it.evict = gm_file_evict;
		err = gm_serve(&fs, args, single);
		gm_fs_teardown(&fs);
	}
	close(lock_fd);
	return err;
}

/* An option neither gmemfsd nor libfuse knows is an error before the state
 * directory is touched: libfuse says which, on a copy of the arguments
 * (fuse_session_new takes its own out of what it is given). */
static int gm_args_check(const struct fuse_args *args)
{
	struct fuse_args copy = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se = NULL;
	int err = -ENOMEM;

	for (int i = 0; i < args->argc; i++)
		if (fuse_opt_add_arg(&copy, args->argv[i]))
			goto out;
	err = -EINVAL;
	se = fuse_session_new(&copy, &gm_fsops, sizeof(gm_fsops), NULL);
	if (se)
		err = 0;
	else
		fprintf(stderr, "gmemfsd: see gmemfsd --help for the options\n");
out:
	if (se)
		fuse_session_destroy(se);
	fuse_opt_free_args(&copy);
	return err;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts fo = { 0 };
	struct gm_cli cli = { 0 };
	struct gm_opts o = { 0 };
	int err = 1;

	if (gm_cli_parse(&args, &cli) || fuse_parse_cmdline(&args, &fo))
		goto out;
	if (fo.show_help) {
		gm_usage(argv[0]);
		err = 0;
		goto out;
	}
	if (cli.version || fo.show_version) {
		printf("gmemfsd %s\n", GMEMFS_VERSION);
		fuse_lowlevel_version();
		err = 0;
		goto out;
	}
	if (!fo.mountpoint) {
		fprintf(stderr, "usage: %s [options] MOUNTPOINT  (--help for more)\n", argv[0]);
		goto out;
	}
	o.mountpoint = fo.mountpoint;
	o.foreground = fo.foreground;
	if (gm_args_defaults(&args, cli.source) || gm_args_check(&args) ||
	    gm_opts_finish(&cli, &o))
		goto out;
	err = gm_start(&o, &args, fo.singlethread) ? 1 : 0;
out:
	free(o.state_dir);
	free(o.ctl_socket);
	free(fo.mountpoint);
	gm_cli_free(&cli);
	fuse_opt_free_args(&args);
	return err;
}
