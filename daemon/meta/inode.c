/*
 * Inode and dentry tables on rculfhash, and inode reference counting.
 * See inode.h for the lifetime and locking rules.  Not for: what an inode's
 * backing is (the evict hook owns that) or journaling.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "meta/inode.h"

static unsigned long gm_hash_ino(uint64_t ino)
{
	return (unsigned long)(ino * 0x9e3779b97f4a7c15ULL);
}

static unsigned long gm_hash_dentry(uint64_t parent, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ gm_hash_ino(parent);

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 0x100000001b3ULL;
	return (unsigned long)h;
}

#define GM_HT_MIN_BUCKETS	64

int gm_itable_init(struct gm_itable *it, gm_evict_fn evict, void *owner)
{
	memset(it, 0, sizeof(*it));
	it->evict = evict;
	it->owner = owner;
	pthread_mutex_init(&it->tree_lock, NULL);
	it->inode_buckets = it->dentry_buckets = GM_HT_MIN_BUCKETS;
	it->inodes = cds_lfht_new(GM_HT_MIN_BUCKETS, GM_HT_MIN_BUCKETS, 0, 0, NULL);
	it->dentries = cds_lfht_new(GM_HT_MIN_BUCKETS, GM_HT_MIN_BUCKETS, 0, 0, NULL);
	if (!it->inodes || !it->dentries) {
		if (it->inodes)
			cds_lfht_destroy(it->inodes, NULL);
		if (it->dentries)
			cds_lfht_destroy(it->dentries, NULL);
		return -ENOMEM;
	}
	return 0;
}

struct gm_inode *gm_inode_alloc(uint64_t ino, mode_t mode, uid_t uid, gid_t gid)
{
	struct gm_inode *inode = calloc(1, sizeof(*inode));
	struct timespec now;

	if (!inode)
		return NULL;
	clock_gettime(CLOCK_REALTIME, &now);
	inode->ino = ino;
	inode->type = mode & S_IFMT;
	inode->perm = mode & 07777;
	inode->uid = uid;
	inode->gid = gid;
	inode->atime = inode->mtime = inode->ctime = now;
	inode->backing_fd = -1;
	inode->backing_id = -1;
	inode->parent = inode;
	pthread_mutex_init(&inode->lock, NULL);
	pthread_cond_init(&inode->released, NULL);
	cds_lfht_node_init(&inode->hnode);
	CDS_INIT_LIST_HEAD(&inode->children);
	CDS_INIT_LIST_HEAD(&inode->dir_cursors);
	inode->next_cookie = 3;		/* 1 and 2 are "." and ".." */
	return inode;
}

/* A table that now holds count entries doubles once it has as many as
 * buckets: O(count) work each doubling, O(1) an insert.  Outside any
 * read-side section (rculfhash's rule for resize); tree_lock held, which
 * is safe because no read-side section waits for tree_lock. */
static void gm_ht_grow(struct cds_lfht *ht, unsigned long *buckets, long count)
{
	if ((unsigned long)count < *buckets)
		return;
	*buckets *= 2;
	gm_rcu_online();
	cds_lfht_resize(ht, *buckets);
}

/* ... and halves, down to a quarter full, once it is an eighth full: a
 * walk of the table (gm_itable_for_each) costs its buckets, not only its
 * entries, and a mount that once held a million names must not pay for
 * them ever after.  Shrinking waits for an RCU grace period, which is safe
 * under tree_lock for the same reason, and the caller holds no inode lock
 * (gm_itable_for_each readers take those). */
static void gm_ht_shrink(struct cds_lfht *ht, unsigned long *buckets, long count)
{
	if (*buckets <= GM_HT_MIN_BUCKETS || (unsigned long)count >= *buckets / 8)
		return;
	while (*buckets > GM_HT_MIN_BUCKETS && (unsigned long)count < *buckets / 4)
		*buckets /= 2;
	gm_rcu_online();
	cds_lfht_resize(ht, *buckets);
}

static int gm_inode_match(struct cds_lfht_node *node, const void *key)
{
	const struct gm_inode *inode = caa_container_of(node, struct gm_inode, hnode);

	return inode->ino == *(const uint64_t *)key;
}

