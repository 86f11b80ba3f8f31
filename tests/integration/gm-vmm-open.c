/*
 * gm-vmm-open: what a VMM does with libgmemfs, in as few lines as it
 * takes: the backing fd of a guest-memory file from the control socket,
 * mapped shared, every page written.  Also compiled by t-ctl-lib.sh against
 * the pkg-config file, to prove that file is enough to build a client.
 *
 * Usage: gm-vmm-open PATH BYTE     (PATH on a gmemfs mount)
 * Exit: 0 ok, 1 refused or failed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gmemfs_client.h>

int main(int argc, char **argv)
{
	struct gmemfs_ctl_stat st;
	unsigned char *ram;
	int fd;

	if (argc != 3)
		return 1;
	fd = gmemfs_open_backing(argv[1], &st);
	if (fd < 0) {
		fprintf(stderr, "gm-vmm-open: %s: %s\n", argv[1], strerror(-fd));
		return 1;
	}
	ram = mmap(NULL, st.info.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (ram == MAP_FAILED) {
		perror("gm-vmm-open: mmap");
		return 1;
	}
	for (size_t off = 0; off < st.info.size; off += 4096)
		ram[off] = (unsigned char)atoi(argv[2]);
	printf("%s: %llu bytes of %s, page size %llu, written\n", argv[1],
	       (unsigned long long)st.info.size, gmemfs_prov_name(st.info.provider),
	       (unsigned long long)st.info.page_size);
	munmap(ram, st.info.size);
	close(fd);
	return 0;
}
