/* SPDX-License-Identifier: MIT */
/* The guest initramfs: moat's static init plus the kernel modules the guest needs (virtio,
 * virtio-console, 9p), as an uncompressed newc cpio, built once per kernel and init binary and
 * cached under the caller's cache directory. */
#pragma once

#include <stdbool.h>

typedef struct VmGuestFiles {
        char *kernel;      /* as given */
        char *release;     /* "6.1.0-56-amd64", from <kernel dir>/release */
        char *modules_dir; /* <kernel dir>/modules, holding "order" and NAME.ko */
        char *init;        /* the static guest init binary */
} VmGuestFiles;

/* Finds the modules beside the kernel (the layout moat-guest-kernel installs) and the guest
 * init ($MOAT_GUEST_INIT, else MOAT_LIBEXEC_DIR/moat-guest-init). -ENOENT with a message. */
int vm_guest_files_find(const char *kernel, VmGuestFiles *ret, char *msg, size_t msg_size);
void vm_guest_files_done(VmGuestFiles *f);

/* Returns in *ret_path the cached initramfs for these files, building it first if needed
 * (progress on stderr when it is a terminal and !quiet). */
int vm_initramfs_ensure(const VmGuestFiles *f, const char *cache_dir, bool quiet, char **ret_path,
                        char *msg, size_t msg_size);

/* The caller's moat cache directory plus sub ("" or "/vm"): $XDG_CACHE_HOME/moat, else
 * $HOME/.cache/moat, else the passwd entry's home. Newly allocated; NULL if there is none. */
char *vm_cache_dir(const char *sub);