int gm_inode_hash_add(struct gm_itable *it, struct gm_inode *inode)
{
	struct cds_lfht_node *old;

	gm_rcu_read_lock();
	old = cds_lfht_add_unique(it->inodes, gm_hash_ino(inode->ino), gm_inode_match,
				  &inode->ino, &inode->hnode);
	gm_rcu_read_unlock();
	if (old != &inode->hnode)
		return -EEXIST;
	gm_ht_grow(it->inodes, &it->inode_buckets, atomic_fetch_add(&it->ninodes, 1) + 1);
	return 0;
}

void gm_itable_for_each(struct gm_itable *it, void (*fn)(struct gm_inode *inode, void *ctx),
			void *ctx)
{
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;

	gm_rcu_read_lock();
	/* Not cds_lfht_for_each_entry: it computes container_of(NULL) at the
	 * end of the table, which is undefined behaviour. */
	cds_lfht_for_each(it->inodes, &iter, node)
		fn(caa_container_of(node, struct gm_inode, hnode), ctx);
	gm_rcu_read_unlock();
}

/* Take a reference unless the count already reached zero (eviction is in
 * progress and the inode must not be resurrected). */
static bool gm_inode_tryget(struct gm_inode *inode)
{
	long old = atomic_load(&inode->refs);

	while (old > 0) {
		if (atomic_compare_exchange_weak(&inode->refs, &old, old + 1))
			return true;
	}
	return false;
}

struct gm_inode *gm_inode_find(struct gm_itable *it, uint64_t ino)
{
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;
	struct gm_inode *inode = NULL;

	gm_rcu_read_lock();
	cds_lfht_lookup(it->inodes, gm_hash_ino(ino), gm_inode_match, &ino, &iter);
	node = cds_lfht_iter_get_node(&iter);
	if (node) {
		inode = caa_container_of(node, struct gm_inode, hnode);
		if (!gm_inode_tryget(inode))
			inode = NULL;
	}
	gm_rcu_read_unlock();
	return inode;
}

void gm_inode_ref(struct gm_inode *inode, long n)
{
	atomic_fetch_add(&inode->refs, n);
}

/* Past this many xattrs an inode gets a hash index; below, a walk of the
 * list is as quick and costs no memory. */
#define GM_XATTR_INDEX_MIN	8

struct gm_xattr_index {
	struct gm_xattr **tail;		/* the NULL link that ends inode->xattrs */
	size_t count;
	size_t mask;			/* buckets - 1; a power of two minus one */
	struct gm_xattr *bucket[];
};

static uint32_t gm_xattr_hash(const char *name)
{
	uint32_t h = 0x811c9dc5;

	for (; *name; name++)
		h = (h ^ (unsigned char)*name) * 0x01000193;
	return h;
}

/* Put every xattr of inode into a fresh index of nbuckets buckets, which
 * replaces the old one; on ENOMEM the old index (or the plain list) stays,
 * which is slower but correct. */
static void gm_xattr_reindex(struct gm_inode *inode, size_t count, size_t nbuckets)
{
	struct gm_xattr_index *xi = calloc(1, sizeof(*xi) + nbuckets * sizeof(xi->bucket[0]));
	struct gm_xattr **tail = &inode->xattrs;

	if (!xi)
		return;
	xi->count = count;
	xi->mask = nbuckets - 1;
	for (struct gm_xattr *x = inode->xattrs; x; x = x->next) {
		struct gm_xattr **b = &xi->bucket[x->hash & xi->mask];

		x->hnext = *b;
		*b = x;
		tail = &x->next;
	}
	xi->tail = tail;
	free(inode->xindex);
	inode->xindex = xi;
}

struct gm_xattr **gm_xattr_slot(struct gm_inode *inode, const char *name)
{
	struct gm_xattr_index *xi = inode->xindex;
	struct gm_xattr **p;
	uint32_t h;

	if (!xi) {
		for (p = &inode->xattrs; *p; p = &(*p)->next) {
			if (!strcmp((*p)->name, name))
				break;
		}
		return p;
	}
	h = gm_xattr_hash(name);
	for (struct gm_xattr *x = xi->bucket[h & xi->mask]; x; x = x->hnext) {
		if (x->hash == h && !strcmp(x->name, name))
			return x->pprev;
	}
	return xi->tail;
}

