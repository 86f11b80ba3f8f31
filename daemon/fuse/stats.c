/*
 * The JSON document behind MOUNT/.gmemfs/stats: the pool's figures, the
 * requests the daemon served (per operation; read and write must stay 0
 * when passthrough works) and one record per file the reader could list.
 * Not for: serving it (views.c).
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mem/backing.h"
#include "fuse/fsops.h"
#include "common/json.h"
#include "prov/kvm_gmem.h"

/* A provider the pool knows but could not attach: listed with the reason,
 * so an operator sees why hugetlb-1g files fall back or fail. */
static void gm_stats_absent(FILE *f, struct gm_fs *fs, uint32_t id, bool *first)
{
	fprintf(f, "%s{\"name\":\"%s\",\"available\":false,\"used\":0,\"limit\":0,"
		"\"reason\":", *first ? "" : ",", gmemfs_prov_name(id));
	gm_json_str(f, fs->pool.absent[id]);
	fputc('}', f);
	*first = false;
}

static void gm_stats_pool(FILE *f, struct gm_fs *fs)
{
	struct gm_pool_usage u = { 0 };
	uint64_t secret, secret_free;
	bool first = true;

	gm_pool_usage(&fs->pool, &u);
	fprintf(f, "\"pool\":{\"budget\":%llu,\"used\":%llu,\"free\":%llu,\"providers\":[",
		(unsigned long long)u.budget, (unsigned long long)u.used,
		(unsigned long long)u.free);
	for (unsigned i = 0; i < GM_NPROV; i++) {
		const struct gm_provider *p = fs->pool.inst[i].prov;

		if (!p) {
			if (fs->pool.absent[i])
				gm_stats_absent(f, fs, i, &first);
			continue;
		}
		fprintf(f, "%s{\"name\":\"%s\",\"available\":true,\"page_size\":%llu,"
			"\"used\":%llu,\"limit\":%llu,\"fixed\":%s,\"hugepages_added\":%ld}",
			first ? "" : ",", p->name, (unsigned long long)p->page_size,
			(unsigned long long)u.prov[i].used, (unsigned long long)u.prov[i].limit,
			p->fixed_limit ? "true" : "false", fs->pool.pages_added[i]);
		first = false;
	}
	fputc(']', f);
	if (!gm_pool_secret(&fs->pool, &secret, &secret_free))
		fprintf(f, ",\"secret\":{\"size\":%llu,\"free\":%llu}",
			(unsigned long long)secret, (unsigned long long)secret_free);
	fputc('}', f);
}

static void gm_stats_requests(FILE *f, struct gm_fs *fs)
{
	fputs("\"requests\":{", f);
	for (unsigned i = 0; i < GM_OP_COUNT; i++)
		fprintf(f, "%s\"%s\":%llu", i ? "," : "", gm_op_names[i],
			(unsigned long long)atomic_load(&fs->ops[i]));
	fputc('}', f);
}

static void gm_stats_file(FILE *f, struct gm_inode *inode, const char *path, bool *first)
{
	struct stat st = { 0 };

	pthread_mutex_lock(&inode->lock);
	gm_backing_stat(inode, &st);
	fprintf(f, "%s{\"path\":", *first ? "" : ",");
	gm_json_str(f, path);
	fprintf(f, ",\"id\":%llu,\"provider\":\"%s\",\"policy\":\"%s\",\"size\":%lld,"
		"\"populated\":%llu,\"open\":%u,\"nlink\":%u",
		(unsigned long long)inode->ino, inode->pi ? inode->pi->prov->name : "none",
		gm_policy_text(inode->policy), (long long)st.st_size,
		(unsigned long long)st.st_blocks * 512, inode->nopen, inode->nlink);
	if (inode->pi && inode->pi->prov->id == GMEMFS_PROV_KVM_GMEM)
		fprintf(f, ",\"attached\":%s",
			prov_kvm_gmem_attached(inode->pi, inode->ino) ? "true" : "false");
	fputc('}', f);
	pthread_mutex_unlock(&inode->lock);
	*first = false;
}

/* One walk's output and whose eyes it is for. */
struct gm_stats_walk {
	FILE *f;
	const struct gm_cred *reader;
	char *path;
	bool first;
};

/* Depth first below dir; w->path holds dir's path (len bytes).  Only
 * directories the reader may list are entered, so nobody learns a name
 * through the view that ls would not show them.  tree_lock held. */
static void gm_stats_walk(struct gm_stats_walk *w, struct gm_inode *dir, size_t len)
{
	struct gm_dentry *d;

	cds_list_for_each_entry(d, &dir->children, sibling) {
		size_t n = strlen(d->name);

		if (d->inode->is_virtual || len + 1 + n >= PATH_MAX)
			continue;
		w->path[len] = '/';
		memcpy(w->path + len + 1, d->name, n + 1);
		if (d->inode->type == S_IFDIR && gm_may(w->reader, d->inode, R_OK | X_OK))
			gm_stats_walk(w, d->inode, len + 1 + n);
		else if (d->inode->type == S_IFREG)
			gm_stats_file(w->f, d->inode, w->path, &w->first);
		w->path[len] = '\0';
	}
}

char *gm_stats_json(struct gm_fs *fs, const struct gm_cred *reader, size_t *len)
{
	struct gm_stats_walk w = { .reader = reader, .first = true };
	char *buf = NULL;
	FILE *f;

	w.path = calloc(1, PATH_MAX);
	f = w.path ? open_memstream(&buf, len) : NULL;
	if (!f) {
		free(w.path);
		return NULL;
	}
	w.f = f;
	fputc('{', f);
	gm_stats_pool(f, fs);
	fputc(',', f);
	gm_stats_requests(f, fs);
	fprintf(f, ",\"passthrough\":%s,\"files\":[", fs->passthrough ? "true" : "false");
	pthread_mutex_lock(&fs->it.tree_lock);
	if (gm_may(reader, fs->root, R_OK | X_OK))
		gm_stats_walk(&w, fs->root, 0);
	pthread_mutex_unlock(&fs->it.tree_lock);
	fputs("]}\n", f);
	free(w.path);
	if (fclose(f)) {
		free(buf);
		return NULL;
	}
	return buf;
}