void gm_xattr_link(struct gm_inode *inode, struct gm_xattr *x)
{
	struct gm_xattr_index *xi = inode->xindex;
	struct gm_xattr **tail = xi ? xi->tail : &inode->xattrs;
	size_t count = 1;

	if (!xi) {
		for (; *tail; tail = &(*tail)->next)
			count++;
	}
	x->hash = gm_xattr_hash(x->name);
	x->next = NULL;
	x->pprev = tail;
	*tail = x;
	if (!xi) {
		if (count >= GM_XATTR_INDEX_MIN)
			gm_xattr_reindex(inode, count, 2 * GM_XATTR_INDEX_MIN);
		return;
	}
	xi->tail = &x->next;
	x->hnext = xi->bucket[x->hash & xi->mask];
	xi->bucket[x->hash & xi->mask] = x;
	if (++xi->count > 2 * (xi->mask + 1))
		gm_xattr_reindex(inode, xi->count, 4 * (xi->mask + 1));
}

void gm_xattr_unlink(struct gm_inode *inode, struct gm_xattr *x)
{
	struct gm_xattr_index *xi = inode->xindex;
	struct gm_xattr **b;

	*x->pprev = x->next;
	if (x->next)
		x->next->pprev = x->pprev;
	else if (xi)
		xi->tail = x->pprev;
	if (!xi)
		return;
	for (b = &xi->bucket[x->hash & xi->mask]; *b != x; b = &(*b)->hnext)
		;
	*b = x->hnext;
	if (--xi->count == 0) {
		free(xi);
		inode->xindex = NULL;
	}
}

void gm_xattr_free(struct gm_xattr *x)
{
	free(x->name);
	free(x->value);
	free(x);
}

void gm_xattrs_free_all(struct gm_inode *inode)
{
	struct gm_xattr *x = inode->xattrs;

	while (x) {
		struct gm_xattr *next = x->next;

		gm_xattr_free(x);
		x = next;
	}
	inode->xattrs = NULL;
	free(inode->xindex);
	inode->xindex = NULL;
}

void gm_inode_free(struct gm_inode *inode)
{
	gm_xattrs_free_all(inode);
	free(inode->link);
	pthread_cond_destroy(&inode->released);
	pthread_mutex_destroy(&inode->lock);
	free(inode);
}

static void gm_inode_free_rcu(struct rcu_head *head)
{
	gm_inode_free(caa_container_of(head, struct gm_inode, rcu));
}

void gm_inode_put(struct gm_itable *it, struct gm_inode *inode, long n)
{
	long old = atomic_fetch_sub(&inode->refs, n);

	if (old > n)
		return;
	if (old < n)
		abort();	/* more puts than gets: a refcount bug, not input */
	gm_rcu_read_lock();
	cds_lfht_del(it->inodes, &inode->hnode);
	gm_rcu_read_unlock();
	atomic_fetch_sub(&it->ninodes, 1);
	if (it->evict)
		it->evict(it, inode);
	gm_rcu_online();
	call_rcu(&inode->rcu, gm_inode_free_rcu);
}

static void gm_dir_cursors_unmark(struct gm_inode *dir, struct gm_dentry *d);
static void gm_dir_cursors_mark_new(struct gm_inode *dir, struct gm_dentry *d);

struct gm_dentry_key {
	uint64_t parent;
	const char *name;
};

static int gm_dentry_match(struct cds_lfht_node *node, const void *key)
{
	const struct gm_dentry *d = caa_container_of(node, struct gm_dentry, hnode);
	const struct gm_dentry_key *k = key;

	return d->parent_ino == k->parent && strcmp(d->name, k->name) == 0;
}

static struct gm_dentry *gm_dentry_find_rcu(struct gm_itable *it, uint64_t parent,
					    const char *name)
{
	struct gm_dentry_key key = { parent, name };
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;

	cds_lfht_lookup(it->dentries, gm_hash_dentry(parent, name), gm_dentry_match,
			&key, &iter);
	node = cds_lfht_iter_get_node(&iter);
	return node ? caa_container_of(node, struct gm_dentry, hnode) : NULL;
}

struct gm_inode *gm_dentry_lookup(struct gm_itable *it, uint64_t parent_ino,
				  const char *name)
{
	struct gm_inode *inode = NULL;
	struct gm_dentry *d;

	gm_rcu_read_lock();
	d = gm_dentry_find_rcu(it, parent_ino, name);
	if (d && gm_inode_tryget(d->inode))
		inode = d->inode;
	gm_rcu_read_unlock();
	return inode;
}

struct gm_dentry *gm_dentry_find_locked(struct gm_itable *it, uint64_t parent_ino,
					const char *name)
{
	struct gm_dentry *d;

	gm_rcu_read_lock();
	d = gm_dentry_find_rcu(it, parent_ino, name);
	gm_rcu_read_unlock();
	return d;	/* stays valid: removal needs the tree_lock we hold */
}

struct gm_dentry *gm_dentry_alloc(const char *name)
{
	size_t len = strlen(name);
	struct gm_dentry *d = calloc(1, sizeof(*d) + len + 1);

	if (!d)
		return NULL;
	memcpy(d->name, name, len + 1);
	cds_lfht_node_init(&d->hnode);
	return d;
}

void gm_dentry_insert_locked(struct gm_itable *it, struct gm_inode *dir,
			     struct gm_dentry *d, struct gm_inode *inode)
{
	struct gm_dentry_key key = { dir->ino, d->name };
	struct cds_lfht_node *old;

	d->parent_ino = dir->ino;
	d->cookie = dir->next_cookie++;
	d->inode = inode;
	gm_rcu_read_lock();
	old = cds_lfht_add_unique(it->dentries, gm_hash_dentry(dir->ino, d->name),
				  gm_dentry_match, &key, &d->hnode);
	gm_rcu_read_unlock();
	if (old != &d->hnode)
		abort();	/* the caller checked under tree_lock: a locking bug */
	gm_ht_grow(it->dentries, &it->dentry_buckets, atomic_fetch_add(&it->ndentries, 1) + 1);
	gm_inode_ref(inode, 1);
	inode->nlink++;
	if (inode->type == S_IFDIR) {
		inode->parent = dir;
		dir->nlink++;		/* the child's ".." */
	}
	cds_list_add_tail(&d->sibling, &dir->children);
	dir->nchildren++;
	gm_dir_cursors_mark_new(dir, d);
}

int gm_dentry_add_locked(struct gm_itable *it, struct gm_inode *dir,
			 const char *name, struct gm_inode *inode)
{
	struct gm_dentry *d;

	if (gm_dentry_find_locked(it, dir->ino, name))
		return -EEXIST;
	d = gm_dentry_alloc(name);
	if (!d)
		return -ENOMEM;
	gm_dentry_insert_locked(it, dir, d, inode);
	return 0;
}

static void gm_dentry_free_rcu(struct rcu_head *head)
{
	free(caa_container_of(head, struct gm_dentry, rcu));
}

void gm_dentry_del_locked(struct gm_itable *it, struct gm_inode *dir,
			  struct gm_dentry *d)
{
	struct gm_inode *inode = d->inode;

	gm_rcu_read_lock();
	cds_lfht_del(it->dentries, &d->hnode);
	gm_rcu_read_unlock();
	gm_ht_shrink(it->dentries, &it->dentry_buckets, atomic_fetch_sub(&it->ndentries, 1) - 1);
	gm_ht_shrink(it->inodes, &it->inode_buckets, atomic_load(&it->ninodes));
	gm_dir_cursors_unmark(dir, d);
	cds_list_del(&d->sibling);
	dir->nchildren--;
	inode->nlink--;
	if (inode->type == S_IFDIR) {
		dir->nlink--;
		/* Removed for good (not renamed): forget the parent, which may go
		 * before this directory does while someone still has it open. */
		if (inode->nlink == 0)
			inode->parent = inode;
	}
	gm_rcu_online();
	call_rcu(&d->rcu, gm_dentry_free_rcu);
	gm_inode_put(it, inode, 1);
}

/* The entry after d in its directory's list, or NULL. */
static struct gm_dentry *gm_dentry_succ(struct gm_inode *dir, struct gm_dentry *d)
{
	if (d->sibling.next == &dir->children)
		return NULL;
	return caa_container_of(d->sibling.next, struct gm_dentry, sibling);
}

static struct gm_dentry *gm_dentry_first(struct gm_inode *dir)
{
	if (cds_list_empty(&dir->children))
		return NULL;
	return caa_container_of(dir->children.next, struct gm_dentry, sibling);
}

/* The marks of dir's cursors describe "the first entry after pos" exactly:
 * an entry going away hands its marks to its successor... */
static void gm_dir_cursors_unmark(struct gm_inode *dir, struct gm_dentry *d)
{
	struct gm_dir_cursor *c;

	cds_list_for_each_entry(c, &dir->dir_cursors, link) {
		for (int i = 0; i < 2; i++) {
			if (c->mark[i].next == d)
				c->mark[i].next = gm_dentry_succ(dir, d);
		}
	}
}

/* ... and a new entry, which has the largest cookie, becomes the next of
 * every mark that was at the end. */
static void gm_dir_cursors_mark_new(struct gm_inode *dir, struct gm_dentry *d)
{
	struct gm_dir_cursor *c;

	cds_list_for_each_entry(c, &dir->dir_cursors, link) {
		for (int i = 0; i < 2; i++) {
			if (!c->mark[i].next)
				c->mark[i].next = d;
		}
	}
}

/* Starts from the closest mark of any open cursor of dir at or before
 * after, else from the start. */
struct gm_dentry *gm_dentry_next_locked(struct gm_inode *dir, uint64_t after)
{
	struct gm_dentry *d = gm_dentry_first(dir);
	uint64_t best = 0;
	struct gm_dir_cursor *c;

	if (after < 3)
		return d;
	cds_list_for_each_entry(c, &dir->dir_cursors, link) {
		for (int i = 0; i < 2; i++) {
			if (c->mark[i].pos <= after && c->mark[i].pos >= best) {
				best = c->mark[i].pos;
				d = c->mark[i].next;
			}
		}
	}
	while (d && d->cookie <= after)
		d = gm_dentry_succ(dir, d);
	return d;
}

void gm_dir_cursor_open(struct gm_dir_cursor *c, struct gm_inode *dir)
{
	c->dir = dir;
	for (int i = 0; i < 2; i++) {
		c->mark[i].pos = 2;
		c->mark[i].next = gm_dentry_first(dir);
	}
	cds_list_add(&c->link, &dir->dir_cursors);
}

void gm_dir_cursor_close(struct gm_dir_cursor *c)
{
	cds_list_del(&c->link);
}

struct gm_dentry *gm_dir_cursor_seek(struct gm_dir_cursor *c, uint64_t after)
{
	struct gm_dentry *d = gm_dentry_next_locked(c->dir, after);

	for (int i = 0; i < 2; i++) {
		c->mark[i].pos = after < 3 ? 2 : after;
		c->mark[i].next = d;
	}
	return d;
}

struct gm_dentry *gm_dir_cursor_next(struct gm_dir_cursor *c, struct gm_dentry *d)
{
	c->mark[1].pos = d->cookie;
	c->mark[1].next = gm_dentry_succ(c->dir, d);
	return c->mark[1].next;
}

static void gm_itable_drain(struct cds_lfht *ht, bool dentries)
{
	struct cds_lfht_iter iter;
	struct cds_lfht_node *node;

	gm_rcu_read_lock();
	cds_lfht_first(ht, &iter);
	while ((node = cds_lfht_iter_get_node(&iter)) != NULL) {
		cds_lfht_next(ht, &iter);
		cds_lfht_del(ht, node);
		if (dentries) {
			struct gm_dentry *d = caa_container_of(node, struct gm_dentry, hnode);

			call_rcu(&d->rcu, gm_dentry_free_rcu);
		} else {
			struct gm_inode *inode = caa_container_of(node, struct gm_inode, hnode);

			call_rcu(&inode->rcu, gm_inode_free_rcu);
		}
	}
	gm_rcu_read_unlock();
}

void gm_itable_fini(struct gm_itable *it)
{
	/* Daemon exit: the backing objects must survive for the next start,
	 * so inodes are freed without the evict hook. */
	gm_itable_drain(it->dentries, true);
	gm_itable_drain(it->inodes, false);
	gm_rcu_online();
	rcu_barrier();
	cds_lfht_destroy(it->dentries, NULL);
	cds_lfht_destroy(it->inodes, NULL);
	pthread_mutex_destroy(&it->tree_lock);
}
